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

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{value_parser, Args};
use runtime::{Cluster, ClusterOverrides};

use crate::launch::{wait_ready, Children, Launch, Started};
use crate::summary;

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
    let cluster = Cluster::load(args.config.as_deref(), &overrides)
        .context("loading the cluster configuration")?;
    let frontends = frontend_addrs(&cluster, args.frontends)?;
    let launch = Launch {
        config: args.config.as_deref(),
        data: args.data.as_deref(),
        fresh: args.fresh,
        cache: !args.no_cache,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let (mut started, mut children) = launch.start(cluster, frontends)?;
        supervise(&mut children, &mut started, json).await
    })
}

/// Waits for readiness, prints the summary, watches until shutdown, stops every child.
async fn supervise(children: &mut Children, started: &mut Started, json: bool) -> Result<()> {
    let shutdown = runtime::process::shutdown_signal();
    tokio::pin!(shutdown);
    let ready = tokio::select! {
        ready = wait_ready(started, children) => Some(ready),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontends_take_the_ports_after_the_first_and_never_a_replicas() {
        let mut cluster = Cluster::load(None, &ClusterOverrides::default()).unwrap();
        cluster.frontend_addr = "127.0.0.1:9000".into();
        cluster.catalog[0] = "127.0.0.1:9002".into();
        let two = frontend_addrs(&cluster, 2).unwrap();
        assert_eq!(two, ["127.0.0.1:9000", "127.0.0.1:9001"]);
        let e = frontend_addrs(&cluster, 3).unwrap_err().to_string();
        assert!(
            e.contains("frontend 3 would listen on 127.0.0.1:9002"),
            "{e}"
        );
        cluster.frontend_addr = "127.0.0.1:65535".into();
        let e = frontend_addrs(&cluster, 2).unwrap_err().to_string();
        assert!(e.contains("run past port 65535"), "{e}");
        cluster.frontend_addr = "nowhere".into();
        assert!(frontend_addrs(&cluster, 1).is_err());
    }
}
