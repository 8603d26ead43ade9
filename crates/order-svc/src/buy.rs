//! The buy protocol at the order leader (DESIGN.md section 5, in two commits; README,
//! Departures).
//!
//! 1. The catalog reserves the stock under the buy key, for the order leader of this term
//!    (idempotent: a retry gets the same outcome; refused once a later order leader fenced).
//! 2. `CompleteBuy` commits the order with the next number.
//!
//! Between the two the buy is only in this leader's memory ([`crate::unfinished`]) and in the
//! catalog's held reservation: the resolver finishes it from the first if this leader lives on,
//! and the next leader from the second (it fences the catalog first, so the held reservations
//! it lists are all there will be of earlier terms). A held reservation always becomes an order.

use api::{ApiError, BuyRequest, ErrorCode, Order, ReserveRequest, WriteOutcome};
use tokio::time::Instant;

use crate::catalog_client::ReserveAnswer;
use crate::command::{Buy, CompleteBuy, KeyOutcome, OrderResponse, ORDERS, ORDER_KEYS};
use crate::state::{AppState, BUY_DEADLINE};

/// Runs a whole buy on this replica, which is the order leader.
///
/// # Errors
/// The buy was refused (409/404), the key belongs to another buy (409), or its outcome is not
/// known yet (503 `outcome_unknown`: the resolver will finish it; retry with the same key).
pub async fn buy_as_leader(state: &AppState, req: BuyRequest) -> Result<Order, ApiError> {
    let deadline = Instant::now() + BUY_DEADLINE;
    let term = state.wait_resolved(deadline).await?;
    let BuyRequest {
        key,
        item,
        quantity,
    } = req;
    let buy = Buy {
        key,
        item,
        quantity,
    };
    // A retried buy that has its order answers without asking the catalog.
    if let Some(order) = ordered(state, &buy.key) {
        return same_buy(&buy, order);
    }
    if !state.unfinished.begin(&buy, term) {
        return Err(conflict(&buy.key));
    }
    finish(state, &buy, term, deadline).await
}

/// Reserves and commits `buy` for the order leader of `term`; ends it in the unfinished buys
/// once it ended for good.
///
/// # Errors
/// As [`buy_as_leader`].
pub async fn finish(
    state: &AppState,
    buy: &Buy,
    term: u64,
    deadline: Instant,
) -> Result<Order, ApiError> {
    let reserve = ReserveRequest {
        key: buy.key.clone(),
        item: buy.item,
        quantity: buy.quantity,
    };
    let (title, unit_cost) = match state.reservations.reserve(reserve, term, deadline).await {
        ReserveAnswer::Held(outcome) => (outcome.book.title, outcome.book.cost),
        ReserveAnswer::Refused(e) => {
            // Nothing is held under the key for this buy.
            state.unfinished.end(buy);
            return Err(e);
        }
        ReserveAnswer::Unknown(reason) => {
            return Err(ApiError::new(
                ErrorCode::OutcomeUnknown,
                format!("the catalog gave no answer ({reason}); the buy will be finished if its stock was taken; retrying with the same key is safe"),
            ))
        }
    };
    let order = complete(state, buy, title, unit_cost).await?;
    state.unfinished.end(buy);
    Ok(order)
}

/// Commits the order of `buy`, whose stock the catalog holds, with the next batch
/// ([`crate::completions`], which queues its confirmation).
///
/// # Errors
/// `outcome_unknown` if the commit's outcome is not known (the stock stays held for it); a
/// conflict if the key is ordered for another buy.
pub async fn complete(
    state: &AppState,
    buy: &Buy,
    title: String,
    unit_cost: u64,
) -> Result<Order, ApiError> {
    let command = CompleteBuy {
        buy: buy.clone(),
        title,
        unit_cost,
    };
    match state.completions.complete(command).await.map_err(held)? {
        OrderResponse::Ordered(order) => Ok(order),
        OrderResponse::KeyConflict(key) => {
            tracing::error!(key, "a held reservation's key is ordered for another buy");
            Err(conflict(&key))
        }
        OrderResponse::OrderedAll(_) => {
            tracing::error!(
                key = buy.key,
                "a completion was answered with a batch's answer"
            );
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

/// The answer to a buy whose order failed to commit after its stock was held: the resolver
/// will commit it, so a commit that applied nothing (`no_leader`) still leaves the buy's
/// outcome unknown, never refused.
fn held(e: ApiError) -> ApiError {
    if e.code.write_outcome() != WriteOutcome::NotApplied {
        return e;
    }
    ApiError::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "the buy's stock is held ({}) and its order will be committed; retrying with the same key is safe",
            e.message
        ),
    )
}

/// The order of `key` in this replica's applied state, if it has one.
fn ordered(state: &AppState, key: &str) -> Option<Order> {
    let view = state.replica.view();
    let Some(KeyOutcome::Ordered(number)) = view.get::<KeyOutcome>(ORDER_KEYS, key.as_bytes())
    else {
        return None;
    };
    view.get(ORDERS, &storage::keys::u64_key(number))
}

/// `order` if it is `buy`'s, else a conflict: the key was used for another buy.
fn same_buy(buy: &Buy, order: Order) -> Result<Order, ApiError> {
    if (order.item, order.quantity) == (buy.item, buy.quantity) {
        Ok(order)
    } else {
        Err(conflict(&buy.key))
    }
}

fn conflict(key: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("buy key {key:?} is already used for a different buy"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buy_with_stock_held_is_never_answered_not_applied() {
        // Goal: once the catalog holds the stock, the resolver may still commit the order, so
        // a commit that found no leader is reported as unknown; other answers keep their code.
        let lost = held(ApiError::new(ErrorCode::NoLeader, "no leader"));
        assert_eq!(lost.code, ErrorCode::OutcomeUnknown);
        assert!(lost.message.contains("no leader"), "{}", lost.message);
        for code in [
            ErrorCode::Internal,
            ErrorCode::OutOfStock,
            ErrorCode::Conflict,
        ] {
            assert_eq!(held(ApiError::new(code, "m")).code, code);
        }
    }
}
