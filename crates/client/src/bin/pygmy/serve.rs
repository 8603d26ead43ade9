//! `pygmy serve catalog|order|frontend`: one service in this process, exactly what the
//! `catalog-svc`, `order-svc` and `frontend-svc` binaries run, with the same flags
//! (`runtime::entry`); `pygmy up` starts every process of a cluster this way.
//!
//! Tokens: when neither `cluster.toml` nor `PYGMY_*_TOKEN` sets them, they are taken from
//! `<data_dir>/tokens.toml` (written by `pygmy up`), so a replica restarted by hand needs
//! nothing more than `pygmy serve catalog --id N` with the same `--config`/`--data`.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use runtime::entry::{serve_process, FrontendArgs, ReplicaArgs, Workers};

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

/// Runs the service until Ctrl-C, SIGTERM or (under `pygmy up`) the parent's exit.
///
/// # Errors
/// Invalid configuration or `PYGMY_PARENT_PID`, or the service failed.
pub(crate) fn run(args: ServeArgs) -> Result<()> {
    match args.service {
        Service::Catalog(r) => {
            let id = r.id;
            serve_process(Workers::One, |s| catalog_svc::run(r, s))
                .map_err(|e| anyhow!("catalog replica {id}: {e}"))
        }
        Service::Order(r) => {
            let id = r.id;
            serve_process(Workers::One, |s| order_svc::run(r, s))
                .map_err(|e| anyhow!("order replica {id}: {e}"))
        }
        Service::Frontend(f) => serve_process(Workers::PerCore, |s| frontend_svc::run(f, s))
            .map_err(|e| anyhow!("frontend: {e}")),
    }
}
