//! Buys sent to the order group in batches (#13).
//!
//! A buy sent alone costs the order leader a request of its own: reading it, routing it, and
//! writing its answer, which under load is most of what the leader spends serving the
//! frontend. So buys queue, and a sender takes every buy queued while [`IN_FLIGHT_MAX`] earlier
//! batches are on their way and sends them as one `POST /buy-all`, which the leader runs as it
//! runs each `POST /buy` alone. A lone buy is sent at once as `POST /buy`, so one buy at a
//! time waits for nothing.
//!
//! A batch goes through the backend's rounds as a single buy does (leader first, every
//! replica, capped backoff, until its deadline): each of its buys carries its key, so sending
//! it again applies none twice. A buy the leader answered with a passing error (`no_leader`,
//! `outcome_unknown`) goes again with a later batch after a pause, until its own deadline. A
//! buy whose request went away before its batch left is not sent; a batch (or a lone buy) whose
//! every request went away stops being sent, as a request's own call stopped before batching,
//! and what the order leader had begun of it, its unfinished buys finish.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use api::{BuyAllItem, BuyAllOutcome, BuyAllRequest, BuyRequest, ErrorCode, Order, BUY_ALL_MAX};
use api::{BUY_ALL_PATH, RESERVE_ALL_MAX};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::backend::{
    sort_item_error, Backend, BackendCall, CallKind, ItemEnd, BACKOFF_MS_MAX, BACKOFF_MS_MIN,
};
use crate::context::RequestContext;
use crate::error::{Error, Result};
use crate::pool::ReplicaPool;

/// Batches on their way at once: a new one leaves as soon as one of them is answered, so the
/// order leader works on one batch while the next is read and the last is answered.
const IN_FLIGHT_MAX: usize = 4;
/// Buys queued at most; past it a buy waits for room (back-pressure), within its deadline.
const QUEUED_MAX: usize = 16 * BUY_ALL_MAX;

// A batch's buys fit in one reservation batch of the order leader.
const _: () = assert!(BUY_ALL_MAX <= RESERVE_ALL_MAX);

/// A buy waiting to be sent, or for its batch's answer.
struct Waiting {
    buy: BuyRequest,
    ctx: RequestContext,
    deadline: Instant,
    answer: oneshot::Sender<Sent>,
}

/// How one sending of a buy ended.
enum Sent {
    /// Its order is committed.
    Ordered(Order),
    /// Its call ended for good (a refusal, or the deadline of the rounds behind it).
    Final(Error),
    /// The leader answered it alone with a passing error: send it again.
    Again { reason: String, maybe_applied: bool },
}

/// The order group's buys, queued and sent in batches.
#[derive(Debug)]
pub(crate) struct BuyQueue {
    backend: Arc<Backend>,
    orders: Arc<ReplicaPool>,
    /// Started with the first buy, on the runtime that serves it.
    queue: OnceLock<mpsc::Sender<Waiting>>,
}

impl BuyQueue {
    /// A queue sending through `backend` to the order group's replicas in `orders`.
    pub(crate) fn new(backend: Arc<Backend>, orders: Arc<ReplicaPool>) -> Self {
        Self {
            backend,
            orders,
            queue: OnceLock::new(),
        }
    }

    /// Places `buy` with the order group, in the next batch and again after each passing
    /// answer, until its order, a refusal, or `deadline`.
    ///
    /// # Errors
    /// [`Error::Rejected`] as the leader refused it; at the deadline
    /// [`Error::OutcomeUnknown`] if it may have applied, else [`Error::Unavailable`].
    pub(crate) async fn place(
        &self,
        buy: &BuyRequest,
        ctx: &RequestContext,
        deadline: Instant,
    ) -> Result<Order> {
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::channel(QUEUED_MAX);
            let sender = send_batches(Arc::clone(&self.backend), Arc::clone(&self.orders), waiting);
            tokio::spawn(sender);
            queue
        });
        let group = self.orders.group();
        let mut backoff = Duration::from_millis(BACKOFF_MS_MIN);
        let mut maybe_applied = false;
        loop {
            let (answer, answered) = oneshot::channel();
            let waiting = Waiting {
                buy: buy.clone(),
                ctx: ctx.clone(),
                deadline,
                answer,
            };
            let sent = async {
                queue.send(waiting).await.ok()?;
                answered.await.ok()
            };
            let reason = match tokio::time::timeout_at(deadline, sent).await {
                Ok(Some(Sent::Ordered(order))) => return Ok(order),
                Ok(Some(Sent::Final(e))) => return Err(e),
                Ok(Some(Sent::Again {
                    reason,
                    maybe_applied: maybe,
                })) => {
                    maybe_applied |= maybe;
                    reason
                }
                // The sender is gone (the frontend is stopping): the buy may have left.
                Ok(None) => {
                    let reason = "the frontend stopped sending buys".to_string();
                    return Err(Error::OutcomeUnknown { group, reason });
                }
                // Queued or on its way when the deadline came: it may still apply.
                Err(_) => {
                    let reason = "the buy was on its way at its deadline".to_string();
                    return Err(Error::OutcomeUnknown { group, reason });
                }
            };
            if Instant::now() + backoff >= deadline {
                return Err(if maybe_applied {
                    Error::OutcomeUnknown { group, reason }
                } else {
                    Error::Unavailable { group, reason }
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(BACKOFF_MS_MAX));
        }
    }
}

