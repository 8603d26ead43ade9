//! `cluster.toml`: the one configuration file every process reads, layered and validated.
//!
//! Layers, later wins: the embedded default (the repository's `cluster.toml`) < the given file
//! < `PYGMY_*` environment variables < overrides from command-line flags.

mod file;
mod restock;
mod token;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::Serialize;

use crate::error::{Error, Result};
pub use file::{
    CacheFile, CacheSettings, ClusterFile, FrontendFile, GroupFile, RaftFile, RaftTimings,
    StorageFile,
};
pub use restock::{RestockFile, RestockPolicy, RESTOCK_EVERY_S_MAX, RESTOCK_TO_MAX};
use token::check_tokens;
pub use token::{check_token, TOKEN_CHARS_MIN};

/// The checked-in default configuration: the whole cluster on 127.0.0.1.
pub const DEFAULT_CLUSTER_TOML: &str = include_str!("../../../../cluster.toml");

/// Top-level keys `PYGMY_*` variables may set; other `PYGMY_*` variables belong to other tools.
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "cluster_token",
    "admin_token",
    "frontend",
    "catalog",
    "orders",
    "raft",
    "storage",
    "cache",
];

/// The two replicated groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupName {
    /// Books and reservations.
    Catalog,
    /// The order log.
    Orders,
}

impl GroupName {
    /// The name used in directories and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Orders => "orders",
        }
    }
}

/// A validated cluster configuration.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Directory of the replica directories.
    pub data_dir: PathBuf,
    /// Token of internal routes (may be empty until `pygmy up` fills it).
    pub cluster_token: String,
    /// Token of public admin routes.
    pub admin_token: String,
    /// Frontend `host:port`.
    pub frontend_addr: String,
    /// `host:port` the frontend advertises for cache notices, if not its listener's address.
    pub frontend_advertise: Option<String>,
    /// Catalog replica addresses, id = index + 1.
    pub catalog: Vec<String>,
    /// Order replica addresses, id = index + 1.
    pub orders: Vec<String>,
    /// Books of a fresh catalog, if not the default.
    pub catalog_file: Option<PathBuf>,
    /// Raft timings.
    pub raft: RaftTimings,
    /// sled page cache per replica, bytes.
    pub sled_cache_bytes: u64,
    /// The frontends' cache.
    pub cache: CacheSettings,
    /// The catalog's timed restocks (`[catalog.restock]`); `None`: off.
    pub restock: Option<RestockPolicy>,
}

/// Overrides from command-line flags (the last layer).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterOverrides {
    /// `--data DIR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `[frontend]` keys set by flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontend: Option<FrontendOverrides>,
    /// `[cache]` keys set by flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheOverrides>,
}

/// `[frontend]` keys set by flags.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FrontendOverrides {
    /// `--addr HOST:PORT` of `pygmy serve frontend`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// `--advertise HOST:PORT` of `pygmy serve frontend`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
}

