//! What every Pygmy process shares and that needs neither sled nor openraft: the frontend uses
//! it alone, the replicas through `storage`.
//!
//! Layout:
//! - [`cluster`]: `cluster.toml`, layered with `PYGMY_*` and flags, validated.
//! - [`tokens`]: `<data_dir>/tokens.toml`, the tokens `pygmy up` generated.
//! - [`entry`]: the flags of every server process and the life around its service.
//! - [`process`]: logging, the panic hook, file modes, the shutdown signal.
//! - [`auth`]: the bearer-token check of internal and admin routes.
//! - [`internal_http`]: the HTTP client settings of calls between Pygmy's own processes.
//! - [`telemetry`]: the metrics recorder, Prometheus metrics and `Server-Timing` of HTTP
//!   requests; [`metric_catalog`]: every exported metric's name, kind and HELP text;
//!   [`throttle`]: one log line per interval of each repeated warning.
//! - [`error`]: configuration, bind and serve failures, defined once for every process.
//! - `heap`: the global allocator (jemalloc) of every process that links this crate.

pub mod auth;
pub mod cluster;
pub mod entry;
pub mod error;
mod heap;
pub mod internal_http;
pub mod metric_catalog;
pub mod process;
pub mod telemetry;
pub mod throttle;
pub mod tokens;

pub use cluster::{Cluster, ClusterOverrides, GroupName};
pub use error::{Error, Result};
