//! `UpdateBook`: an admin's restock and/or new cost, applied together.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{load_book, store_book, CatalogResponse, Rejection};

/// Add `stock_delta` copies (never below zero) and/or set `cost`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateBook {
    /// Book id.
    pub item: u64,
    /// Copies to add; negative removes.
    pub stock_delta: Option<i64>,
    /// New cost.
    pub cost: Option<u64>,
}

impl UpdateBook {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let Some(mut book) = load_book(txn, self.item)? else {
            return Ok(CatalogResponse::Rejected(Rejection::UnknownBook {
                item: self.item,
            }));
        };
        if let Some(delta) = self.stock_delta {
            let changed = book.stock.checked_add_signed(delta);
            let Some(stock) = changed else {
                let (item, stock) = (self.item, book.stock);
                return Ok(CatalogResponse::Rejected(Rejection::NegativeStock {
                    item,
                    stock,
                    delta,
                }));
            };
            book.stock = stock;
        }
        if let Some(cost) = self.cost {
            book.cost = cost;
        }
        store_book(txn, &book)?;
        Ok(CatalogResponse::Book(book))
    }
}
