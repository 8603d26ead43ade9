//! The catalog replica's validated configuration.

use std::time::Duration;

use api::Book;
use runtime::cluster::RestockPolicy;
use runtime::Cluster;
use storage::ReplicaSpec;

use crate::catalog_file::{default_books, load_books};
use crate::error::Result;

/// What a catalog replica needs: its replica spec and the books of a fresh catalog.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// Group, id, peers, directory, timings, token.
    pub replica: ReplicaSpec,
    /// Books seeded into a fresh catalog (the default, or the configured catalog file).
    pub books: Vec<Book>,
    /// Lease granted to the frontends' caches; `None` runs without cache coherence.
    pub cache_lease: Option<Duration>,
    /// Timed restocks run by the leader (`[catalog.restock]`); `None`: off.
    pub restock: Option<RestockPolicy>,
}

impl CatalogConfig {
    /// Catalog replica `replica` of `cluster`.
    ///
    /// # Errors
    /// An unusable catalog file.
    pub fn new(cluster: &Cluster, replica: ReplicaSpec) -> Result<Self> {
        let books = match &cluster.catalog_file {
            Some(path) => load_books(path)?,
            None => default_books(),
        };
        let cache_lease = cluster.cache.enabled.then_some(cluster.cache.lease);
        Ok(Self {
            replica,
            books,
            cache_lease,
            restock: cluster.restock,
        })
    }
}
