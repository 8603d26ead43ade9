//! The buy protocol at the order leader (DESIGN.md section 5).
//!
//! 1. `BeginBuy` records the buy as pending in the order log (or answers a finished key).
//! 2. The catalog reserves the stock under the buy key (idempotent: a retry gets the same outcome).
//! 3. `CompleteBuy` commits the order with the next number, or `AbandonBuy` records a refusal.
//!
//! A crash anywhere leaves the buy pending; the next leader's resolver repeats 2 and 3 with the
//! same key, so the buy ends exactly once and a held reservation always becomes an order.

use api::{ApiError, BuyRequest, ErrorCode, Order, ReserveRequest, WriteOutcome};
use tokio::time::Instant;

use crate::catalog_client::ReserveAnswer;
use crate::command::{AbandonBuy, BeginBuy, CompleteBuy, OrderCommand, OrderResponse, PendingBuy};
use crate::error::Error;
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
    let begun = commit(
        state,
        OrderCommand::BeginBuy(BeginBuy {
            buy: PendingBuy {
                key,
                item,
                quantity,
            },
        }),
    )
    .await?;
    match begun {
        OrderResponse::Pending(pending) => finish(state, &pending, term, deadline).await,
        other => answer(other),
    }
}

/// Steps 2 and 3 for a pending buy, by the order leader of `term`.
///
/// # Errors
/// As [`buy_as_leader`].
pub async fn finish(
    state: &AppState,
    buy: &PendingBuy,
    term: u64,
    deadline: Instant,
) -> Result<Order, ApiError> {
    let reserve = ReserveRequest {
        key: buy.key.clone(),
        item: buy.item,
        quantity: buy.quantity,
    };
    let command = match state.reservations.reserve(reserve, term, deadline).await {
        ReserveAnswer::Held(outcome) => OrderCommand::CompleteBuy(CompleteBuy {
            key: buy.key.clone(),
            title: outcome.book.title,
            unit_cost: outcome.book.cost,
        }),
        ReserveAnswer::Refused(e) => OrderCommand::AbandonBuy(AbandonBuy {
            key: buy.key.clone(),
            code: e.code,
            message: e.message,
        }),
        ReserveAnswer::Unknown(reason) => {
            return Err(ApiError::new(
                ErrorCode::OutcomeUnknown,
                format!("the catalog gave no answer ({reason}); the buy stays pending and will be finished; retrying with the same key is safe"),
            ))
        }
    };
    let order = answer(commit(state, command).await.map_err(still_pending)?)?;
    state.confirmations.confirm(buy.key.clone());
    Ok(order)
}

/// The answer to a buy whose last step failed after `BeginBuy` committed: the buy is pending,
/// and the resolver will finish it, so a step that applied nothing (`no_leader`) still leaves
/// the buy's outcome unknown, never refused.
fn still_pending(e: ApiError) -> ApiError {
    if e.code.write_outcome() != WriteOutcome::NotApplied {
        return e;
    }
    ApiError::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "the buy is pending ({}) and will be finished; retrying with the same key is safe",
            e.message
        ),
    )
}

async fn commit(state: &AppState, command: OrderCommand) -> Result<OrderResponse, ApiError> {
    let written = state.replica.write(command).await.map_err(Error::from)?;
    Ok(written.response)
}

fn answer(response: OrderResponse) -> Result<Order, ApiError> {
    match response {
        OrderResponse::Ordered(order) => Ok(order),
        OrderResponse::Refused { code, message } => Err(ApiError::new(code, message)),
        OrderResponse::KeyConflict(key) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("buy key {key:?} is already used for a different buy"),
        )),
        other => {
            tracing::error!(?other, "buy step answered out of protocol");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_buy_is_never_answered_not_applied() {
        // Goal: once `BeginBuy` committed, the resolver may still complete the buy, so a last
        // step that found no leader is reported as unknown; other answers keep their code.
        let lost = still_pending(ApiError::new(ErrorCode::NoLeader, "no leader"));
        assert_eq!(lost.code, ErrorCode::OutcomeUnknown);
        assert!(lost.message.contains("no leader"), "{}", lost.message);
        for code in [
            ErrorCode::Internal,
            ErrorCode::OutOfStock,
            ErrorCode::Conflict,
        ] {
            assert_eq!(still_pending(ApiError::new(code, "m")).code, code);
        }
    }
}
