//! A Compose project created for one run: the services of the file, free host ports for its
//! frontends, a name nobody uses, then `up`; and what the run waits for and reads before it
//! starts (health, the configuration and tokens the containers run with).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use runtime::{Cluster, ClusterOverrides};
use tokio::time::Instant;

use super::docker::{docker, Compose};
use super::frontend_number;

/// How long the containers may take to report healthy.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(180);

/// A project `up` was run for.
pub(crate) struct Created {
    /// The project.
    pub(crate) compose: Compose,
    /// Every service of its file.
    pub(crate) services: Vec<String>,
}

impl Created {
    /// Runs `up` for project `name` of `file`, each frontend published on a free port.
    ///
    /// # Errors
    /// Docker or Compose is missing, the file has no frontend, the name is in use, or `up`
    /// fails (on a failed `up`, the project is left for a look).
    pub(crate) async fn up(file: &Path, name: &str) -> Result<Created> {
        if !file.is_file() {
            bail!("compose file {} does not exist", file.display());
        }
        let plain = Compose::detect(file, name, Vec::new()).await?;
        let services = plain.run(&["config", "--services"]).await.context(
            "the compose file cannot be read (docker/compose/secrets.env missing? run docker/compose-secrets.sh)",
        )?;
        let services: Vec<String> = services.lines().map(str::to_string).collect();
        let mut envs = Vec::new();
        for n in services.iter().filter_map(|s| frontend_number(s)) {
            let port = crate::chaos::setup::free_port()?;
            envs.push((format!("PYGMY_FRONTEND_{n}_PORT"), port.to_string()));
        }
        if envs.is_empty() {
            bail!("{} has no service named frontend-N", file.display());
        }
        let compose = Compose::detect(file, name, envs).await?;
        refuse_existing(&compose).await?;
        eprintln!(
            "pygmy chaos: creating compose project {} from {}",
            compose.project(),
            file.display()
        );
        compose.run_long(&["up", "-d", "--no-build"]).await.with_context(|| {
            format!(
                "the project did not start (is the image built? `docker build -t pygmy .`, README \"Containers\"); remove what was made with: {}",
                compose.shown("down -v")
            )
        })?;
        Ok(Created { compose, services })
    }
}

/// Refuses a project name already in use: its containers or volumes may be someone's cluster,
/// and a run starts fresh, so it would have to delete them.
async fn refuse_existing(compose: &Compose) -> Result<()> {
    let label = format!("label=com.docker.compose.project={}", compose.project());
    let containers = docker(&["ps", "-a", "-q", "--filter", &label]).await?;
    let volumes = docker(&["volume", "ls", "-q", "--filter", &label]).await?;
    if !containers.is_empty() || !volumes.is_empty() {
        bail!(
            "a Compose project named {} exists already (containers or volumes); give another --project, or remove it if it is a left-over run: {}",
            compose.project(),
            compose.shown("down -v")
        );
    }
    Ok(())
}

/// Waits until every container of `containers` is healthy (or running, without a health
/// check).
pub(crate) async fn wait_healthy(
    compose: &Compose,
    containers: &BTreeMap<String, String>,
) -> Result<()> {
    let deadline = Instant::now() + HEALTHY_TIMEOUT;
    let format = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}";
    loop {
        let mut waiting = Vec::new();
        for (service, id) in containers {
            let state = docker(&["inspect", "--format", format, id]).await?;
            match state.split_whitespace().collect::<Vec<_>>()[..] {
                ["running"] | ["running", "healthy"] => {}
                ["running", ..] => waiting.push(format!("{service} ({state})")),
                _ => {
                    let logs = docker(&["logs", "--tail", "20", id])
                        .await
                        .unwrap_or_default();
                    bail!(
                        "container {service} is {state} before the run; its last lines:\n{logs}\n(see `{}`)",
                        compose.shown("logs")
                    );
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "not healthy within {HEALTHY_TIMEOUT:?}: {} (see `{}`)",
                waiting.join(", "),
                compose.shown("logs")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The configuration `container` runs with: the file `$PYGMY_CONFIG` names inside it (copied to
/// `dir`), the tokens from its environment.
pub(crate) async fn read_cluster(container: &str, dir: &Path) -> Result<Cluster> {
    let text = docker(&["exec", container, "sh", "-c", "cat \"$PYGMY_CONFIG\""])
        .await
        .context("cannot read $PYGMY_CONFIG in a frontend container")?;
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let overrides = ClusterOverrides {
        data_dir: Some(dir.to_path_buf()),
        ..ClusterOverrides::default()
    };
    let mut cluster = Cluster::load(Some(&path), &overrides)?;
    let env = docker(&["inspect", "--format", "{{json .Config.Env}}", container]).await?;
    let env: Vec<String> = serde_json::from_str(&env).context("docker inspect: bad Config.Env")?;
    for pair in env {
        match pair.split_once('=') {
            Some(("PYGMY_CLUSTER_TOKEN", v)) => cluster.cluster_token = v.to_string(),
            Some(("PYGMY_ADMIN_TOKEN", v)) => cluster.admin_token = v.to_string(),
            _ => {}
        }
    }
    if cluster.cluster_token.is_empty() || cluster.admin_token.is_empty() {
        bail!("the frontend container has no PYGMY_CLUSTER_TOKEN or PYGMY_ADMIN_TOKEN (docker/compose-secrets.sh writes them)");
    }
    Ok(cluster)
}
