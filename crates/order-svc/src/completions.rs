//! Orders committed in batches.
//!
//! Every buy whose stock the catalog holds commits its order as a `CompleteBuy`. One entry per
//! buy costs every order replica a log insert, and the leader a proposal, a response channel and
//! a task, per buy. So buys queue their completions, and one sender takes every completion queued
//! while [`IN_FLIGHT_MAX`] earlier batches were on their way and commits them as one
//! `CompleteAll` (one entry, applied in queue order, each exactly as a `CompleteBuy` alone). A
//! lone completion goes at once as a `CompleteBuy`, so a buy at a time waits for nothing.
//!
//! A completion is committed even if its caller has gone: its stock is held, and an order
//! committed now is one the resolver need not finish. Each committed order's confirmation is
//! queued here, not by the caller, for the same reason.

use std::sync::Arc;

use api::{ApiError, ErrorCode};
use storage::Replica;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::command::{CompleteAll, CompleteBuy, OrderCommand, OrderResponse};
use crate::confirmations::{drain_batch, Confirmations};
use crate::error::Error;
use crate::machine::OrderMachine;

/// Most buys in one `CompleteAll`: what openraft's batched append takes in one go.
pub const COMPLETE_ALL_MAX: usize = 256;
/// Batches committing at once; the completions queued meanwhile make the next batch.
const IN_FLIGHT_MAX: usize = 2;
/// Completions queued at most; past it a buy waits for room (back-pressure).
const QUEUED_MAX: usize = 16 * COMPLETE_ALL_MAX;

/// A completion waiting for its commit.
struct Waiting {
    command: CompleteBuy,
    answer: oneshot::Sender<Result<OrderResponse, ApiError>>,
}

/// The queue of completions to commit; cheap to clone.
#[derive(Debug, Clone)]
pub struct Completions {
    queue: mpsc::Sender<Waiting>,
}

impl Completions {
    /// The queue, and its sender task to spawn: it commits batches through `replica` and queues
    /// each new order's confirmation with `confirmations`, until `cancel`.
    pub fn new(
        replica: Replica<OrderMachine>,
        confirmations: Confirmations,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        let sender = send_batches(replica, confirmations, waiting, cancel);
        (Self { queue }, sender)
    }

    /// Commits `command` with the next batch: its answer (`Ordered` or `KeyConflict`).
    ///
    /// # Errors
    /// The write's error (`no_leader`, `outcome_unknown`, ...), or `outcome_unknown` if the
    /// sender stopped first.
    pub async fn complete(&self, command: CompleteBuy) -> Result<OrderResponse, ApiError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || ApiError::new(ErrorCode::OutcomeUnknown, STOPPED);
        if self.queue.send(Waiting { command, answer }).await.is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

const STOPPED: &str =
    "the order committer stopped before the order's outcome was known; retrying with the same key is safe";

/// Commits batches until `cancel` or the queue closes: each takes whatever is queued when a
/// slot frees, up to [`COMPLETE_ALL_MAX`].
async fn send_batches(
    replica: Replica<OrderMachine>,
    confirmations: Confirmations,
    mut queue: mpsc::Receiver<Waiting>,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_MAX));
    // Dropped on return, which stops the commits still running: their callers then hear that
    // the committer stopped, and the resolver finishes their buys.
    let mut commits = JoinSet::new();
    loop {
        let slot = tokio::select! {
            () = cancel.cancelled() => return,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            first = queue.recv() => match first {
                Some(first) => first,
                None => return,
            },
        };
        let batch = drain_batch(first, &mut queue, COMPLETE_ALL_MAX);
        let (replica, confirmations) = (replica.clone(), confirmations.clone());
        commits.spawn(async move {
            commit(&replica, &confirmations, batch).await;
            drop(slot);
        });
        while commits.try_join_next().is_some() {}
    }
}

/// Commits `batch` as one entry and answers each of its completions.
async fn commit(
    replica: &Replica<OrderMachine>,
    confirmations: &Confirmations,
    batch: Vec<Waiting>,
) {
    let (commands, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|w| (w.command, w.answer)).unzip();
    let keys: Vec<String> = commands.iter().map(|c| c.buy.key.clone()).collect();
    let answered = replica.write(command_of(commands)).await;
    let responses = match answered.map(|w| responses_of(w.response, keys.len())) {
        Ok(Some(responses)) => responses,
        Ok(None) => {
            tracing::error!(
                sent = keys.len(),
                "a batch of orders was answered with another count"
            );
            let e = ApiError::new(ErrorCode::Internal, "internal error");
            return answer_all(answers, &e);
        }
        Err(e) => return answer_all(answers, &Error::from(e).into()),
    };
    for ((key, answer), response) in keys.into_iter().zip(answers).zip(responses) {
        if matches!(response, OrderResponse::Ordered(_)) {
            confirmations.confirm(key);
        }
        // A caller that has gone needs no answer.
        let _ = answer.send(Ok(response));
    }
}