/// Sends batches until the queue closes: what was held back from the last batch first, then
/// whatever is queued once a batch may leave, up to [`BUY_ALL_MAX`].
async fn send_batches(
    backend: Arc<Backend>,
    orders: Arc<ReplicaPool>,
    mut queue: mpsc::Receiver<Waiting>,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT_MAX));
    let mut held_back: Vec<Waiting> = Vec::new();
    loop {
        if held_back.is_empty() {
            match queue.recv().await {
                Some(first) => held_back.push(first),
                None => return,
            }
        }
        let permit = Arc::clone(&in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (batch, later) = next_batch(std::mem::take(&mut held_back), &mut queue, Instant::now());
        held_back = later;
        if !batch.is_empty() {
            let send = send(Arc::clone(&backend), Arc::clone(&orders), batch, permit);
            tokio::spawn(send);
        }
    }
}

/// `first` and whatever else is queued now, without the buys whose caller has gone or whose
/// deadline has passed at `now` (their callers answer themselves); a buy whose key is already
/// in the batch (a client's retry racing its first try), or past [`BUY_ALL_MAX`], is held back
/// for the next one.
fn next_batch(
    first: Vec<Waiting>,
    queue: &mut mpsc::Receiver<Waiting>,
    now: Instant,
) -> (Vec<Waiting>, Vec<Waiting>) {
    let mut batch = Vec::new();
    let mut later = Vec::new();
    let mut keys = HashSet::new();
    let mut first = first.into_iter();
    let queued = std::iter::from_fn(|| queue.try_recv().ok());
    for w in first.by_ref().chain(queued) {
        if w.answer.is_closed() || w.deadline <= now {
            continue;
        }
        if keys.insert(w.buy.key.clone()) {
            batch.push(w);
            if batch.len() == BUY_ALL_MAX {
                break;
            }
        } else {
            later.push(w);
        }
    }
    later.extend(first);
    (batch, later)
}

/// Sends `batch` (as `/buy` if it is one buy) and answers each of its buys.
async fn send(
    backend: Arc<Backend>,
    orders: Arc<ReplicaPool>,
    mut batch: Vec<Waiting>,
    _in_flight: OwnedSemaphorePermit,
) {
    if batch.len() == 1 {
        let mut w = batch.pop().expect("one buy");
        let call = BackendCall::post("/buy".into(), &w.buy, CallKind::IdempotentWrite, w.deadline);
        let sent = tokio::select! {
            sent = backend.call(&orders, &call, &w.ctx) => sent,
            () = w.answer.closed() => return,
        };
        let sent = match sent {
            Ok(order) => Sent::Ordered(order),
            Err(e) => Sent::Final(e),
        };
        // A caller that has gone needs no answer.
        let _ = w.answer.send(sent);
        return;
    }
    let group = orders.group();
    let deadline = batch
        .iter()
        .map(|w| w.deadline)
        .max()
        .expect("a batch is never empty");
    let request = BuyAllRequest {
        buys: batch.iter().map(|w| w.buy.clone()).collect(),
    };
    let call = BackendCall::post(
        BUY_ALL_PATH.into(),
        &request,
        CallKind::IdempotentWrite,
        deadline,
    );
    let ctx = RequestContext::default();
    let answered = tokio::select! {
        answered = backend.call_answered::<BuyAllOutcome>(&orders, &call, &ctx) => answered,
        () = callers_gone(&mut batch) => return,
    };
    for w in &batch {
        w.ctx.timings.extend(&ctx.timings);
    }
    let sent: Vec<Sent> = match answered {
        Ok((replica_id, outcome)) if outcome.items.len() == batch.len() => outcome
            .items
            .into_iter()
            .map(|item| match item {
                BuyAllItem::Ordered(order) => Sent::Ordered(order),
                BuyAllItem::Failed(body) => match sort_item_error(group, replica_id, body.into()) {
                    ItemEnd::Final(e) => Sent::Final(e),
                    ItemEnd::Again {
                        reason,
                        maybe_applied,
                    } => Sent::Again {
                        reason,
                        maybe_applied,
                    },
                },
            })
            .collect(),
        Ok((replica_id, outcome)) => {
            let reason = format!(
                "answered {} items for a batch of {} buys",
                outcome.items.len(),
                batch.len()
            );
            (0..batch.len())
                .map(|_| {
                    Sent::Final(Error::BadAnswer {
                        group,
                        replica_id,
                        reason: reason.clone(),
                    })
                })
                .collect()
        }
        Err(e) => (0..batch.len())
            .map(|_| Sent::Final(for_each_buy(&e)))
            .collect(),
    };
    for (w, sent) in batch.into_iter().zip(sent) {
        let _ = w.answer.send(sent);
    }
}

