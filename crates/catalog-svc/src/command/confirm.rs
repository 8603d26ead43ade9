//! `Confirm`: a held reservation's order is committed; its stock is sold for good.

use api::{Reservation, ReservationState};
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
        let reservation = match confirm(txn, &self.key)? {
            Ok(reservation) => reservation,
            Err(rejection) => return Ok(CatalogResponse::Rejected(rejection)),
        };
        let book = load_book(txn, reservation.item)?.expect("a reservation's book exists");
        Ok(CatalogResponse::Reservation { reservation, book })
    }
}

/// Marks the reservation under `key` confirmed and answers it, or why it cannot be: what
/// [`Confirm::apply`] does without reading its book for the answer, which a
/// [`super::ConfirmAll`] does not need.
pub(super) fn confirm(txn: &StateTxn<'_>, key: &str) -> TxnResult<Result<Reservation, Rejection>> {
    let Some(mut reservation) = load_reservation(txn, key)? else {
        let key = key.to_string();
        return Ok(Err(Rejection::UnknownReservation { key }));
    };
    match reservation.state {
        ReservationState::Held => {
            reservation.state = ReservationState::Confirmed;
            store_reservation(txn, &reservation)?;
        }
        ReservationState::Confirmed => {}
        state @ (ReservationState::Released | ReservationState::Refused) => {
            let key = key.to_string();
            return Ok(Err(Rejection::WrongState { key, state }));
        }
    }
    Ok(Ok(reservation))
}
