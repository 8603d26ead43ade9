//! `pygmy up`: the whole cluster as child processes of one command, until Ctrl-C.
//!
//! Steps: load the configuration; check that no running process holds a replica directory and
//! that every address is free (before touching anything, `--fresh` included); with `--fresh`,
//! clear the data directory; a data directory without replica directories (a first run, or
//! `--fresh`) bootstraps a new cluster: a new `<data_dir>/cluster_id`, and `--bootstrap` to
//! every replica's first start; fill empty tokens (from `<data_dir>/tokens.toml`, else new
//! random ones stored there, which the children read: tokens never go into their environment);
//! start `pygmy serve` for every replica and the frontend; wait until both groups have a leader
//! and the frontend answers; print where everything is; report children that exit, without
//! restarting them; on Ctrl-C or SIGTERM stop every child (SIGTERM, then SIGKILL after a grace
//! period). Files and directories it creates are private (0600, 0700).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use api::{ReplicaRole, ReplicaStatus};
use clap::{value_parser, Args};
use client::PygmyClient;
use runtime::{Cluster, ClusterOverrides, GroupName};

use crate::children::{Children, Plan};
use crate::{fresh, preflight, summary};
use runtime::process::ENV_PARENT_PID;
use runtime::tokens;

/// How long the cluster gets to elect both leaders and bring the frontend up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Interval between two readiness checks.
const READY_POLL: Duration = Duration::from_millis(250);
/// Timeout of one `/status` or `/health` request while waiting.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// `pygmy up [--config F] [--data DIR] [--fresh]`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1).
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Remove replica directories, logs and stored tokens of earlier runs first.
    #[arg(long)]
    fresh: bool,
    /// Frontends to start: the first on `[frontend] addr`, the others on the ports after it.
    #[arg(long, default_value_t = 1, value_parser = value_parser!(u16).range(1..=16))]
    frontends: u16,
    /// Run without the frontends' read cache (and without cache leases on the catalog).
    #[arg(long)]
    no_cache: bool,
}

/// The environment variable that turns the cache off in every child (`--no-cache`).
const ENV_CACHE_ENABLED: &str = "PYGMY_CACHE__ENABLED";

/// The cluster as started, for the summary.
#[derive(Debug)]
pub(crate) struct Started {
    /// The validated configuration, tokens filled.
    pub(crate) cluster: Cluster,
    /// What each child is.
    pub(crate) plans: Vec<Plan>,
    /// Every frontend's `host:port`, the first on `[frontend] addr`.
    pub(crate) frontends: Vec<String>,
    /// Whether the admin token is the one in `tokens.toml`.
    pub(crate) admin_token_stored: bool,
    /// Leader ids: catalog, orders.
    pub(crate) leaders: (u64, u64),
}

/// Runs the cluster until Ctrl-C or SIGTERM.
///
/// # Errors
/// Invalid configuration, a child that cannot start or exits while starting, or a cluster not
/// ready within 60 s (every child is stopped first).
pub(crate) fn run(args: UpArgs, json: bool) -> Result<()> {
    runtime::process::init_tracing();
    runtime::process::restrict_file_modes();
    let overrides = ClusterOverrides {
        data_dir: args.data.clone(),
        ..ClusterOverrides::default()
    };
    let mut cluster = Cluster::load(args.config.as_deref(), &overrides)
        .context("loading the cluster configuration")?;
    let frontends = frontend_addrs(&cluster, args.frontends)?;
    let plans = plans(
        args.config.as_deref(),
        args.data.as_deref(),
        &cluster,
        &frontends,
    );
    preflight::check(&cluster.data_dir, &plans)?;
    if args.fresh {
        fresh::clear(&cluster.data_dir)?;
    }
    let bootstrap = prepare_data_dir(&cluster.data_dir)?;
    let admin_token_stored = tokens::ensure(&mut cluster)?;
    let program = std::env::current_exe().context("cannot find the pygmy executable")?;
    let mut envs = child_envs();
    if args.no_cache {
        envs.push((ENV_CACHE_ENABLED, "false".into()));
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let mut children = Children::spawn(&program, &plans, &envs, bootstrap)?;
        let mut started = Started {
            cluster,
            plans,
            frontends,
            admin_token_stored,
            leaders: (0, 0),
        };
        supervise(&mut children, &mut started, json).await
    })
}

