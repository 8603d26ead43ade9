//! The frontend's view of the cluster (`GET /cluster`).

use serde::{Deserialize, Serialize};

use crate::ReplicaStatus;

/// Body of `GET /cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterView {
    /// The catalog group and the order group.
    pub groups: Vec<GroupView>,
    /// The answering frontend's cache; `None` when it runs without one (`--no-cache`).
    #[serde(default)]
    pub cache: Option<CacheView>,
}

/// A frontend's cache as it reports itself in `/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CacheView {
    /// Most entries it keeps.
    pub capacity: u64,
    /// Entries now (approximate: moka counts lazily).
    pub entries: u64,
    /// Answers served from the cache.
    pub hits: u64,
    /// Cacheable requests read from a replica.
    pub misses: u64,
    /// Entries dropped by write notices and resets.
    pub invalidations: u64,
    /// Entries evicted for capacity.
    pub evictions: u64,
    /// Values refused because they were read before the last write of their slot.
    pub refused_stale_inserts: u64,
    /// Whether it holds a valid lease from the catalog leader (hits are served only then).
    pub lease_held: bool,
    /// Catalog term of its registration.
    pub term: u64,
    /// Its registration session with that term's leader.
    pub session: u64,
}

/// One replicated group as the frontend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
