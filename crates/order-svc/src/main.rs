//! `order-svc --config cluster.toml --id N`: one order replica.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use storage::ClusterOverrides;

/// One replica of the Pygmy order group.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1).
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Replica id: position in `[orders] replicas`, from 1.
    #[arg(long)]
    id: u64,
    /// Data directory (overrides `data_dir`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Part of a new cluster's bootstrap: create the replica directory if it is empty (every
    /// other start refuses an empty one). Never on a replica whose directory was lost.
    #[arg(long)]
    bootstrap: bool,
}

fn main() -> ExitCode {
    storage::process::init_tracing();
    storage::process::install_panic_hook();
    storage::process::restrict_file_modes();
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let overrides = ClusterOverrides {
        data_dir: args.data,
        ..ClusterOverrides::default()
    };
    let shutdown = storage::process::shutdown_signal();
    let config = args.config.as_deref();
    match runtime.block_on(order_svc::run(
        config,
        args.id,
        &overrides,
        args.bootstrap,
        shutdown,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order-svc: {e}");
            ExitCode::from(2)
        }
    }
}