/// Waits for readiness, prints the summary, watches until shutdown, stops every child.
async fn supervise(children: &mut Children, started: &mut Started, json: bool) -> Result<()> {
    let shutdown = runtime::process::shutdown_signal();
    tokio::pin!(shutdown);
    let ready = tokio::select! {
        ready = wait_ready(&started.cluster, &started.frontends, children) => Some(ready),
        () = &mut shutdown => None,
    };
    match ready {
        None => eprintln!("pygmy up: interrupted while starting; stopping"),
        Some(Err(e)) => {
            eprintln!("pygmy up: start-up failed; stopping");
            children.stop().await;
            return Err(e);
        }
        Some(Ok(leaders)) => {
            started.leaders = leaders;
            summary::print(started, children, json)?;
            eprintln!("pygmy up: running; Ctrl-C stops the cluster");
            children.watch(shutdown.as_mut()).await;
            eprintln!("pygmy up: stopping");
        }
    }
    children.stop().await;
    eprintln!("pygmy up: stopped");
    Ok(())
}

/// The environment added for every child: this process as parent to watch. Tokens are not
/// passed (the environment of a process is readable by its user's other processes and
/// inherited by its children): children read them where `up` did, from the configuration or
/// `<data_dir>/tokens.toml` (mode 0600).
pub(crate) fn child_envs() -> Vec<(&'static str, String)> {
    vec![(ENV_PARENT_PID, std::process::id().to_string())]
}

/// Creates the data directory and its `logs/` (mode 0700) if missing, and tells whether this
/// start bootstraps a new cluster: it does when the data directory holds no replica directory
/// (a first run, or after `--fresh`), and then gets a new `<data_dir>/cluster_id`. Otherwise
/// replicas resume their directories, and one whose directory is missing refuses to start.
///
/// # Errors
/// The directories or the id file cannot be made.
pub(crate) fn prepare_data_dir(data_dir: &Path) -> Result<bool> {
    use std::os::unix::fs::DirBuilderExt as _;
    let logs = data_dir.join("logs");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&logs)
        .with_context(|| format!("cannot create {}", logs.display()))?;
    if !fresh::replica_dirs(data_dir)?.is_empty() {
        return Ok(false);
    }
    let id = storage::identity::write_new_id_file(data_dir)?;
    eprintln!(
        "pygmy up: bootstrapping a new cluster (id {id}) in {}",
        data_dir.display()
    );
    Ok(true)
}

/// `count` frontend addresses: `[frontend] addr`, then the ports after it.
///
/// # Errors
/// The ports run past 65535 or onto a replica's address.
pub(crate) fn frontend_addrs(cluster: &Cluster, count: u16) -> Result<Vec<String>> {
    let first = &cluster.frontend_addr;
    let (host, port) = first
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .with_context(|| format!("frontend address {first:?} is not host:port"))?;
    let replicas: Vec<&String> = cluster.catalog.iter().chain(&cluster.orders).collect();
    (0..count)
        .map(|k| {
            let port = port.checked_add(k).with_context(|| {
                format!("{count} frontends from port {port} run past port 65535")
            })?;
            let addr = format!("{host}:{port}");
            if replicas.contains(&&addr) {
                bail!("frontend {} would listen on {addr}, a replica's address; set [frontend] addr elsewhere", k + 1);
            }
            Ok(addr)
        })
        .collect()
}

