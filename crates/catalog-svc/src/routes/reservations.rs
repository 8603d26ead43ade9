//! `POST /reserve`, `POST /reservations/confirm-all`, `POST /reservations/release`: the
//! catalog's side of the buy protocol.

use api::{
    ApiError, ApiJson, ConfirmAllOutcome, ConfirmAllRequest, ErrorCode, ReservationState,
    ReserveOutcome, ReserveRequest,
};
use axum::extract::State;

use super::commit;
use crate::command::{CatalogCommand, ConfirmAll, Release, Reserve};
use crate::state::AppState;
use crate::CatalogResponse;

/// Takes stock under a key: 200 with the held reservation, 409 `out_of_stock` if refused.
pub async fn reserve(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<ApiJson<ReserveOutcome>, ApiError> {
    req.validate()?;
    let ReserveRequest {
        key,
        item,
        quantity,
    } = req;
    let command = CatalogCommand::Reserve(Reserve {
        key,
        item,
        quantity,
    });
    let outcome = outcome(commit(&state, command).await?)?;
    match outcome.reservation.state {
        ReservationState::Held | ReservationState::Confirmed => Ok(ApiJson(outcome)),
        ReservationState::Refused => Err(ApiError::new(
            ErrorCode::OutOfStock,
            format!(
                "book {} has {} in stock, {} asked for",
                outcome.book.id, outcome.book.stock, outcome.reservation.quantity
            ),
        )),
        ReservationState::Released => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("buy key {:?} was released", outcome.reservation.key),
        )),
    }
}

/// Marks many held reservations sold, in one entry: 200 with how many are confirmed.
pub async fn confirm_all(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ConfirmAllRequest>,
) -> Result<ApiJson<ConfirmAllOutcome>, ApiError> {
    req.validate()?;
    let command = CatalogCommand::ConfirmAll(ConfirmAll { keys: req.keys });
    match commit(&state, command).await? {
        (CatalogResponse::Confirmed(confirmed), log_index) => Ok(ApiJson(ConfirmAllOutcome {
            confirmed,
            log_index,
        })),
        other => {
            tracing::error!(?other, "confirm-all answered something else");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

/// Gives a reservation's stock back (or tombstones a key never reserved).
pub async fn release(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<ApiJson<ReserveOutcome>, ApiError> {
    req.validate()?;
    let ReserveRequest {
        key,
        item,
        quantity,
    } = req;
    let command = CatalogCommand::Release(Release {
        key,
        item,
        quantity,
    });
    Ok(ApiJson(outcome(commit(&state, command).await?)?))
}

fn outcome((response, log_index): (CatalogResponse, u64)) -> Result<ReserveOutcome, ApiError> {
    match response {
        CatalogResponse::Reservation { reservation, book } => Ok(ReserveOutcome {
            reservation,
            book,
            log_index,
        }),
        other => {
            tracing::error!(?other, "reservation command answered something else");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}
