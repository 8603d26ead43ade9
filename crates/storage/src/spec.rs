//! What one replica needs to start, made from the cluster configuration, and the settings of
//! the libraries it runs made from that: the openraft [`Config`](openraft::Config) of its group,
//! every field set on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use openraft::SnapshotPolicy;
use runtime::cluster::{Cluster, GroupName, RaftTimings};

use crate::error::{Error, Result};
use crate::identity;

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
    /// Whether this start may create the replica directory to join a running group (added by
    /// `pygmy member add`); it never initializes a group.
    pub join: bool,
    /// Whether the configuration does not list it: it was added by `pygmy member add`.
    pub added: bool,
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

    /// The `host:port` of every other replica it knows at start.
    pub fn other_addrs(&self) -> Vec<String> {
        self.peers
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(_, addr)| addr.clone())
            .collect()
    }

    /// Replica `id` of `group` in `cluster`, to start without bootstrapping: a configured one
    /// (`addr` `None`), or one added by a membership change, reached at `addr`.
    ///
    /// # Errors
    /// A configured id given an address, an id not configured given none, no cluster token set,
    /// or `<data_dir>/cluster_id` exists but cannot be read.
    pub fn of(cluster: &Cluster, group: GroupName, id: u64, addr: Option<&str>) -> Result<Self> {
        let configured = cluster.replicas(group);
        let peers = match (addr, configured.get((id as usize).wrapping_sub(1))) {
            (None, _) => cluster.replica_peers(group, id)?,
            (Some(addr), Some(at)) if addr == at => cluster.replica_peers(group, id)?,
            (Some(addr), Some(at)) => {
                return Err(Error::Config(format!(
                    "{} replica {id} is configured at {at}, not {addr}: --addr is for replicas \
                     added by `pygmy member add`, whose ids come after the configured ones",
                    group.as_str()
                )))
            }
            (Some(addr), None) => {
                let mut peers = cluster.replica_peers(group, 1)?;
                peers.insert(id, addr.to_string());
                peers
            }
        };
        Ok(Self {
            group,
            id,
            peers,
            data_dir: cluster.replica_dir(group, id),
            cluster_token: cluster.cluster_token.clone(),
            cluster_id: identity::read_id_file(&cluster.data_dir)?,
            bootstrap: false,
            join: false,
            added: addr.is_some_and(|_| configured.len() < id as usize),
            raft: cluster.raft.clone(),
            sled_cache_bytes: cluster.sled_cache_bytes,
        })
    }
}

/// Largest snapshot chunk, bytes (sent as they are, `snapshot::chunk`); must fit the peer body
/// limit.
pub(crate) const SNAPSHOT_CHUNK_BYTES_MAX: u64 = 1 << 20;

/// Entries in one AppendEntries request (openraft's default, set here on purpose). openraft times
/// every AppendEntries out at the heartbeat interval, so one batch must be sent, flushed by the
/// follower (one group commit) and answered within it: 300 commands of a few hundred bytes of JSON
/// are under 100 KiB, far below the peer body limit, and a restarted replica still catches up 300
/// entries per round trip.
const PAYLOAD_ENTRIES_MAX: u64 = 300;

/// The openraft configuration of the replica `spec` starts: its timings from the cluster file,
/// its limits from the constants above, checked by openraft.
///
/// # Errors
/// [`Error::Config`] if openraft rejects the combination (e.g. an election timeout not above
/// the heartbeat).
pub fn raft_config(spec: &ReplicaSpec) -> Result<openraft::Config> {
    let t = &spec.raft;
    let config = openraft::Config {
        cluster_name: spec.group.as_str().to_string(),
        heartbeat_interval: t.heartbeat.as_millis() as u64,
        election_timeout_min: t.election_min.as_millis() as u64,
        election_timeout_max: t.election_max.as_millis() as u64,
        install_snapshot_timeout: t.install_snapshot_timeout.as_millis() as u64,
        // Snapshots are asked for by `replica::compaction`, spaced by the state's size.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: t.snapshot_logs_kept,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES_MAX,
        max_payload_entries: PAYLOAD_ENTRIES_MAX,
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| Error::Config(format!("raft settings: {e}")))
}
