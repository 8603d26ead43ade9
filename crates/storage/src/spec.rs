//! What one replica needs to start, made from the cluster configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use runtime::cluster::{Cluster, GroupName, RaftTimings};

use crate::error::Result;
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

    /// Replica `id` of `group` in `cluster`, to start without bootstrapping.
    ///
    /// # Errors
    /// The group has no such replica, no cluster token is set, or `<data_dir>/cluster_id`
    /// exists but cannot be read.
    pub fn of(cluster: &Cluster, group: GroupName, id: u64) -> Result<Self> {
        Ok(Self {
            group,
            id,
            peers: cluster.replica_peers(group, id)?,
            data_dir: cluster.replica_dir(group, id),
            cluster_token: cluster.cluster_token.clone(),
            cluster_id: identity::read_id_file(&cluster.data_dir)?,
            bootstrap: false,
            raft: cluster.raft.clone(),
            sled_cache_bytes: cluster.sled_cache_bytes,
        })
    }
}
