//! `Seed`: fill an empty catalog with its first books; a no-op once the catalog has books.

use api::Book;
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{load_book, store_book, CatalogResponse};

/// Fill an empty catalog. Every replica proposes it at start-up; only the first applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    /// The books, checked by the proposer.
    pub books: Vec<Book>,
}

impl Seed {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        // Seeded already iff any book of the seed exists (ids are fixed by the catalog).
        let first = self.books.first().map(|b| b.id).unwrap_or(1);
        if load_book(txn, first)?.is_some() {
            return Ok(CatalogResponse::Seeded(self.books.len() as u64));
        }
        for book in &self.books {
            store_book(txn, book)?;
        }
        Ok(CatalogResponse::Seeded(self.books.len() as u64))
    }
}
