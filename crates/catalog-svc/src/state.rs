//! The handle every route receives, and reads of the catalog state.

use api::Book;
use storage::{Replica, StateView};

use crate::coherence::CacheFence;
use crate::command::BOOKS;
use crate::machine::CatalogMachine;

/// Shared state of the catalog routes: the replica.
#[derive(Clone)]
pub struct AppState {
    /// This process's replica of the catalog group.
    pub replica: Replica<CatalogMachine>,
    /// Cache coherence with the frontends; `None` with `[cache] enabled = false`.
    pub fence: Option<CacheFence>,
}

/// Books in id order, of one topic if given.
pub fn all_books(view: &StateView, topic: Option<&str>) -> Vec<Book> {
    view.scan::<Book>(BOOKS)
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| topic.is_none_or(|t| b.topic == t))
        .collect()
}

/// The book with this id.
pub fn book(view: &StateView, id: u64) -> Option<Book> {
    view.get(BOOKS, &storage::keys::u64_key(id))
}
