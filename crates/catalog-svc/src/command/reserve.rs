//! `Reserve`: take stock under a buy key, exactly once.

use api::{Reservation, ReservationState};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{
    load_book, load_reservation, store_book, store_reservation, CatalogResponse, Rejection,
};

/// Take `quantity` copies of `item` under `key`. The outcome (held or refused) is stored under
/// the key, so asking again answers the same and never takes stock twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserve {
    /// Buy key.
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies, at least 1 (checked by the proposer).
    pub quantity: u64,
}

impl Reserve {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let Some(mut book) = load_book(txn, self.item)? else {
            return Ok(CatalogResponse::Rejected(Rejection::UnknownBook {
                item: self.item,
            }));
        };
        if let Some(existing) = load_reservation(txn, &self.key)? {
            if existing.item != self.item || existing.quantity != self.quantity {
                let key = self.key.clone();
                return Ok(CatalogResponse::Rejected(Rejection::KeyConflict { key }));
            }
            return Ok(CatalogResponse::Reservation {
                reservation: existing,
                book,
            });
        }
        let state = match book.stock.checked_sub(self.quantity) {
            Some(left) => {
                book.stock = left;
                store_book(txn, &book)?;
                ReservationState::Held
            }
            None => ReservationState::Refused,
        };
        let reservation = Reservation {
            key: self.key.clone(),
            item: self.item,
            quantity: self.quantity,
            state,
        };
        store_reservation(txn, &reservation)?;
        Ok(CatalogResponse::Reservation { reservation, book })
    }
}
