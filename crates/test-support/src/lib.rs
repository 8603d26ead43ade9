//! Process harness shared by every integration suite: ports, spawn/kill/restart, polling.
//!
//! Dev-only: every helper panics with a clear message instead of returning errors, and all
//! traffic goes to 127.0.0.1. Nothing here sleeps for a fixed time; waiting is done by
//! [`poll_until`] and the `wait_*` helpers built on it.
//!
//! # Layout
//!
//! - [`ports`]: [`free_port`], fresh loopback ports.
//! - [`poll`]: [`poll_until`], the one waiting primitive.
//! - [`cluster_dir`]: [`ClusterDir`], a temporary directory with a `cluster.toml`, data and logs;
//!   kept on panic.
//! - [`child`]: [`ChildGuard`], one child process logging to a file, SIGKILLed on drop.
//! - [`replica_set`]: [`ReplicaSet`], the replicas of one group: start, kill, stop, restart,
//!   `/status`, leader and convergence waits; logs printed on panic.
//! - [`store`]: [`Store`], a whole store (both groups and a frontend) run by `pygmy serve`.
//! - [`prometheus`]: [`Scrape`], a `/metrics` answer parsed into samples.
//! - [`init_tracing`]: a test tracing subscriber, installed once.

pub mod child;
pub mod cluster_dir;
pub mod poll;
pub mod ports;
pub mod prometheus;
pub mod replica_set;
pub mod store;

use std::sync::Once;

pub use child::ChildGuard;
pub use cluster_dir::ClusterDir;
pub use poll::poll_until;
pub use ports::free_port;
pub use prometheus::Scrape;
pub use replica_set::ReplicaSet;
pub use store::Store;

/// Installs a tracing subscriber once (RUST_LOG filter, test writer). Safe to call many times.
///
/// Without `RUST_LOG` the filter is `info,openraft=warn`. If another global subscriber is
/// already installed, it is left in place.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
