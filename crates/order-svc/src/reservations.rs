//! Reservations sent to the catalog in batches.
//!
//! Every buy reserves its stock at the catalog before its order commits. Sent one by one, each
//! costs the catalog leader a request, a proposal and a begin and a done notice to every caching
//! frontend. So buys queue their reservations, and one sender takes every reservation queued
//! while its previous batch was on its way and sends them as one `ReserveAll` (one entry, applied
//! in queue order, each exactly as a `Reserve` alone). Under load a batch holds the buys that
//! arrived during one catalog round trip; a lone buy is sent at once, so it waits for nothing.
//!
//! A reservation not answered for good (no leader, a lost answer) is sent again with the next
//! batch, after a pause, until its buy's deadline; the caller then reports its outcome unknown
//! and the buy stays unfinished for the resolver, as before batching. A buy whose request went
//! away is not sent (it is unfinished, and the resolver finishes it).
//!
//! Each reservation carries the Raft term of the order leader that sends it, which the catalog
//! refuses once a later order leader has fenced (`FenceOrders`). A batch holds reservations of
//! one term, the one this replica leads in when it is sent; one of a term it no longer leads is
//! answered unknown instead of sent (if its stock was taken, the next leader finishes it).

use std::sync::Arc;
use std::time::Duration;

use api::{ApiError, ReserveAllItem, ReserveRequest, RESERVE_ALL_MAX};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalog_client::{sort, Attempt, CatalogClient, ReserveAnswer};

/// Pause before a batch that holds reservations not answered for good the last time.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Reservations queued at most; past it a buy waits for room (back-pressure).
const QUEUED_MAX: usize = 16 * RESERVE_ALL_MAX;

/// A reservation waiting for the catalog's answer.
struct Waiting {
    request: ReserveRequest,
    order_term: u64,
    deadline: Instant,
    answer: oneshot::Sender<ReserveAnswer>,
}

/// The queue of reservations to send; cheap to clone.
#[derive(Debug, Clone)]
pub struct Reservations {
    queue: mpsc::Sender<Waiting>,
}

impl Reservations {
    /// The queue, and its sender task to spawn: it sends batches through `catalog` until
    /// `cancel`; `leading` tells the term this replica leads the order group in, if it does.
    pub fn new(
        catalog: Arc<CatalogClient>,
        leading: impl Fn() -> Option<u64> + Send + 'static,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        (
            Self { queue },
            send_batches(catalog, waiting, leading, cancel),
        )
    }

    /// Reserves `request` (idempotent under its key) for the order leader of `order_term`, with
    /// the next batch and again after each answer that was not for good, until a definitive
    /// answer, `deadline`, or the end of this replica's leadership in that term.
    pub async fn reserve(
        &self,
        request: ReserveRequest,
        order_term: u64,
        deadline: Instant,
    ) -> ReserveAnswer {
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            request,
            order_term,
            deadline,
            answer,
        };
        let unknown = |why: &str| ReserveAnswer::Unknown(why.to_string());
        match tokio::time::timeout_at(deadline, self.queue.send(waiting)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return unknown("the reservation sender has stopped"),
            Err(_) => return unknown("the reservation queue stayed full until the deadline"),
        }
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => unknown("the reservation sender has stopped"),
            Err(_) => unknown("the catalog gave no definitive answer before the deadline"),
        }
    }
}

