//! `POST /reserve`, `POST /reservations/confirm`, `POST /reservations/release`: the catalog's side
//! of the buy protocol.

use api::{ApiError, ApiJson, ErrorCode, ReservationState, ReserveOutcome, ReserveRequest};
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::commit;
use crate::command::{CatalogCommand, Confirm, Release, Reserve};
use crate::state::AppState;
use crate::CatalogResponse;

/// Body of `POST /reservations/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Buy key.
    pub key: String,
}

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

/// Marks a held reservation sold.
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<ApiJson<ReserveOutcome>, ApiError> {
    api::book::check_buy_key(&req.key)?;
    let command = CatalogCommand::Confirm(Confirm { key: req.key });
    Ok(ApiJson(outcome(commit(&state, command).await?)?))
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
