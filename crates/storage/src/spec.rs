//! What a replica is started with, turned into the settings of the libraries it runs: here the
//! openraft [`Config`](openraft::Config) of its group, every field set on purpose.

use openraft::SnapshotPolicy;

use crate::cluster::ReplicaSpec;
use crate::error::{Error, Result};

/// Largest snapshot chunk, bytes; its JSON form (a number array, 3-4x larger) must fit the peer
/// body limit.
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
        snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_logs_since_last),
        max_in_snapshot_log_to_keep: t.snapshot_logs_kept,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES_MAX,
        max_payload_entries: PAYLOAD_ENTRIES_MAX,
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| Error::Config(format!("raft settings: {e}")))
}
