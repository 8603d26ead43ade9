//! The timed restock policy's leader side (`[catalog.restock]`, #16): while this replica leads
//! the catalog group, once per period, it proposes a [`RestockDue`] round for the books below
//! the threshold. Apply decides what changes (see `command::restock_due`), so every replica
//! restocks the same books once per period whoever proposed, however often.
//!
//! A period is the leader's wall-clock seconds divided by `every_s`. A new leader whose clock
//! is behind the last period applied proposes nothing until its clock gets past it (its rounds
//! would be stale); one whose clock is ahead restocks early and its successors then wait for
//! that period to pass: skew delays restocks, never doubles them. A round whose outcome is
//! unknown is proposed again at the next poll: a second copy is stale when it applies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runtime::cluster::RestockPolicy;
use storage::replica::LeaderReply;
use storage::{Replica, StateView};
use tokio_util::sync::CancellationToken;

use crate::command::{CatalogCommand, CatalogResponse, RestockDue, RESTOCK_LAST, RESTOCK_LAST_KEY};
use crate::machine::CatalogMachine;
use crate::reads::all_books;

/// Longest pause between two looks at leadership and stock: a book sold out, or a replica
/// newly leading, is restocked within this much after its period allows it. Short, so that it
/// fits beside a failover inside `every_s` plus one election timeout; a look costs the leader
/// one scan of the books (a follower, one read of its Raft metrics).
const RESTOCK_POLL_MAX: Duration = Duration::from_millis(250);

/// Proposes the round due whenever this replica leads; runs until `cancel`.
///
/// # Cancel safety
/// Every await is a cancellation point: a round dropped mid-proposal runs on in the
/// replica's own proposal task or never starts, and either way applies at most once.
pub(crate) async fn run_restocks(
    replica: Replica<CatalogMachine>,
    policy: RestockPolicy,
    cancel: CancellationToken,
) {
    let write_timeout = replica.spec().raft.write_timeout;
    // Runs forever: ends only on cancellation.
    loop {
        let pause = until_next_look(&policy, SystemTime::now());
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        if !replica.leadership().is_leader {
            continue;
        }
        let Some(due) = due_round(&replica.view(), &policy, wall_clock_s()) else {
            continue;
        };
        let (period, items) = (due.period, due.items.len());
        let command = CatalogCommand::RestockDue(due);
        let reply = tokio::select! {
            () = cancel.cancelled() => return,
            reply = replica.write_as_leader(command, write_timeout) => reply,
        };
        report(period, items, reply);
    }
}

/// Logs how a round ended; a failed or unknown one is proposed again at the next poll.
fn report(period: u64, items: usize, reply: LeaderReply<storage::Written<CatalogResponse>>) {
    match reply {
        LeaderReply::Done(written) => match written.response {
            CatalogResponse::Restocked(round) => {
                let books: Vec<u64> = round.books.iter().map(|b| b.item).collect();
                tracing::info!(
                    period,
                    ?books,
                    log_index = written.log_index,
                    "timed restock applied"
                );
            }
            other => tracing::debug!(period, ?other, "timed restock changed nothing"),
        },
        LeaderReply::NotLeader(leader) => {
            tracing::debug!(
                period,
                ?leader,
                "no longer leading: timed restock left to the leader"
            );
        }
        LeaderReply::Unavailable(reason) | LeaderReply::Unknown(reason) => {
            tracing::warn!(period, items, %reason, "timed restock not confirmed; trying again");
        }
    }
}

