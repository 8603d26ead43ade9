//! The start of every server process (`catalog-svc`, `order-svc`, `frontend-svc` and `pygmy
//! serve`): the flags they all take, and the life around the service they run.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;

use clap::{value_parser, Args};
use tokio::net::TcpListener;

use crate::cluster::{CacheOverrides, Cluster, ClusterOverrides, FrontendOverrides};
use crate::error::{Error, Result};
use crate::{process, tokens};

/// What stops a server: Ctrl-C, SIGTERM, or (under `pygmy up`) its parent's exit.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Why a server process ended in failure.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Where the configuration is: the flags every process takes.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1).
    #[arg(long, env = "PYGMY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// A replica: which one, whether it bootstraps a new cluster, and where the configuration is.
#[derive(Debug, Clone, Args)]
pub struct ReplicaArgs {
    /// Replica id: its position in the group's `replicas` list, from 1, or the id it was (or
    /// will be) added under by `pygmy member add`.
    #[arg(long, value_parser = value_parser!(u64).range(1..))]
    pub id: u64,
    /// Part of a new cluster's bootstrap (give it to every replica of the new cluster): create
    /// the replica directory, recording the cluster id of `<data_dir>/cluster_id` (created if
    /// missing). Without it an empty or missing directory is refused. Never use it to restart a
    /// replica whose directory was lost: that can lose acknowledged orders.
    #[arg(long, conflicts_with = "join")]
    pub bootstrap: bool,
    /// Join a running group: start on an empty directory (created if missing) and wait to be
    /// added by `pygmy member add`. Give it an id no member has (`pygmy member list` shows the
    /// next) and its `--addr`. Never use it for a replica that was a member before.
    #[arg(long)]
    pub join: bool,
    /// Address to listen on and to be reached at, for a replica the configuration does not list
    /// (one added by `pygmy member add`); a configured replica listens where the configuration
    /// says.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

/// The frontend: where it listens, whether it caches, and where the configuration is.
#[derive(Debug, Clone, Args)]
pub struct FrontendArgs {
    /// Address to listen on (overrides `[frontend] addr`), e.g. for a second frontend.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Address the catalog leader reaches this frontend at, for cache notices (overrides
    /// `[frontend] advertise`; default: the address it listens on). Needed when listening on
    /// a wildcard such as 0.0.0.0, e.g. its service name in a container network.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Run without the read cache (every read goes to a catalog replica).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

impl ConfigArgs {
    /// The configuration these flags name, `overrides` applied last, with the tokens it leaves
    /// empty taken from `<data_dir>/tokens.toml` (see [`tokens::adopt`]).
    ///
    /// # Errors
    /// The configuration is invalid, or `tokens.toml` exists but cannot be used.
    pub fn load(&self, overrides: ClusterOverrides) -> Result<Cluster> {
        let overrides = ClusterOverrides {
            data_dir: self.data.clone(),
            ..overrides
        };
        let mut cluster = Cluster::load(self.config.as_deref(), &overrides)?;
        tokens::adopt(&mut cluster)?;
        Ok(cluster)
    }
}

impl ReplicaArgs {
    /// The cluster configuration, as [`ConfigArgs::load`].
    ///
    /// # Errors
    /// As [`ConfigArgs::load`].
    pub fn cluster(&self) -> Result<Cluster> {
        self.config.load(ClusterOverrides::default())
    }
}

impl FrontendArgs {
    /// The cluster configuration with `--addr` and `--no-cache` applied, as [`ConfigArgs::load`].
    ///
    /// # Errors
    /// As [`ConfigArgs::load`].
    pub fn cluster(&self) -> Result<Cluster> {
        self.config.load(ClusterOverrides {
            frontend: Some(FrontendOverrides {
                addr: self.addr.clone(),
                advertise: self.advertise.clone(),
            }),
            cache: self.no_cache.then_some(CacheOverrides {
                enabled: Some(false),
            }),
            ..ClusterOverrides::default()
        })
    }
}

/// Binds `addr`.
///
/// # Errors
/// [`Error::Bind`], naming the address.
pub async fn listen(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// How many tokio worker threads a server process runs. `TOKIO_WORKER_THREADS`, when set,
/// overrides either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One per core (tokio's default): the frontend, whose cached reads use both cores.
    PerCore,
    /// One: a replica. Seven processes share the machine's cores, and a replica's work is a
    /// chain of short steps (RPC, `RaftCore`, log store, apply, answer); on one thread each
    /// step runs where the last left off instead of waking a parked worker on the other core
    /// (#13: c64 buys 2727-2763 -> 2993-3072/s, sequential p50 3.10-3.24 -> 2.80-2.89 ms).
    /// Blocking work (flushes, snapshot files) still goes to blocking threads.
    One,
}

/// Runs a server process around `serve`: logging, the panic hook, private file modes, a tokio
/// runtime of `workers` threads, and the [`Shutdown`] that `serve` must honour (stopping
/// cleanly once it resolves).
///
/// # Errors
/// `PYGMY_PARENT_PID` is not a pid, the runtime cannot start, or `serve` failed.
pub fn serve_process<F, Fut, E>(workers: Workers, serve: F) -> std::result::Result<(), Failure>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: Into<Failure>,
{
    process::init_tracing();
    process::install_panic_hook();
    process::restrict_file_modes();
    let parent = process::parent_pid()?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    // An explicit count would silence tokio's own `TOKIO_WORKER_THREADS`.
    if workers == Workers::One && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    let runtime = builder
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let shutdown: Shutdown = Box::pin(process::stop_signal(parent));
        serve(shutdown).await.map_err(Into::into)
    })
}

/// The whole `main` of a service binary: parses its flags `A` (named `name`, described by
/// `about`), runs `serve` on `workers` threads as [`serve_process`] does, and exits 2 with a
/// message if it fails.
pub fn main<A, F, Fut, E>(
    name: &'static str,
    about: &'static str,
    workers: Workers,
    serve: F,
) -> ExitCode
where
    A: Args,
    F: FnOnce(A, Shutdown) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: Into<Failure>,
{
    // `about` after the flags: `augment_args` sets the flag struct's own doc comment as `about`.
    let matches = A::augment_args(clap::Command::new(name))
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .get_matches();
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match serve_process(workers, |shutdown| serve(args, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}
