//! `Release`: a buy that will never commit gives its stock back.

use api::{Reservation, ReservationState};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{
    load_book, load_reservation, store_book, store_reservation, CatalogResponse, Rejection,
};

/// Release the reservation under `key`. Idempotent. For a key never reserved it stores a
/// `released` tombstone, so a `Reserve` arriving late can never take stock for a dead buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Buy key.
    pub key: String,
    /// Book id of the buy.
    pub item: u64,
    /// Copies of the buy.
    pub quantity: u64,
}

impl Release {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let Some(mut book) = load_book(txn, self.item)? else {
            return Ok(CatalogResponse::Rejected(Rejection::UnknownBook {
                item: self.item,
            }));
        };
        let mut reservation = match load_reservation(txn, &self.key)? {
            // The key names one buy: a release for another item or quantity is not this buy's.
            Some(r) if r.item != self.item || r.quantity != self.quantity => {
                let key = self.key.clone();
                return Ok(CatalogResponse::Rejected(Rejection::KeyConflict { key }));
            }
            Some(r) => r,
            None => Reservation {
                key: self.key.clone(),
                item: self.item,
                quantity: self.quantity,
                state: ReservationState::Released,
            },
        };
        match reservation.state {
            ReservationState::Held => {
                book.stock = book
                    .stock
                    .checked_add(reservation.quantity)
                    .expect("released stock fits in u64");
                store_book(txn, &book)?;
                reservation.state = ReservationState::Released;
            }
            ReservationState::Released | ReservationState::Refused => {}
            ReservationState::Confirmed => {
                let key = self.key.clone();
                let state = reservation.state;
                return Ok(CatalogResponse::Rejected(Rejection::WrongState {
                    key,
                    state,
                }));
            }
        }
        store_reservation(txn, &reservation)?;
        Ok(CatalogResponse::Reservation { reservation, book })
    }
}
