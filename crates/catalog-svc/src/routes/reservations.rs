//! `POST /reservations/reserve-all`, `POST /reservations/confirm-all`,
//! `POST /reservations/fence-orders`: the catalog's side of the buy protocol.
//!
//! Every reservation arrives with the order term of the leader sending it: a route taking one
//! without it (or giving stock back by hand) would let a held reservation slip past the fence
//! and become an order under the next order leader, or an order lose its stock.

use api::{
    ApiError, ApiJson, ConfirmAllOutcome, ConfirmAllRequest, ErrorCode, FenceOrdersOutcome,
    FenceOrdersRequest, Reservation, ReservationState, ReserveAllItem, ReserveAllOutcome,
    ReserveAllRequest, ReserveOutcome, ReserveRequest,
};
use axum::extract::State;

use super::{commit, read_barrier};
use crate::command::{
    CatalogCommand, ConfirmAll, FenceOrders, Reserve, ReserveAll, BOOKS, HELD, RESERVATIONS,
};
use crate::error::Error;
use crate::state::AppState;
use crate::CatalogResponse;

/// Takes stock under many keys in one entry, in order: 200 with each one's outcome (held, or
/// its refusal); an error only when none applied, or the outcome of all of them is unknown.
pub async fn reserve_all(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReserveAllRequest>,
) -> Result<ApiJson<ReserveAllOutcome>, ApiError> {
    req.validate()?;
    let reservations = req.reservations.into_iter().map(command).collect();
    let command = CatalogCommand::ReserveAll(ReserveAll {
        reservations,
        order_term: req.order_term,
    });
    let (responses, log_index) = match commit(&state, command).await? {
        (CatalogResponse::Reservations(each), log_index) => (each, log_index),
        other => {
            tracing::error!(?other, "reserve-all answered something else");
            return Err(ApiError::new(ErrorCode::Internal, "internal error"));
        }
    };
    let items = responses
        .into_iter()
        .map(|response| {
            let one = match response {
                CatalogResponse::Rejected(r) => Err(Error::Rejected(r).into()),
                response => reserved(response, log_index),
            };
            match one {
                Ok(outcome) => ReserveAllItem::Held(outcome),
                Err(e) => ReserveAllItem::Refused(e.body()),
            }
        })
        .collect();
    Ok(ApiJson(ReserveAllOutcome { items, log_index }))
}

fn command(req: ReserveRequest) -> Reserve {
    let ReserveRequest {
        key,
        item,
        quantity,
    } = req;
    Reserve {
        key,
        item,
        quantity,
    }
}

/// The answer to one applied reservation: the outcome if it holds stock, else its refusal.
fn reserved(response: CatalogResponse, log_index: u64) -> Result<ReserveOutcome, ApiError> {
    let outcome = outcome((response, log_index))?;
    match outcome.reservation.state {
        ReservationState::Held | ReservationState::Confirmed => Ok(outcome),
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

/// Refuses, from now on, the reservations of order leaders of earlier terms: 200 with every
/// reservation held once that applied; 503 `no_leader` if a later order term already fenced.
pub async fn fence_orders(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<FenceOrdersRequest>,
) -> Result<ApiJson<FenceOrdersOutcome>, ApiError> {
    let command = CatalogCommand::FenceOrders(FenceOrders {
        term: req.order_term,
    });
    let log_index = match commit(&state, command).await? {
        (CatalogResponse::OrdersFenced(_), log_index) => log_index,
        other => {
            tracing::error!(?other, "fence-orders answered something else");
            return Err(ApiError::new(ErrorCode::Internal, "internal error"));
        }
    };
    // A write may have been forwarded to the leader: read past it here, so that these trees
    // hold the fence, and any reservation of an earlier order term is in them now or never.
    read_barrier(&state).await?;
    let view = state.replica.view();
    let held = view
        .scan::<()>(HELD)
        .into_iter()
        .filter_map(|(key, ())| view.get::<Reservation>(RESERVATIONS, &key))
        .filter(|r| r.state == ReservationState::Held)
        .filter_map(|reservation| {
            let book = view.get(BOOKS, &storage::keys::u64_key(reservation.item))?;
            Some(ReserveOutcome {
                reservation,
                book,
                log_index,
            })
        })
        .collect();
    Ok(ApiJson(FenceOrdersOutcome { held, log_index }))
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
