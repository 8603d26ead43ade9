//! `pygmy serve catalog|order|frontend`: one service in this process, the same code as the
//! `catalog-svc` binary runs; `pygmy up` starts every replica this way.
//!
//! Tokens: when neither `cluster.toml` nor `PYGMY_*_TOKEN` sets them, they are taken from
//! `<data_dir>/tokens.toml` (written by `pygmy up`), so a replica restarted by hand needs
//! nothing more than `pygmy serve catalog --id N` with the same `--config`/`--data`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{value_parser, Args, Subcommand};
use storage::cluster::{CacheOverrides, FrontendOverrides};
use storage::ClusterOverrides;

use crate::tokens;

/// The environment variable `pygmy up` sets to its own pid in its children: a child whose
/// parent is no longer that process shuts down, so none outlives a killed `pygmy up`.
pub(crate) const ENV_PARENT_PID: &str = "PYGMY_PARENT_PID";

/// `pygmy serve SERVICE ...`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    service: Service,
}

/// Which service to run.
#[derive(Debug, Subcommand)]
enum Service {
    /// One replica of the catalog group.
    Catalog(ReplicaArgs),
    /// One replica of the order group.
    #[command(alias = "orders")]
    Order(ReplicaArgs),
    /// The frontend (the public API).
    Frontend(FrontendArgs),
}

/// The frontend: where it listens, whether it caches, and where the configuration is.
#[derive(Debug, Args)]
pub(crate) struct FrontendArgs {
    /// Address to listen on (overrides `[frontend] addr`), e.g. for a second frontend.
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Run without the read cache (every read goes to a catalog replica).
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Where the configuration is.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1).
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// A replica: which one, whether it bootstraps a new cluster, and where the configuration is.
#[derive(Debug, Args)]
pub(crate) struct ReplicaArgs {
    /// Replica id: its position in the group's `replicas` list, from 1.
    #[arg(long, value_parser = value_parser!(u64).range(1..))]
    id: u64,
    /// Part of a new cluster's bootstrap (give it to every replica of the new cluster): create
    /// the replica directory, recording the cluster id of `<data_dir>/cluster_id` (created if
    /// missing). Without it an empty or missing directory is refused. Never use it to restart a
    /// replica whose directory was lost: that can lose acknowledged orders.
    #[arg(long)]
    bootstrap: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

impl ConfigArgs {
    fn overrides(&self) -> ClusterOverrides {
        ClusterOverrides {
            data_dir: self.data.clone(),
            ..ClusterOverrides::default()
        }
    }
}

impl FrontendArgs {
    fn overrides(&self) -> ClusterOverrides {
        ClusterOverrides {
            frontend: Some(FrontendOverrides {
                addr: self.addr.clone(),
            }),
            cache: self.no_cache.then_some(CacheOverrides {
                enabled: Some(false),
            }),
            ..self.config.overrides()
        }
    }
}

/// Runs the service until Ctrl-C, SIGTERM or (under `pygmy up`) the parent's exit.
///
/// # Errors
/// Invalid configuration or `PYGMY_PARENT_PID`, or the service failed.
pub(crate) fn run(args: ServeArgs) -> Result<()> {
    storage::process::init_tracing();
    storage::process::install_panic_hook();
    storage::process::restrict_file_modes();
    let config = match &args.service {
        Service::Catalog(r) | Service::Order(r) => &r.config,
        Service::Frontend(f) => &f.config,
    };
    // Before the runtime starts any thread: this may set environment variables.
    tokens::adopt_stored(config.config.as_deref(), &config.overrides())?;
    let parent = parent_pid()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args.service, parent))
}

async fn serve(service: Service, parent: Option<u32>) -> Result<()> {
    let shutdown = stop_signal(parent);
    match service {
        Service::Catalog(r) => {
            let config = r.config.config.as_deref();
            catalog_svc::run(config, r.id, &r.config.overrides(), r.bootstrap, shutdown)
                .await
                .with_context(|| format!("catalog replica {}", r.id))?;
        }
        Service::Order(r) => {
            let config = r.config.config.as_deref();
            order_svc::run(config, r.id, &r.config.overrides(), r.bootstrap, shutdown)
                .await
                .with_context(|| format!("order replica {}", r.id))?;
        }
        Service::Frontend(f) => {
            frontend_svc::run(f.config.config.as_deref(), &f.overrides(), shutdown)
                .await
                .context("frontend")?;
        }
    }
    Ok(())
}

/// `PYGMY_PARENT_PID`, if set.
fn parent_pid() -> Result<Option<u32>> {
    let Ok(raw) = std::env::var(ENV_PARENT_PID) else {
        return Ok(None);
    };
    let pid = raw.trim().parse::<u32>().with_context(|| {
        format!("{ENV_PARENT_PID} must be a process id (set by `pygmy up`), got {raw:?}")
    })?;
    Ok(Some(pid))
}

/// Resolves on Ctrl-C or SIGTERM, or once the process `parent` (if any) has exited.
async fn stop_signal(parent: Option<u32>) {
    let parent_gone = async move {
        match parent {
            Some(pid) => storage::process::parent_exited(pid).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = storage::process::shutdown_signal() => {}
        () = parent_gone => {}
    }
}
