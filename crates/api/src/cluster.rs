//! The frontend's view of the cluster (`GET /cluster`).

use serde::{Deserialize, Serialize};

use crate::ReplicaStatus;

/// Body of `GET /cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The catalog group and the order group.
    pub groups: Vec<GroupView>,
}

/// One replicated group as the frontend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// `catalog` or `orders`.
    pub name: String,
    /// Leader id, as the replicas report it (the highest term wins).
    pub leader: Option<u64>,
    /// Highest term reported.
    pub term: u64,
    /// Every replica.
    pub replicas: Vec<ReplicaView>,
}

/// One replica as the frontend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// Replica id.
    pub id: u64,
    /// `host:port`.
    pub addr: String,
    /// Whether the frontend currently sends it requests.
    pub healthy: bool,
    /// Its `/status`, if it answered.
    pub status: Option<ReplicaStatus>,
}