/// The round due at wall-clock second `now_s` on state `view`, if any: none when the period
/// already had its round (or a later one did: a clock behind), or no book is below `below`.
pub(crate) fn due_round(
    view: &StateView,
    policy: &RestockPolicy,
    now_s: u64,
) -> Option<RestockDue> {
    let period = now_s / policy.every.as_secs().max(1);
    let last: u64 = view.get(RESTOCK_LAST, RESTOCK_LAST_KEY).unwrap_or(0);
    if period == 0 || period <= last {
        return None;
    }
    let items: Vec<u64> = all_books(view, None)
        .into_iter()
        .filter(|book| book.stock < policy.below)
        .map(|book| book.id)
        .collect();
    (!items.is_empty()).then_some(RestockDue {
        period,
        below: policy.below,
        to: policy.to,
        items,
    })
}

/// How long to wait before the next look at the stock from wall-clock time `now`: at most
/// [`RESTOCK_POLL_MAX`] and the period, and no later than just past the next period's start, so
/// that a book sold out right after a round is restocked as soon as the next period allows.
fn until_next_look(policy: &RestockPolicy, now: SystemTime) -> Duration {
    let poll = policy.every.min(RESTOCK_POLL_MAX);
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let every_s = policy.every.as_secs().max(1);
    let next_period_s = (since_epoch.as_secs() / every_s + 1) * every_s;
    // A few milliseconds past the boundary, so that the clock read then is in the new period.
    let boundary = Duration::from_secs(next_period_s) + Duration::from_millis(5);
    poll.min(boundary.saturating_sub(since_epoch))
}

/// Seconds since the Unix epoch on this replica's clock (0 before it: no round is due).
fn wall_clock_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use storage::scratch::ScratchState;

    use super::*;
    use crate::catalog_file::default_books;
    use crate::command::{Reserve, Seed};

    const POLICY: RestockPolicy = RestockPolicy {
        every: Duration::from_secs(10),
        below: 2,
        to: 5,
    };

    #[test]
    fn a_round_is_due_once_per_period_for_the_books_below() {
        // Goal: at second 1234 (period 123) books 1 (0 copies) and 3 (1 copy) are due, book 2
        // (2 copies) is not; once period 123 applied nothing is due until period 124, and a
        // clock behind the last period proposes nothing.
        let s = ScratchState::<CatalogMachine>::new();
        s.apply(&CatalogCommand::Seed(Seed {
            books: default_books(),
        }));
        for (key, item, quantity) in [("a", 1, 5), ("b", 2, 3), ("c", 3, 4)] {
            let key = key.into();
            s.apply(&CatalogCommand::Reserve(Reserve {
                key,
                item,
                quantity,
            }));
        }
        let round = due_round(&s.view(), &POLICY, 1234).unwrap();
        assert_eq!((round.period, round.items.clone()), (123, vec![1, 3]));
        assert_eq!((round.below, round.to), (2, 5));
        assert_eq!(due_round(&s.view(), &POLICY, 0), None, "no period 0");
        s.apply(&CatalogCommand::RestockDue(round));
        s.apply(&CatalogCommand::Reserve(Reserve {
            key: "d".into(),
            item: 1,
            quantity: 5,
        }));
        assert_eq!(
            due_round(&s.view(), &POLICY, 1239),
            None,
            "period 123 had its round"
        );
        assert_eq!(due_round(&s.view(), &POLICY, 1100), None, "a clock behind");
        let next = due_round(&s.view(), &POLICY, 1240).unwrap();
        assert_eq!((next.period, next.items), (124, vec![1]));
    }

    #[test]
    fn the_next_look_is_within_a_poll_and_just_past_the_next_period() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        // Period 10 s: 9.5 s before the boundary at 1240 s, so one poll.
        assert_eq!(until_next_look(&POLICY, at(1_230_500)), RESTOCK_POLL_MAX);
        // 100 ms before the boundary: just past it.
        assert_eq!(
            until_next_look(&POLICY, at(1_239_900)),
            Duration::from_millis(105)
        );
        let short = RestockPolicy {
            every: Duration::from_secs(1),
            ..POLICY
        };
        assert_eq!(
            until_next_look(&short, at(5_000)),
            Duration::from_millis(1005).min(RESTOCK_POLL_MAX)
        );
    }
}