/// Sends batches until `cancel` or the queue closes: what is to be sent again first, then
/// whatever is queued, up to [`RESERVE_ALL_MAX`].
async fn send_batches(
    catalog: Arc<CatalogClient>,
    mut queue: mpsc::Receiver<Waiting>,
    leading: impl Fn() -> Option<u64>,
    cancel: CancellationToken,
) {
    let mut again: Vec<Waiting> = Vec::new();
    loop {
        if again.is_empty() {
            tokio::select! {
                () = cancel.cancelled() => return,
                first = queue.recv() => match first {
                    Some(first) => again.push(first),
                    None => return,
                },
            }
        } else {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
        let now = Instant::now();
        let batch = next_batch(std::mem::take(&mut again), &mut queue, leading(), now);
        let Some(deadline) = batch.iter().map(|w| w.deadline).max() else {
            continue;
        };
        let order_term = batch[0].order_term;
        let requests = batch.iter().map(|w| w.request.clone()).collect();
        let answered = tokio::select! {
            () = cancel.cancelled() => return,
            answered = catalog.reserve_all(requests, order_term, deadline) => answered,
        };
        again = answer(batch, answered);
    }
}

/// `first` and whatever else is queued now, up to [`RESERVE_ALL_MAX`], without the ones whose
/// caller has gone or whose deadline has passed at `now` (their callers answer themselves), and
/// without those of a term other than `leading`, answered unknown: all of one term.
fn next_batch(
    mut batch: Vec<Waiting>,
    queue: &mut mpsc::Receiver<Waiting>,
    leading: Option<u64>,
    now: Instant,
) -> Vec<Waiting> {
    batch.retain(|w| wanted(w, now));
    while batch.len() < RESERVE_ALL_MAX {
        match queue.try_recv() {
            Ok(w) if wanted(&w, now) => batch.push(w),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let (batch, other_term): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|w| Some(w.order_term) == leading);
    for w in other_term {
        let why = "this replica no longer leads the order group in the buy's term; the leader finishes the buy if its stock was taken";
        let _ = w.answer.send(ReserveAnswer::Unknown(why.to_string()));
    }
    batch
}

fn wanted(w: &Waiting, now: Instant) -> bool {
    !w.answer.is_closed() && w.deadline > now
}

/// Answers each reservation of `batch` that `answered` settles for good; the others, to send
/// again.
fn answer(batch: Vec<Waiting>, answered: Result<Vec<ReserveAllItem>, String>) -> Vec<Waiting> {
    let items = match answered {
        Ok(items) if items.len() == batch.len() => items,
        Ok(items) => {
            tracing::error!(
                sent = batch.len(),
                answered = items.len(),
                "the catalog answered a batch of reservations with another count; sending it again"
            );
            return batch;
        }
        Err(reason) => {
            tracing::debug!(count = batch.len(), %reason, "a batch of reservations got no answer; sending it again");
            return batch;
        }
    };
    let mut again = Vec::new();
    for (w, item) in batch.into_iter().zip(items) {
        let settled = match item {
            ReserveAllItem::Held(outcome) => ReserveAnswer::Held(outcome),
            ReserveAllItem::Refused(body) => match sort(ApiError::from(body)) {
                Attempt::Definitive(e) => ReserveAnswer::Refused(e),
                Attempt::Retry(_) => {
                    again.push(w);
                    continue;
                }
            },
        };
        // A caller that has gone needs no answer.
        let _ = w.answer.send(settled);
    }
    again
}

#[cfg(test)]
mod tests {
    use api::{Book, ErrorCode, Reservation, ReservationState, ReserveOutcome};

    use super::*;

    fn waiting(key: &str, deadline: Instant) -> (Waiting, oneshot::Receiver<ReserveAnswer>) {
        let (answer, answered) = oneshot::channel();
        let request = ReserveRequest {
            key: key.into(),
            item: 1,
            quantity: 1,
        };
        let w = Waiting {
            request,
            order_term: TERM,
            deadline,
            answer,
        };
        (w, answered)
    }

    /// The term the tests' order leader leads in.
    const TERM: u64 = 7;

    fn held(key: &str) -> ReserveAllItem {
        let book = Book {
            id: 1,
            title: "t".into(),
            topic: "ds".into(),
            cost: 1,
            stock: 3,
        };
        let reservation = Reservation {
            key: key.into(),
            item: 1,
            quantity: 1,
            state: ReservationState::Held,
        };
        ReserveAllItem::Held(ReserveOutcome {
            reservation,
            book,
            log_index: 9,
        })
    }

    #[tokio::test]
    async fn a_batch_takes_what_is_queued_but_not_what_nobody_waits_for() {
        // Goal: one batch per round: what is to be sent again first, then the queue in order,
        // never more than one request may carry; a reservation whose caller went away or whose
        // deadline passed is left out. Method: a queue filled past the batch size.
        let (tx, mut rx) = mpsc::channel(QUEUED_MAX);
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let (again, _a) = waiting("again", later);
        let (gone, gone_rx) = waiting("gone", later);
        drop(gone_rx);
        tx.try_send(gone).unwrap();
        let (late, _l) = waiting("late", now);
        tx.try_send(late).unwrap();
        let mut receivers = Vec::new();
        for i in 0..RESERVE_ALL_MAX + 10 {
            let (w, r) = waiting(&format!("k{i}"), later);
            tx.try_send(w).unwrap();
            receivers.push(r);
        }
        let batch = next_batch(vec![again], &mut rx, Some(TERM), now);
        let keys: Vec<&str> = batch.iter().map(|w| w.request.key.as_str()).collect();
        assert_eq!(keys.len(), RESERVE_ALL_MAX);
        assert_eq!(keys[..3], ["again", "k0", "k1"]);
        let rest = next_batch(Vec::new(), &mut rx, Some(TERM), now);
        assert_eq!(rest.len(), 11);
    }

    #[tokio::test]
    async fn a_reservation_of_a_term_no_longer_led_is_answered_unknown_not_sent() {
        // Goal: a batch holds reservations of the term this replica leads in; one of an earlier
        // term (the catalog would refuse it once fenced; if it took stock before, the next
        // leader finishes it) is answered unknown at once, and none is sent when this replica
        // leads none.
        let (tx, mut rx) = mpsc::channel(QUEUED_MAX);
        let later = Instant::now() + Duration::from_secs(5);
        let (mut old, old_rx) = waiting("old", later);
        old.order_term = TERM - 1;
        tx.try_send(old).unwrap();
        let (now_term, _n) = waiting("now", later);
        tx.try_send(now_term).unwrap();
        let batch = next_batch(Vec::new(), &mut rx, Some(TERM), Instant::now());
        let keys: Vec<&str> = batch.iter().map(|w| w.request.key.as_str()).collect();
        assert_eq!(keys, ["now"]);
        assert!(matches!(old_rx.await.unwrap(), ReserveAnswer::Unknown(_)));
        let (lone, lone_rx) = waiting("lone", later);
        assert!(next_batch(vec![lone], &mut rx, None, Instant::now()).is_empty());
        assert!(matches!(lone_rx.await.unwrap(), ReserveAnswer::Unknown(_)));
    }

    #[tokio::test]
    async fn only_an_answer_for_good_settles_a_reservation() {
        // Goal: held and definitive refusals are answered; an item refused for a passing reason,
        // a batch with no answer, or an answer of the wrong length, are all sent again.
        let later = Instant::now() + Duration::from_secs(5);
        let (a, a_rx) = waiting("a", later);
        let (b, b_rx) = waiting("b", later);
        let (c, _c_rx) = waiting("c", later);
        let out_of_stock = ApiError::new(ErrorCode::OutOfStock, "none left").body();
        let passing = ApiError::new(ErrorCode::NoLeader, "no leader").body();
        let items = vec![
            held("a"),
            ReserveAllItem::Refused(out_of_stock),
            ReserveAllItem::Refused(passing),
        ];
        let again = answer(vec![a, b, c], Ok(items));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].request.key, "c");
        assert!(matches!(a_rx.await.unwrap(), ReserveAnswer::Held(_)));
        match b_rx.await.unwrap() {
            ReserveAnswer::Refused(e) => assert_eq!(e.code, ErrorCode::OutOfStock),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let again = answer(again, Err("connection refused".into()));
        assert_eq!(again.len(), 1);
        let again = answer(again, Ok(vec![held("c"), held("x")]));
        assert_eq!(
            again.len(),
            1,
            "an answer of another length settles nothing"
        );
    }
}
