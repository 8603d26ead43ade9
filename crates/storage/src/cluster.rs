//! `cluster.toml`: the one configuration file every process reads, layered and validated.
//!
//! Layers, later wins: the embedded default (the repository's `cluster.toml`) < the given file
//! < `PYGMY_*` environment variables < overrides from command-line flags.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The checked-in default configuration: the whole cluster on 127.0.0.1.
pub const DEFAULT_CLUSTER_TOML: &str = include_str!("../../../cluster.toml");

/// Fewest characters of a configured token: shorter ones are guessable (`pygmy up` generates 32).
pub const TOKEN_CHARS_MIN: usize = 16;

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
}

/// What one replica needs to start.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// Its group.
    pub group: GroupName,
    /// Its id, from 1.
    pub id: u64,
    /// Every replica of the group (itself included): id -> `host:port`.
    pub peers: BTreeMap<u64, String>,
    /// Its own directory.
    pub data_dir: PathBuf,
    /// Token of internal routes; never empty.
    pub cluster_token: String,
    /// The cluster's id: before start, the one of `<data_dir>/cluster_id` if that file exists
    /// (a bootstrap records it in a new replica directory); once started, the one the replica
    /// directory records, carried on every peer request.
    pub cluster_id: Option<String>,
    /// Whether this start may create the replica directory (a new cluster's bootstrap); any
    /// other start refuses an empty or missing one.
    pub bootstrap: bool,
    /// Raft timings.
    pub raft: RaftTimings,
    /// sled page cache, bytes.
    pub sled_cache_bytes: u64,
}

impl ReplicaSpec {
    /// Its own `host:port`.
    pub fn addr(&self) -> &str {
        &self.peers[&self.id]
    }
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
        if file.orders.catalog_file.is_some() {
            return bad("catalog_file belongs in [catalog], not [orders]".into());
        }
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

    /// The cluster id of `<data_dir>/cluster_id`, which is created with a new random id if
    /// missing: what `--bootstrap` records in new replica directories.
    ///
    /// # Errors
    /// [`Error::Config`] if the file cannot be read or written.
    pub fn ensure_cluster_id(&self) -> Result<String> {
        crate::identity::ensure_id_file(&self.data_dir)
    }

    /// What replica `id` of `group` needs to start (not as a bootstrap).
    ///
    /// # Errors
    /// [`Error::Config`] if the group has no such replica, no cluster token is set, or
    /// `<data_dir>/cluster_id` exists but cannot be read.
    pub fn replica_spec(&self, group: GroupName, id: u64) -> Result<ReplicaSpec> {
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
        Ok(ReplicaSpec {
            group,
            id,
            peers: (1..).zip(replicas.iter().cloned()).collect(),
            data_dir: self.replica_dir(group, id),
            cluster_token: self.cluster_token.clone(),
            cluster_id: crate::identity::read_id_file(&self.data_dir)?,
            bootstrap: false,
            raft: self.raft.clone(),
            sled_cache_bytes: self.sled_cache_bytes,
        })
    }
}

/// Why `token` cannot be used, if it cannot: a token is empty (filled later by `pygmy up`) or
/// at least [`TOKEN_CHARS_MIN`] printable ASCII characters without spaces. A newline or a
/// non-ASCII character would otherwise be accepted here and only fail later, as peers that never
/// authenticate each other and a group that never elects a leader.
///
/// # Errors
/// What is wrong with it, and what to use instead.
pub fn check_token(token: &str) -> std::result::Result<(), String> {
    let advice = format!(
        "use at least {TOKEN_CHARS_MIN} printable ASCII characters without spaces (e.g. \
         `openssl rand -hex 16`), or leave it empty for `pygmy up` to generate one"
    );
    if token.is_empty() {
        return Ok(());
    }
    if let Some(bad) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "contains {bad:?}, which is not a printable ASCII character; {advice}"
        ));
    }
    if token.len() < TOKEN_CHARS_MIN {
        return Err(format!(
            "is {} characters long, too short to be secret; {advice}",
            token.len()
        ));
    }
    Ok(())
}

