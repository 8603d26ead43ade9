//! `frontend-svc --config cluster.toml`: the public HTTP API of the store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use storage::ClusterOverrides;

/// The Pygmy frontend: routes the public API to the catalog and order groups.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1).
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`; the frontend itself stores nothing).
    #[arg(long)]
    data: Option<PathBuf>,
}

fn main() -> ExitCode {
    storage::process::init_tracing();
    storage::process::install_panic_hook();
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let overrides = ClusterOverrides {
        data_dir: args.data,
        ..ClusterOverrides::default()
    };
    let shutdown = storage::process::shutdown_signal();
    let config = args.config.as_deref();
    match runtime.block_on(frontend_svc::run(config, &overrides, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frontend-svc: {e}");
            ExitCode::from(2)
        }
    }
}
