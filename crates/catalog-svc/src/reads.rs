//! Reads of the catalog state, shared by the routes, the seeding and the cache fence.

use api::Book;
use storage::StateView;

use crate::command::BOOKS;

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