/// Resolves once no buy of `batch` has a caller waiting for its answer: its clients went away
/// (each buy's key makes stopping safe, and the order leader finishes whatever it began), so the
/// batch stops being sent rather than hold its slot until its deadline.
async fn callers_gone(batch: &mut [Waiting]) {
    futures::future::join_all(batch.iter_mut().map(|w| w.answer.closed())).await;
}

/// The error of a batch's call, for one of its buys. A refusal of the whole batch is never
/// about one buy (each was checked before it queued), so it does not pass through to the
/// client as one: a replica that does not know `/buy-all` answers 404, which is no "no such
/// book".
fn for_each_buy(e: &Error) -> Error {
    match e {
        Error::Unavailable { group, reason } => Error::Unavailable {
            group,
            reason: reason.clone(),
        },
        Error::OutcomeUnknown { group, reason } => Error::OutcomeUnknown {
            group,
            reason: reason.clone(),
        },
        Error::Rejected {
            group,
            replica_id,
            error,
        } => match error.code {
            ErrorCode::BadRequest
            | ErrorCode::NotFound
            | ErrorCode::OutOfStock
            | ErrorCode::Conflict => Error::BadAnswer {
                group,
                replica_id: *replica_id,
                reason: format!("refused a batch of buys: {error}"),
            },
            _ => Error::Rejected {
                group,
                replica_id: *replica_id,
                error: error.clone(),
            },
        },
        Error::BadAnswer {
            group,
            replica_id,
            reason,
        } => Error::BadAnswer {
            group,
            replica_id: *replica_id,
            reason: reason.clone(),
        },
        other => Error::Unavailable {
            group: "orders",
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use futures::future::join_all;
    use serde_json::json;

    use super::*;
    use crate::testutil::{error_body, post_json, send, Harness};

    fn buy_req(key: &str, quantity: u64) -> axum::extract::Request {
        let body = format!(r#"{{"item": 1, "quantity": {quantity}}}"#);
        post_json("/orders", &body, &[("idempotency-key", key)])
    }

    #[tokio::test]
    async fn concurrent_buys_leave_together_and_each_gets_its_own_order() {
        // Goal: buys queued while another is on its way leave as one `/buy-all`, and each
        // answer is its own buy's order (quantity i + 1 for buy i), its stock taken once, with
        // the batch's tier time in its `Server-Timing`.
        let h = Harness::start().await;
        h.orders.fake.set_stock(1, 10_000);
        let buys = (0..40u64).map(|i| send(&h.app, buy_req(&format!("k-{i}"), i + 1)));
        let answers = join_all(buys).await;
        let mut numbers = HashSet::new();
        for (i, answer) in (0..40u64).zip(&answers) {
            assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
            let order = answer.json();
            assert_eq!(order["quantity"].as_u64(), Some(i + 1), "{order}");
            assert!(numbers.insert(order["number"].as_u64().unwrap()));
            assert!(answer.server_timing().contains("orders;dur="));
        }
        let batches = h.orders.fake.seen(BUY_ALL_PATH);
        assert!(!batches.is_empty(), "no batch was sent");
        assert!(batches
            .iter()
            .all(|b| b.body["buys"].as_array().unwrap().len() > 1));
        assert_eq!(h.orders.fake.stock(1), 10_000 - (1..=40).sum::<u64>());
        // A buy alone still goes as `/buy`.
        let lone = send(&h.app, buy_req("k-lone", 1)).await;
        assert_eq!(lone.status, StatusCode::CREATED);
        let last = h.orders.fake.seen("/buy").pop().unwrap();
        assert_eq!(
            (last.path.as_str(), &last.body["key"]),
            ("/buy", &json!("k-lone"))
        );
    }

    #[tokio::test]
    async fn a_buy_the_leader_could_not_take_alone_goes_again_and_a_refusal_passes_through() {
        // Goal: within a batch, a buy answered `no_leader` or `outcome_unknown` is sent again
        // (with its key) and gets its order; one answered `out_of_stock` is the client's 409.
        let h = Harness::start().await;
        let failed = |code| json!({"failed": error_body(code)});
        h.orders.fake.script(
            StatusCode::OK,
            json!({"items": [failed("no_leader"), failed("outcome_unknown"), failed("out_of_stock")]}),
        );
        let buys = ["a", "b", "c"].map(|key| send(&h.app, buy_req(key, 1)));
        let [a, b, c] = <[_; 3]>::try_from(join_all(buys).await).unwrap();
        assert_eq!(
            h.orders.fake.seen(BUY_ALL_PATH)[0].body["buys"][2]["key"],
            "c"
        );
        assert_eq!(
            (a.status, b.status),
            (StatusCode::CREATED, StatusCode::CREATED)
        );
        assert_eq!(
            (c.status, c.error_code()),
            (StatusCode::CONFLICT, "out_of_stock".to_string())
        );
        let keys: Vec<_> = h.orders.fake.seen("/buy")[1..]
            .iter()
            .flat_map(|s| match s.body.get("buys") {
                Some(buys) => buys.as_array().unwrap().clone(),
                None => vec![s.body.clone()],
            })
            .map(|b| b["key"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys.len(), 2, "sent again: {keys:?}");
        assert!(keys.contains(&"a".into()) && keys.contains(&"b".into()));
        assert_eq!(h.orders.fake.stock(1), 3);
    }

    #[tokio::test]
    async fn a_refusal_of_the_whole_batch_is_no_buys_refusal() {
        // Goal: a replica refusing the batch itself (404: it has no `/buy-all`) answers each
        // buy 500, never a 404 "no such book" that the client would take as final.
        let h = Harness::start().await;
        h.orders
            .fake
            .script(StatusCode::NOT_FOUND, error_body("not_found"));
        let buys = ["a", "b"].map(|key| send(&h.app, buy_req(key, 1)));
        for answer in join_all(buys).await {
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::INTERNAL_SERVER_ERROR, "internal".to_string())
            );
        }
    }

    #[tokio::test]
    async fn buys_whose_clients_went_away_stop_being_sent() {
        // Goal: while the order group answers `no_leader`, a batch (and a lone buy) whose every
        // client went away stops being sent, instead of being sent again until its deadline and
        // holding one of the sending slots; a buy after them is answered. Method: the clients
        // give up after 500 ms of a 60 s deadline; the requests the fake saw must then stop
        // growing (sent again, they would grow by one every 200 ms at most).
        let h = Harness::start_with(|c| c.write_deadline = Duration::from_secs(60)).await;
        for _ in 0..10_000 {
            h.orders
                .fake
                .script(StatusCode::SERVICE_UNAVAILABLE, error_body("no_leader"));
        }
        let lone = send(&h.app, buy_req("lone", 1));
        let _ = tokio::time::timeout(Duration::from_millis(500), lone).await;
        let batch = join_all(["a", "b", "c"].map(|key| send(&h.app, buy_req(key, 1))));
        let _ = tokio::time::timeout(Duration::from_millis(500), batch).await;
        assert!(
            !h.orders.fake.seen(BUY_ALL_PATH).is_empty(),
            "the batch was sent"
        );
        let sent = || h.orders.fake.seen("/buy").len();
        let mut last = sent();
        let mut stopped = false;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let now = sent();
            if now == last {
                stopped = true;
                break;
            }
            last = now;
        }
        assert!(
            stopped,
            "still sent after their clients went away: {last} requests"
        );
        h.orders.fake.unscript();
        let after = send(&h.app, buy_req("after", 1)).await;
        assert_eq!(after.status, StatusCode::CREATED, "{:?}", after.body);
    }

    fn waiting(key: &str, deadline: Instant) -> (Waiting, oneshot::Receiver<Sent>) {
        let (answer, answered) = oneshot::channel();
        let buy = BuyRequest {
            key: key.into(),
            item: 1,
            quantity: 1,
        };
        let ctx = RequestContext::default();
        let w = Waiting {
            buy,
            ctx,
            deadline,
            answer,
        };
        (w, answered)
    }

    #[tokio::test]
    async fn a_batch_holds_one_buy_per_key_and_skips_the_gone_and_the_late() {
        // Goal: a second buy under a key already in the batch waits for the next batch; a buy
        // whose caller went away or whose deadline passed is dropped; the rest leave in order.
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let (tx, mut queue) = mpsc::channel(16);
        let (first, _a) = waiting("a", later);
        let mut kept = Vec::new();
        for (key, deadline) in [("b", later), ("a", later), ("late", now), ("c", later)] {
            let (w, rx) = waiting(key, deadline);
            tx.send(w).await.unwrap();
            kept.push(rx);
        }
        let (gone, rx) = waiting("gone", later);
        drop(rx);
        tx.send(gone).await.unwrap();
        let (batch, held_back) = next_batch(vec![first], &mut queue, now);
        let keys = |ws: &[Waiting]| ws.iter().map(|w| w.buy.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&batch), ["a", "b", "c"]);
        assert_eq!(keys(&held_back), ["a"]);
    }
}
