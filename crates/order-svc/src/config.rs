//! The order replica's validated configuration.

use runtime::Cluster;
use storage::ReplicaSpec;

/// What an order replica needs: its replica spec and the catalog group to reserve stock at.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// Group, id, peers, directory, timings, token.
    pub replica: ReplicaSpec,
    /// Catalog replica addresses.
    pub catalog: Vec<String>,
}

impl OrderConfig {
    /// Order replica `replica` of `cluster`.
    pub fn new(cluster: &Cluster, replica: ReplicaSpec) -> Self {
        Self {
            replica,
            catalog: cluster.catalog.clone(),
        }
    }
}
