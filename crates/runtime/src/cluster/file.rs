//! The shapes of `cluster.toml` as written, and the validated settings made from them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `cluster.toml` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Directory of the replica directories.
    pub data_dir: PathBuf,
    /// Token of internal routes.
    pub cluster_token: String,
    /// Token of public admin routes.
    pub admin_token: String,
    /// The frontend.
    pub frontend: FrontendFile,
    /// The catalog group.
    pub catalog: GroupFile,
    /// The order group.
    pub orders: GroupFile,
    /// Raft timings.
    pub raft: RaftFile,
    /// sled settings.
    pub storage: StorageFile,
    /// The frontends' cache.
    pub cache: CacheFile,
}

/// `[frontend]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendFile {
    /// `host:port` it listens on.
    pub addr: String,
    /// `host:port` the catalog leader reaches it at, for cache notices (default: the address
    /// its listener is bound to). Needed when `addr` is a wildcard such as `0.0.0.0:8080`,
    /// e.g. its service name in a container network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
}

/// `[catalog]` or `[orders]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// `host:port` of each replica; replica id = position from 1.
    pub replicas: Vec<String>,
    /// Books of a fresh catalog (catalog group only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_file: Option<PathBuf>,
    /// `[catalog.restock]`: timed restocks (catalog group only); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restock: Option<super::RestockFile>,
}

/// `[raft]`; all durations in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftFile {
    /// Heartbeat period.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout.
    pub election_timeout_ms_min: u64,
    /// Upper bound of the election timeout.
    pub election_timeout_ms_max: u64,
    /// Timeout of one snapshot chunk.
    pub install_snapshot_timeout_ms: u64,
    /// Entries applied since the last snapshot that trigger a new one.
    pub snapshot_logs_since_last: u64,
    /// Entries kept behind a snapshot.
    pub snapshot_logs_kept: u64,
    /// Deadline of a client write.
    pub write_timeout_ms: u64,
    /// Deadline of a linearizable read.
    pub read_timeout_ms: u64,
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFile {
    /// sled page cache per replica, bytes.
    pub sled_cache_bytes: u64,
}

/// `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Whether frontends cache catalog reads.
    pub enabled: bool,
    /// Most entries per frontend.
    pub capacity: u64,
    /// Most bytes per frontend (keys, bodies and per-entry overhead).
    pub capacity_bytes: u64,
    /// Lease a catalog leader grants a frontend, in ms.
    pub lease_ms: u64,
}

/// The frontends' cache settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Whether frontends cache catalog reads.
    pub enabled: bool,
    /// Most entries per frontend (at least 1).
    pub capacity: u64,
    /// Most bytes per frontend (at least 1 MiB): what bounds the cache's memory.
    pub capacity_bytes: u64,
    /// Lease a catalog leader grants a frontend: the longest a write waits for a frontend it
    /// cannot reach, and how long a new catalog leader stays quiet.
    pub lease: Duration,
}

/// Raft timings, validated (heartbeat < election min < election max).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftTimings {
    /// Heartbeat period (and openraft's AppendEntries timeout).
    pub heartbeat: Duration,
    /// Election timeout lower bound.
    pub election_min: Duration,
    /// Election timeout upper bound.
    pub election_max: Duration,
    /// Snapshot chunk timeout.
    pub install_snapshot_timeout: Duration,
    /// Entries since the last snapshot that trigger one.
    pub snapshot_logs_since_last: u64,
    /// Entries kept behind a snapshot.
    pub snapshot_logs_kept: u64,
    /// Deadline of a client write.
    pub write_timeout: Duration,
    /// Deadline of a linearizable read.
    pub read_timeout: Duration,
}
