//! The order replica's validated configuration.

use storage::{Cluster, GroupName, ReplicaSpec};

use crate::error::Result;

/// What an order replica needs: its replica spec and the catalog group to reserve stock at.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// Group, id, peers, directory, timings, token.
    pub replica: ReplicaSpec,
    /// Catalog replica addresses.
    pub catalog: Vec<String>,
}

impl OrderConfig {
    /// Order replica `id` of `cluster`.
    ///
    /// # Errors
    /// Unknown id or missing token.
    pub fn from_cluster(cluster: &Cluster, id: u64) -> Result<Self> {
        Ok(Self {
            replica: cluster.replica_spec(GroupName::Orders, id)?,
            catalog: cluster.catalog.clone(),
        })
    }
}