/// `[cache]` keys set by flags.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheOverrides {
    /// `false` with `--no-cache`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl Cluster {
    /// Loads the embedded default, then `path` (if given), then `PYGMY_*`, then `overrides`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, key or value at fault.
    pub fn load(path: Option<&Path>, overrides: &ClusterOverrides) -> Result<Self> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CLUSTER_TOML));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(Error::Config(format!(
                    "config file {} does not exist (give an existing cluster.toml, or none for the default)",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let env = Env::prefixed("PYGMY_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            ENV_KEYS.iter().any(|top| k.starts_with(top))
        });
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        let file: ClusterFile = figment.extract().map_err(|e| {
            let origin = path.map_or("the default configuration".into(), |p| {
                p.display().to_string()
            });
            Error::Config(format!("invalid configuration ({origin}): {e}"))
        })?;
        check_tokens(&file, |key| origin_of(&figment, key))?;
        Self::validate(file)
    }

    /// Checks ranges and relations and converts units.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem.
    pub fn validate(file: ClusterFile) -> Result<Self> {
        check_tokens(&file, |key| {
            format!("(cluster.toml or PYGMY_{})", key.to_ascii_uppercase())
        })?;
        let r = &file.raft;
        let bad = |m: String| Err(Error::Config(m));
        if !(r.heartbeat_ms > 0
            && r.heartbeat_ms < r.election_timeout_ms_min
            && r.election_timeout_ms_min < r.election_timeout_ms_max)
        {
            return bad(format!(
                "raft timings must satisfy 0 < heartbeat_ms ({}) < election_timeout_ms_min ({}) < election_timeout_ms_max ({})",
                r.heartbeat_ms, r.election_timeout_ms_min, r.election_timeout_ms_max
            ));
        }
        if r.write_timeout_ms == 0 || r.read_timeout_ms == 0 || r.snapshot_logs_since_last == 0 {
            return bad("raft write_timeout_ms, read_timeout_ms and snapshot_logs_since_last must be positive".into());
        }
        if file.cache.capacity == 0 || file.cache.lease_ms < 100 {
            return bad("cache.capacity must be positive and cache.lease_ms at least 100".into());
        }
        if file.cache.capacity_bytes < (1 << 20) {
            return bad("cache.capacity_bytes must be at least 1 MiB".into());
        }
        if file.storage.sled_cache_bytes < (1 << 20) {
            return bad("storage.sled_cache_bytes must be at least 1 MiB".into());
        }
        let mut seen = HashSet::new();
        let groups = [
            ("catalog", &file.catalog.replicas),
            ("orders", &file.orders.replicas),
        ];
        for (name, replicas) in groups {
            if replicas.is_empty() {
                return bad(format!(
                    "[{name}] replicas is empty: list at least one host:port"
                ));
            }
            for addr in replicas.iter() {
                check_addr(addr, name)?;
                if !seen.insert(addr.clone()) {
                    return bad(format!("address {addr} is used twice in the configuration"));
                }
            }
        }
        check_addr(&file.frontend.addr, "frontend")?;
        if !seen.insert(file.frontend.addr.clone()) {
            return bad(format!(
                "frontend address {} is also a replica's",
                file.frontend.addr
            ));
        }
        if let Some(advertise) = &file.frontend.advertise {
            check_advertised_addr(advertise)?;
        }
        if file.orders.catalog_file.is_some() {
            return bad("catalog_file belongs in [catalog], not [orders]".into());
        }
        if file.orders.restock.is_some() {
            return bad("restock belongs in [catalog], not [orders]".into());
        }
        let restock = file
            .catalog
            .restock
            .as_ref()
            .map(RestockFile::validate)
            .transpose()?;
        Ok(Self {
            raft: RaftTimings {
                heartbeat: ms(r.heartbeat_ms),
                election_min: ms(r.election_timeout_ms_min),
                election_max: ms(r.election_timeout_ms_max),
                install_snapshot_timeout: ms(r.install_snapshot_timeout_ms),
                snapshot_logs_since_last: r.snapshot_logs_since_last,
                snapshot_logs_kept: r.snapshot_logs_kept,
                write_timeout: ms(r.write_timeout_ms),
                read_timeout: ms(r.read_timeout_ms),
            },
            data_dir: file.data_dir,
            cluster_token: file.cluster_token,
            admin_token: file.admin_token,
            frontend_addr: file.frontend.addr,
            frontend_advertise: file.frontend.advertise,
            catalog: file.catalog.replicas,
            orders: file.orders.replicas,
            catalog_file: file.catalog.catalog_file,
            sled_cache_bytes: file.storage.sled_cache_bytes,
            cache: CacheSettings {
                enabled: file.cache.enabled,
                capacity: file.cache.capacity,
                capacity_bytes: file.cache.capacity_bytes,
                lease: ms(file.cache.lease_ms),
            },
            restock,
        })
    }

    /// Replica addresses of `group`, id = index + 1.
    pub fn replicas(&self, group: GroupName) -> &[String] {
        match group {
            GroupName::Catalog => &self.catalog,
            GroupName::Orders => &self.orders,
        }
    }

    /// Directory of replica `id` of `group`.
    pub fn replica_dir(&self, group: GroupName, id: u64) -> PathBuf {
        self.data_dir.join(format!("{}-{id}", group.as_str()))
    }

    /// Every replica of `group` (replica `id` included): id -> `host:port`, once it is checked
    /// that the group has a replica `id` and that a cluster token is set, which every replica
    /// needs to start.
    ///
    /// # Errors
    /// [`Error::Config`] if the group has no such replica or no cluster token is set.
    pub fn replica_peers(&self, group: GroupName, id: u64) -> Result<BTreeMap<u64, String>> {
        let replicas = self.replicas(group);
        if id == 0 || id as usize > replicas.len() {
            return Err(Error::Config(format!(
                "group {} has replicas 1 to {}; there is no replica {id}",
                group.as_str(),
                replicas.len()
            )));
        }
        if self.cluster_token.is_empty() {
            return Err(Error::Config(
                "cluster_token is empty: set it in cluster.toml or PYGMY_CLUSTER_TOKEN (pygmy up sets one)"
                    .into(),
            ));
        }
        Ok((1..).zip(replicas.iter().cloned()).collect())
    }
}

/// Where the value of top-level `key` came from, for error messages: `(in FILE)`, `(in
/// PYGMY_KEY)`.
fn origin_of(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return String::new();
    };
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("(in {})", path.display()),
        _ if metadata.name.contains("environment") => {
            format!("(in PYGMY_{})", key.to_ascii_uppercase())
        }
        _ => format!("({})", metadata.name),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn check_addr(addr: &str, what: &str) -> Result<()> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| Error::Config(format!("{what} address {addr:?} is not host:port")))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(Error::Config(format!(
            "{what} address {addr:?} is not host:port"
        )));
    }
    // Names are resolved at connect time: container hostnames may not resolve yet.
    Ok(())
}

/// An address others can connect to: `host:port` whose host is not a wildcard (`0.0.0.0`,
/// `::`), which names no particular host.
fn check_advertised_addr(addr: &str) -> Result<()> {
    check_addr(addr, "frontend advertise")?;
    let host = addr.rsplit_once(':').map_or("", |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        return Err(Error::Config(format!(
            "frontend advertise address {addr:?} is a wildcard: give the host or IP others reach it at"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
