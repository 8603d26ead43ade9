//! What a replica reports about itself.

use serde::{Deserialize, Serialize};

/// A replica's role in its Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReplicaRole {
    /// Leads the group: takes writes.
    Leader,
    /// Follows the leader.
    Follower,
    /// Asking for votes.
    Candidate,
    /// Not a voter.
    Learner,
    /// Stopping.
    Shutdown,
}

/// Body of `GET /status` on a replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaStatus {
    /// Group name, `catalog` or `orders`.
    pub group: String,
    /// Replica id, from 1.
    pub id: u64,
    /// Role.
    pub role: ReplicaRole,
    /// Leader id as this replica knows it.
    pub leader: Option<u64>,
    /// Current term.
    pub term: u64,
    /// Index of the last log entry.
    pub last_log_index: u64,
    /// Index of the last applied entry.
    pub last_applied: u64,
    /// Last log index covered by the current snapshot (0: none).
    pub snapshot_index: u64,
    /// Last log index removed from the log by compaction (0: none).
    pub last_purged: u64,
    /// Hex digest of the state trees; equal digests at equal `last_applied` mean equal state.
    pub digest: String,
}
