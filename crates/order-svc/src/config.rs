//! The order replica's validated configuration.

use std::path::PathBuf;

use runtime::Cluster;
use storage::ReplicaSpec;

/// What an order replica needs: its replica spec and the catalog group to reserve stock at.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// Group, id, peers, directory, timings, token.
    pub replica: ReplicaSpec,
    /// Catalog replica addresses.
    pub catalog: Vec<String>,
    /// The cluster's data directory: catalog replicas started on this machine record their
    /// membership there, another place to learn where the catalog group is.
    pub data_dir: PathBuf,
}

impl OrderConfig {
    /// Order replica `replica` of `cluster`.
    pub fn new(cluster: &Cluster, replica: ReplicaSpec) -> Self {
        Self {
            replica,
            catalog: cluster.catalog.clone(),
            data_dir: cluster.data_dir.clone(),
        }
    }
}