/// Checks both tokens of `file`; `origin(key)` says where the value was set.
fn check_tokens(file: &ClusterFile, origin: impl Fn(&str) -> String) -> Result<()> {
    for (key, token) in [
        ("cluster_token", &file.cluster_token),
        ("admin_token", &file.admin_token),
    ] {
        if let Err(why) = check_token(token) {
            return Err(Error::Config(format!("{key} {} {why}", origin(key))));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn default_file() -> ClusterFile {
        toml_file(DEFAULT_CLUSTER_TOML)
    }

    fn toml_file(text: &str) -> ClusterFile {
        Figment::from(Toml::string(text)).extract().unwrap()
    }

    #[test]
    fn default_is_valid_three_plus_three() {
        let c = Cluster::validate(default_file()).unwrap();
        assert_eq!((c.catalog.len(), c.orders.len()), (3, 3));
        assert!(c.raft.heartbeat < c.raft.election_min);
    }

    #[test]
    fn duplicate_address_is_named() {
        let mut f = default_file();
        f.orders.replicas[0] = f.catalog.replicas[1].clone();
        let e = Cluster::validate(f).unwrap_err().to_string();
        assert!(e.contains("127.0.0.1:8102") && e.contains("twice"), "{e}");
    }

    #[test]
    fn bad_timings_and_addresses_are_refused() {
        let mut f = default_file();
        f.raft.heartbeat_ms = 5000;
        assert!(Cluster::validate(f)
            .unwrap_err()
            .to_string()
            .contains("heartbeat_ms"));
        let mut f = default_file();
        f.catalog.replicas[0] = "nonsense".into();
        assert!(Cluster::validate(f)
            .unwrap_err()
            .to_string()
            .contains("host:port"));
    }

    #[test]
    fn unknown_id_and_missing_token_are_refused() {
        let mut c = Cluster::validate(default_file()).unwrap();
        c.cluster_token = "t".into();
        assert!(c.replica_spec(GroupName::Catalog, 4).is_err());
        assert!(c.replica_spec(GroupName::Catalog, 0).is_err());
        assert_eq!(
            c.replica_spec(GroupName::Orders, 2).unwrap().addr(),
            "127.0.0.1:8202"
        );
        c.cluster_token.clear();
        assert!(c
            .replica_spec(GroupName::Catalog, 1)
            .unwrap_err()
            .to_string()
            .contains("cluster_token"));
    }

    #[test]
    fn environment_overrides_the_file_and_ignores_other_pygmy_variables() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PYGMY_CLUSTER_TOKEN", "from-env-0123456789");
            jail.set_env("PYGMY_RAFT__HEARTBEAT_MS", "300");
            jail.set_env("PYGMY_URL", "http://127.0.0.1:1");
            let c = Cluster::load(None, &Default::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.cluster_token, "from-env-0123456789");
            assert_eq!(c.raft.heartbeat, Duration::from_millis(300));
            Ok(())
        });
    }

    #[test]
    fn weak_or_unprintable_tokens_are_refused_naming_where_they_were_set() {
        // Goal: a token with a newline, a space or a non-ASCII character, or a short one, is
        // refused when the configuration loads (not later, as a group that never elects),
        // naming the key and the file or variable that set it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (token, why) in [
            ("x", "too short"),
            // TOML escapes: the file holds a backslash-n, the token a newline.
            ("0123456789abcdef\\n", "'\\n'"),
            ("0123456789 abcdef", "' '"),
            ("0123456789abcdéf", "'é'"),
        ] {
            std::fs::write(&path, format!("cluster_token = \"{token}\"\n")).unwrap();
            let e = Cluster::load(Some(&path), &Default::default())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("cluster_token (in ") && e.contains("c.toml)"),
                "{e}"
            );
            assert!(e.contains(why), "{token:?}: {e}");
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("PYGMY_ADMIN_TOKEN", "short");
            let e = Cluster::load(None, &Default::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("admin_token (in PYGMY_ADMIN_TOKEN)"), "{e}");
            Ok(())
        });
        assert!(check_token("").is_ok() && check_token("0123456789abcdef").is_ok());
    }

    #[test]
    fn missing_file_and_unknown_keys_are_clear() {
        let e = Cluster::load(
            Some(Path::new("/nonexistent/cluster.toml")),
            &Default::default(),
        );
        assert!(e.unwrap_err().to_string().contains("does not exist"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[raft]\nheartbeat = 3\n").unwrap();
        let e = Cluster::load(Some(&path), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("heartbeat"), "{e}");
    }
}
