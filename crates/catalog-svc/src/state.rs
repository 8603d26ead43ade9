//! The handle every route receives.

use storage::Replica;

use crate::coherence::CacheFence;
use crate::machine::CatalogMachine;

/// Shared state of the catalog routes: the replica.
#[derive(Clone)]
pub struct AppState {
    /// This process's replica of the catalog group.
    pub replica: Replica<CatalogMachine>,
    /// Cache coherence with the frontends; `None` with `[cache] enabled = false`.
    pub fence: Option<CacheFence>,
}