/// One `pygmy serve` per replica of each group, then one per frontend address (named
/// `frontend`, `frontend-2`, ...).
pub(crate) fn plans(
    config: Option<&Path>,
    data: Option<&Path>,
    cluster: &Cluster,
    frontends: &[String],
) -> Vec<Plan> {
    let mut shared = Vec::new();
    if let Some(config) = config {
        shared.extend(["--config".into(), config.to_string_lossy().into_owned()]);
    }
    if let Some(data) = data {
        shared.extend(["--data".into(), data.to_string_lossy().into_owned()]);
    }
    let logs = cluster.data_dir.join("logs");
    let mut plans = Vec::new();
    for (group, service) in [
        (GroupName::Catalog, "catalog"),
        (GroupName::Orders, "order"),
    ] {
        for (id, addr) in (1..).zip(cluster.replicas(group)) {
            let args = ["serve", service, "--id", &id.to_string()].map(String::from);
            let name = format!("{}-{id}", group.as_str());
            let dir = Some(cluster.replica_dir(group, id));
            plans.push(child_plan(&logs, name, &args, &shared, addr, dir));
        }
    }
    for (k, addr) in (1..).zip(frontends) {
        let name = match k {
            1 => "frontend".to_string(),
            k => format!("frontend-{k}"),
        };
        let args = ["serve", "frontend", "--addr", addr].map(String::from);
        plans.push(child_plan(&logs, name, &args, &shared, addr, None));
    }
    plans
}

/// The plan of child `name`: `pygmy <args> <shared>`, logging to `<logs>/<name>.log`.
fn child_plan(
    logs: &Path,
    name: String,
    args: &[String],
    shared: &[String],
    addr: &str,
    replica_dir: Option<PathBuf>,
) -> Plan {
    Plan {
        log: logs.join(format!("{name}.log")),
        name,
        args: args.iter().chain(shared).cloned().collect(),
        addr: addr.to_string(),
        replica_dir,
    }
}

/// Polls until both groups report a leader, every frontend answers `/health` and the catalog's
/// books are seeded; the leaders.
///
/// # Errors
/// A child exited, or [`READY_TIMEOUT`] passed.
pub(crate) async fn wait_ready(
    cluster: &Cluster,
    frontends: &[String],
    children: &mut Children,
) -> Result<(u64, u64)> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(PROBE_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")?;
    let frontends = frontends
        .iter()
        .map(|addr| PygmyClient::with_timeout(addr, PROBE_TIMEOUT))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut shown = String::new();
    loop {
        if let Some((name, status, log)) = children.newly_exited().into_iter().next() {
            let said = children
                .last_words(&name)
                .map_or_else(String::new, |words| format!(": {words}"));
            bail!(
                "{name} exited while the cluster was starting ({status}){said}; see its log {}",
                log.display()
            );
        }
        let token = &cluster.cluster_token;
        let catalog = group_leader(&http, token, &cluster.catalog).await;
        let orders = group_leader(&http, token, &cluster.orders).await;
        // Ready: both leaders known and, when caching, a lease held.
        let mut frontend_up = true;
        for frontend in &frontends {
            frontend_up &= frontend.ready().await.is_ok_and(|r| r.ready);
        }
        // A new catalog leader seeds the books through the log after its quiet period: until
        // then every lookup would be a 404.
        let seeded = match (catalog, frontends.first()) {
            (Some(_), Some(first)) if frontend_up => first
                .search(None)
                .await
                .is_ok_and(|books| !books.is_empty()),
            _ => false,
        };
        let show = |l: Option<u64>| l.map_or("none yet".into(), |id| id.to_string());
        let state = if frontend_up { "ready" } else { "starting" };
        let books = if seeded { "seeded" } else { "not yet" };
        let progress = format!(
            "catalog leader: {}, orders leader: {}, frontend: {state}, books: {books}",
            show(catalog),
            show(orders)
        );
        if progress != shown {
            eprintln!("pygmy up: {progress}");
            shown = progress;
        }
        if let (Some(c), Some(o), true) = (catalog, orders, seeded) {
            return Ok((c, o));
        }
        if tokio::time::Instant::now() >= deadline {
            let logs = cluster.data_dir.join("logs");
            bail!(
                "the cluster was not ready within {READY_TIMEOUT:?} ({shown}); see the logs in {}",
                logs.display()
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// The id of a replica of `replicas` that reports itself leader, if any answers so.
pub(crate) async fn group_leader(
    http: &reqwest::Client,
    token: &str,
    replicas: &[String],
) -> Option<u64> {
    for addr in replicas {
        let request = http.get(format!("http://{addr}/status")).bearer_auth(token);
        let Ok(response) = request.send().await else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        if let Ok(status) = response.json::<ReplicaStatus>().await {
            if status.role == ReplicaRole::Leader {
                return Some(status.id);
            }
        }
    }
    None
}