/// One `CompleteBuy` alone, else a `CompleteAll` of them all.
fn command_of(mut commands: Vec<CompleteBuy>) -> OrderCommand {
    if commands.len() == 1 {
        OrderCommand::CompleteBuy(commands.remove(0))
    } else {
        OrderCommand::CompleteAll(CompleteAll { buys: commands })
    }
}

/// The answer of each of `count` completions in `response`, if it holds that many.
fn responses_of(response: OrderResponse, count: usize) -> Option<Vec<OrderResponse>> {
    let each = match response {
        OrderResponse::OrderedAll(each) => each,
        one => vec![one],
    };
    (each.len() == count).then_some(each)
}

fn answer_all(answers: Vec<oneshot::Sender<Result<OrderResponse, ApiError>>>, e: &ApiError) {
    for answer in answers {
        let _ = answer.send(Err(e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use api::{Order, OrderStatus};

    use super::*;
    use crate::command::Buy;

    fn buy(key: &str) -> CompleteBuy {
        let buy = Buy {
            key: key.into(),
            item: 1,
            quantity: 1,
        };
        CompleteBuy {
            buy,
            title: "T".into(),
            unit_cost: 2,
        }
    }

    fn ordered(number: u64) -> OrderResponse {
        OrderResponse::Ordered(Order {
            number,
            item: 1,
            title: "T".into(),
            quantity: 1,
            cost: 2,
            status: OrderStatus::Committed,
        })
    }

    #[test]
    fn a_lone_completion_is_a_complete_buy_and_more_are_one_complete_all() {
        // Goal: a buy at a time keeps its one-buy entry; a batch is one entry in queue order.
        assert_eq!(
            command_of(vec![buy("a")]),
            OrderCommand::CompleteBuy(buy("a"))
        );
        let buys = vec![buy("a"), buy("b"), buy("c")];
        assert_eq!(
            command_of(buys.clone()),
            OrderCommand::CompleteAll(CompleteAll { buys })
        );
    }

    #[test]
    fn each_completion_gets_its_own_answer_and_a_miscounted_batch_none() {
        // Goal: a lone buy's answer is its own; a batch's answers go one per buy, in order; an
        // answer of another count settles nobody (each is answered `internal`, none wrongly).
        assert_eq!(responses_of(ordered(1), 1), Some(vec![ordered(1)]));
        let conflict = OrderResponse::KeyConflict("b".into());
        let all = OrderResponse::OrderedAll(vec![ordered(1), conflict.clone()]);
        assert_eq!(
            responses_of(all.clone(), 2),
            Some(vec![ordered(1), conflict])
        );
        assert_eq!(responses_of(all, 3), None);
        assert_eq!(responses_of(ordered(1), 2), None);
    }

    #[tokio::test]
    async fn a_batch_takes_what_is_queued_up_to_the_most_one_entry_holds() {
        // Goal: one batch per free slot: the completion that woke the sender and every one
        // queued behind it, never more than one entry may hold; the rest makes the next batch.
        let (tx, mut rx) = mpsc::channel(QUEUED_MAX);
        for i in 0..COMPLETE_ALL_MAX + 3 {
            let (answer, _) = oneshot::channel();
            let command = buy(&format!("k{i}"));
            tx.try_send(Waiting { command, answer }).ok().unwrap();
        }
        let first = rx.recv().await.unwrap();
        let batch = drain_batch(first, &mut rx, COMPLETE_ALL_MAX);
        assert_eq!(batch.len(), COMPLETE_ALL_MAX);
        assert_eq!(batch[1].command.buy.key, "k1");
        let next = drain_batch(rx.recv().await.unwrap(), &mut rx, COMPLETE_ALL_MAX);
        let keys: Vec<&str> = next.iter().map(|w| w.command.buy.key.as_str()).collect();
        let rest: Vec<String> = (COMPLETE_ALL_MAX..COMPLETE_ALL_MAX + 3)
            .map(|i| format!("k{i}"))
            .collect();
        assert_eq!(keys, rest);
    }
}
