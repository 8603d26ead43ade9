//! The leader's resolver: finishes buys left pending (by a crashed leader, or by a buy whose
//! catalog call timed out), so that no reservation leaks and no order is lost.
//!
//! A new leader's first pass begins by fencing out, at the catalog, the reservations of every
//! order leader of an earlier term (`FenceOrders`): a deposed leader still sending cannot take
//! stock behind its back. The catalog answers the reservations still held; those of committed
//! orders are confirmed (their confirmation was lost), and those of pending buys are finished
//! with the rest.

use std::collections::HashSet;
use std::time::Duration;

use api::{ApiError, Order, WriteOutcome};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buy::finish;
use crate::command::{KeyOutcome, PendingBuy, ORDER_KEYS, PENDING};
use crate::state::{AppState, BUY_DEADLINE};

/// Period of resolver passes.
const RESOLVE_INTERVAL: Duration = Duration::from_millis(250);

/// Runs until cancelled: on the leader, each pass finishes pending buys; the first complete pass
/// of a term opens that term to new buys (`resolved`).
pub(crate) async fn run(state: AppState, resolved: watch::Sender<u64>, cancel: CancellationToken) {
    // Keys pending at the previous pass of this term: pending twice in a row means stuck (a
    // buy in progress normally finishes within one interval).
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

/// One pass of the leader of `term` (`all`: the first of the term, which fences and takes on
/// every pending buy); true if every buy it took on finished definitively.
async fn pass(
    state: &AppState,
    term: u64,
    all: bool,
    seen: &mut HashSet<String>,
) -> Result<bool, storage::Error> {
    // Applies every committed entry first, the predecessor's `BeginBuy`s included.
    state.replica.linearizable_read().await?;
    if all {
        match state
            .catalog
            .fence_orders(term, Instant::now() + BUY_DEADLINE)
            .await
        {
            Ok(held) => settle_held(state, &held),
            Err(reason) => {
                tracing::debug!(term, %reason, "fencing out earlier order leaders failed");
                return Ok(false);
            }
        }
    }
    let pending: Vec<PendingBuy> = state
        .replica
        .view()
        .scan::<PendingBuy>(PENDING)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let now: HashSet<String> = pending.iter().map(|p| p.key.clone()).collect();
    let mut all_finished = true;
    for buy in pending.iter().filter(|p| all || seen.contains(&p.key)) {
        tracing::info!(key = buy.key, item = buy.item, "finishing a pending buy");
        let deadline = Instant::now() + BUY_DEADLINE;
        all_finished &= finished(&finish(state, buy, term, deadline).await);
    }
    *seen = now;
    Ok(all_finished)
}

/// Confirms the held reservations of committed orders (their confirmation was lost); a held
/// reservation of a pending buy is left to the pass, which finishes the buy.
fn settle_held(state: &AppState, held: &[api::ReserveOutcome]) {
    let view = state.replica.view();
    for reservation in held.iter().map(|h| &h.reservation) {
        let key = reservation.key.as_bytes();
        match view.get::<KeyOutcome>(ORDER_KEYS, key) {
            Some(KeyOutcome::Ordered(_)) => state.confirmations.confirm(reservation.key.clone()),
            Some(KeyOutcome::Refused { .. }) => {
                tracing::error!(
                    key = reservation.key,
                    "a refused buy's reservation holds stock"
                );
            }
            None if view.get::<PendingBuy>(PENDING, key).is_some() => {}
            None => {
                tracing::warn!(key = reservation.key, "a held reservation of no known buy");
            }
        }
    }
}

/// Whether a pending buy ended for good: an order, or a definite refusal. Anything else (no
/// leader, unknown, `internal`) may leave it pending: the next pass resends the same key.
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
        // Goal: a pending buy whose finishing failed with `internal` is not counted as done
        // (the term stays closed to new buys and the next pass retries its key); only an
        // order or a definite refusal finish it.
        let err = |code| Err(ApiError::new(code, "m"));
        assert!(!finished(&err(ErrorCode::Internal)));
        assert!(!finished(&err(ErrorCode::OutcomeUnknown)));
        assert!(!finished(&err(ErrorCode::NoLeader)));
        assert!(!finished(&err(ErrorCode::Timeout)));
        assert!(finished(&err(ErrorCode::OutOfStock)));
        assert!(finished(&err(ErrorCode::NotFound)));
    }
}
