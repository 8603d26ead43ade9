//! `Confirm`: a held reservation's order is committed; its stock is sold for good.

use api::ReservationState;
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{load_book, load_reservation, store_reservation, CatalogResponse, Rejection};

/// Mark the reservation under `key` confirmed. Idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirm {
    /// Buy key.
    pub key: String,
}

impl Confirm {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let Some(mut reservation) = load_reservation(txn, &self.key)? else {
            let key = self.key.clone();
            return Ok(CatalogResponse::Rejected(Rejection::UnknownReservation {
                key,
            }));
        };
        match reservation.state {
            ReservationState::Held => {
                reservation.state = ReservationState::Confirmed;
                store_reservation(txn, &reservation)?;
            }
            ReservationState::Confirmed => {}
            state @ (ReservationState::Released | ReservationState::Refused) => {
                let key = self.key.clone();
                return Ok(CatalogResponse::Rejected(Rejection::WrongState {
                    key,
                    state,
                }));
            }
        }
        let book = load_book(txn, reservation.item)?.expect("a reservation's book exists");
        Ok(CatalogResponse::Reservation { reservation, book })
    }
}
