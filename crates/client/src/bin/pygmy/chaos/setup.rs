//! The laboratory of one chaos run: its directory, its configuration (fresh loopback ports by
//! default) and its processes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use client::PygmyClient;
use runtime::cluster::RestockFile;
use runtime::{Cluster, ClusterOverrides};

use crate::chaos::collect::ReplicaReader;
use crate::chaos::workload::ITEMS;
use crate::launch::{wait_ready, Children, Launch, Started};

/// Copies added to every book before the run, so that buys mostly succeed.
const RESTOCK_BEFORE: i64 = 50;
/// Attempts of each restock before the run.
const RESTOCK_ATTEMPTS: u32 = 10;

/// A running cluster for one experiment.
pub(crate) struct Lab {
    /// The configuration (its data directory the run's), the children's plans, the frontends.
    pub(crate) started: Started,
    /// Its processes.
    pub(crate) children: Children,
    temp: Option<tempfile::TempDir>,
}

impl Lab {
    /// Creates the directory and configuration, starts every process (with `frontend_count`
    /// frontends, the others on free ports of the first one's host), waits until ready.
    ///
    /// # Errors
    /// The directory or configuration cannot be made, or the cluster does not start.
    pub(crate) async fn start(
        config: Option<&Path>,
        data: Option<&Path>,
        frontend_count: u16,
        restock: Option<&RestockFile>,
    ) -> Result<Lab> {
        let (temp, data_dir) = run_dir(data, "pygmy-chaos-")?;
        let config_path = match config {
            Some(c) => c.to_path_buf(),
            None => write_config(&data_dir, restock)?,
        };
        let overrides = ClusterOverrides {
            data_dir: Some(data_dir.clone()),
            ..ClusterOverrides::default()
        };
        let cluster = Cluster::load(Some(&config_path), &overrides)?;
        let host = cluster
            .frontend_addr
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h)
            .to_string();
        let mut frontends = vec![cluster.frontend_addr.clone()];
        for _ in 1..frontend_count {
            frontends.push(format!("{host}:{}", free_port()?));
        }
        let launch = Launch {
            config: Some(&config_path),
            data: Some(&data_dir),
            fresh: false,
            cache: true,
        };
        let (started, mut children) = launch.start(cluster, frontends)?;
        eprintln!(
            "pygmy chaos: starting the cluster in {}",
            data_dir.display()
        );
        let ready = wait_ready(&started, &mut children).await;
        if let Err(e) = ready {
            children.stop().await;
            bail!(
                "{e:#} (data kept in {})",
                temp.map_or(data_dir, |t| t.keep()).display()
            );
        }
        Ok(Lab {
            started,
            children,
            temp,
        })
    }

    /// Keeps a temporary directory (for a failed run) and says where it is.
    pub(crate) fn keep(&mut self) {
        let path = self
            .temp
            .take()
            .map_or_else(|| self.started.cluster.data_dir.clone(), |t| t.keep());
        eprintln!("pygmy chaos: data and logs kept in {}", path.display());
    }
}

/// The run's directory: `data` (created, private), or a new temporary one named `prefix...`.
///
/// # Errors
/// It cannot be created.
pub(crate) fn run_dir(
    data: Option<&Path>,
    prefix: &str,
) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    let (temp, dir) = match data {
        Some(d) => (None, d.to_path_buf()),
        None => {
            let t = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .context("cannot create a temporary directory")?;
            let path = t.path().to_path_buf();
            (Some(t), path)
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((temp, dir))
}

/// Restocks every book through `frontend`; returns the stock the history starts from and the
/// number of orders already in the log (non-zero when a kept `--data` directory is reused).
///
/// # Errors
/// The frontend refuses the restocks or the stock cannot be read.
pub(crate) async fn prepare(
    frontend: &str,
    cluster: &Cluster,
    reader: &ReplicaReader,
) -> Result<(BTreeMap<u64, u64>, u64)> {
    let client = PygmyClient::new(frontend)?;
    for item in 1..=ITEMS {
        let mut done = false;
        for _ in 0..RESTOCK_ATTEMPTS {
            let token = &cluster.admin_token;
            if client
                .update_book(item, Some(RESTOCK_BEFORE), None, token)
                .await
                .is_ok()
            {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !done {
            bail!("cannot restock book {item} before the run");
        }
    }
    let stock = reader.stock(&cluster.catalog[0]).await?;
    let orders = reader.order_count(&cluster.orders[0]).await?;
    Ok((stock, orders))
}

/// Writes a `cluster.toml` on fresh loopback ports into `dir`, with timed restocks if
/// `restock`; returns its path.
fn write_config(dir: &Path, restock: Option<&RestockFile>) -> Result<PathBuf> {
    let mut text = String::new();
    let addr = || free_port().map(|p| format!("\"127.0.0.1:{p}\""));
    let _ = writeln!(text, "data_dir = {:?}", dir.display().to_string());
    let _ = writeln!(text, "cluster_token = \"\"\nadmin_token = \"\"");
    let _ = writeln!(text, "[frontend]\naddr = {}", addr()?);
    for group in ["catalog", "orders"] {
        let replicas = [addr()?, addr()?, addr()?].join(", ");
        let _ = writeln!(text, "[{group}]\nreplicas = [{replicas}]");
    }
    // Frequent snapshots, so that restarted replicas also catch up by snapshot install.
    let _ = writeln!(
        text,
        "[raft]\nsnapshot_logs_since_last = 200\nsnapshot_logs_kept = 50"
    );
    if let Some(RestockFile { every_s, below, to }) = restock {
        let _ = writeln!(
            text,
            "[catalog.restock]\nevery_s = {every_s}\nbelow = {below}\nto = {to}"
        );
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A TCP port on 127.0.0.1 free right now.
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}
