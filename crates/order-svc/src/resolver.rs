//! The leader's resolver: finishes the buys whose stock the catalog may hold without an order
//! (their leader crashed, or their reservation or order got no answer), so that no reservation
//! leaks and no order is lost.
//!
//! A new leader's first pass fences the catalog at its term (`FenceOrders`): from then on no
//! reservation of an earlier order term can apply, so the held reservations the catalog answers
//! are every buy its predecessors may have left half-done. Each becomes its order (or, if it has
//! one, is confirmed: its confirmation was lost). Only then does the term take new buys. Later
//! passes finish this leader's own unfinished buys that stayed so for two passes in a row.

use std::collections::HashSet;
use std::time::Duration;

use api::{ApiError, Order, ReserveOutcome, WriteOutcome};
use futures::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buy::{complete, finish};
use crate::command::{Buy, KeyOutcome, ORDERS, ORDER_KEYS};
use crate::state::{AppState, BUY_DEADLINE};

/// Period of resolver passes.
const RESOLVE_INTERVAL: Duration = Duration::from_millis(250);

/// Runs until cancelled: on the leader, each pass finishes unfinished buys; the first complete
/// pass of a term opens that term to new buys (`resolved`).
pub(crate) async fn run(state: AppState, resolved: watch::Sender<u64>, cancel: CancellationToken) {
    // Keys unfinished at the previous pass of this term: unfinished twice in a row means stuck
    // (a buy in progress normally finishes within one interval).
    let mut seen: HashSet<String> = HashSet::new();
    let mut seen_term = 0;
    loop {
        let leadership = state.replica.leadership();
        if leadership.is_leader {
            let first_pass = *resolved.borrow() < leadership.term;
            if seen_term != leadership.term {
                (seen, seen_term) = (HashSet::new(), leadership.term);
            }
            match pass(&state, leadership.term, first_pass, &mut seen).await {
                Ok(true) => {
                    resolved.send_if_modified(|t| {
                        (*t < leadership.term)
                            .then(|| *t = leadership.term)
                            .is_some()
                    });
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "resolver pass failed"),
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RESOLVE_INTERVAL) => {}
        }
    }
}

/// One pass of the leader of `term` (`first`: the term's first, which fences and finishes every
/// held reservation); true if every buy it took on ended for good.
async fn pass(
    state: &AppState,
    term: u64,
    first: bool,
    seen: &mut HashSet<String>,
) -> Result<bool, storage::Error> {
    // Applies every committed entry first, the predecessors' orders included.
    state.replica.linearizable_read().await?;
    let mut all_finished = true;
    if first {
        let deadline = Instant::now() + BUY_DEADLINE;
        let held = match state.catalog.fence_orders(term, deadline).await {
            Ok(held) => held,
            Err(reason) => {
                tracing::debug!(term, %reason, "fencing out earlier order leaders failed");
                return Ok(false);
            }
        };
        // Concurrently: their orders go into the log together (one append for many).
        let settled = join_all(held.into_iter().map(|h| settle_held(state, h))).await;
        all_finished &= settled.iter().all(finished);
        state.unfinished.forget_before(term);
    }
    let unfinished = state.unfinished.list();
    let now: HashSet<String> = unfinished.iter().map(|b| b.key.clone()).collect();
    for buy in unfinished.iter().filter(|b| seen.contains(&b.key)) {
        tracing::info!(
            key = buy.key,
            item = buy.item,
            "finishing an unfinished buy"
        );
        let deadline = Instant::now() + BUY_DEADLINE;
        all_finished &= finished(&finish(state, buy, term, deadline).await);
    }
    *seen = now;
    Ok(all_finished)
}

/// A reservation held when this leader fenced: its order, committed now if it has none.
async fn settle_held(state: &AppState, held: ReserveOutcome) -> Result<Order, ApiError> {
    let r = held.reservation;
    let buy = Buy {
        key: r.key,
        item: r.item,
        quantity: r.quantity,
    };
    let view = state.replica.view();
    if let Some(KeyOutcome::Ordered(number)) = view.get(ORDER_KEYS, buy.key.as_bytes()) {
        if let Some(order) = view.get::<Order>(ORDERS, &storage::keys::u64_key(number)) {
            // Ordered, but its confirmation was lost.
            state.confirmations.confirm(buy.key);
            return Ok(order);
        }
    }
    tracing::info!(
        key = buy.key,
        item = buy.item,
        "committing the order of a held reservation"
    );
    complete(state, &buy, held.book.title, held.book.cost).await
}

/// Whether a buy ended for good: an order, or a definite refusal. Anything else (no leader,
/// unknown, `internal`) may leave its stock held: the next pass tries it again.
fn finished(result: &Result<Order, ApiError>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => e.code.write_outcome() == WriteOutcome::Refused,
    }
}

#[cfg(test)]
mod tests {
    use api::ErrorCode;

    use super::*;

    #[test]
    fn a_buy_answered_internal_is_not_finished() {
        // Goal: a buy whose finishing failed with `internal` is not counted as done (the term
        // stays closed to new buys and the next pass retries its key); only an order or a
        // definite refusal finish it.
        let err = |code| Err(ApiError::new(code, "m"));
        assert!(!finished(&err(ErrorCode::Internal)));
        assert!(!finished(&err(ErrorCode::OutcomeUnknown)));
        assert!(!finished(&err(ErrorCode::NoLeader)));
        assert!(!finished(&err(ErrorCode::Timeout)));
        assert!(finished(&err(ErrorCode::OutOfStock)));
        assert!(finished(&err(ErrorCode::NotFound)));
    }
}
