//! The one loop that follows a group's leader, for writes and reads alike: act here if this
//! replica leads, else call the replica believed to lead; on a refusal that did nothing (not the
//! leader, unavailable) back off and try again, first the leader the refusal named, until a
//! deadline.
//!
//! Cancel safety: the loop's state (next target, backoff, last failure) lives in its own future,
//! so dropping it at any `.await` leaves nothing behind; whatever an attempt registers is that
//! attempt's to release (a fenced write runs in its own task, see `write`).

use std::future::Future;
use std::time::Duration;

use tokio::time::{timeout, Instant};

use super::{LeaderReply, Replica};
use crate::error::{Error, Result};
use crate::machine::ServiceMachine;
use crate::types::ReplicaId;

/// First pause between attempts to reach a leader.
const BACKOFF_MS_MIN: u64 = 20;
/// Longest pause between attempts to reach a leader.
const BACKOFF_MS_MAX: u64 = 400;
const _: () = assert!(0 < BACKOFF_MS_MIN && BACKOFF_MS_MIN <= BACKOFF_MS_MAX);

/// Where one attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// This replica leads, as far as it knows: act as leader here.
    Here,
    /// This peer leads, as far as this replica knows: call it.
    Peer(ReplicaId),
}

impl<M: ServiceMachine> Replica<M> {
    /// Runs `attempt(target, time_left)` at the group's leader until an attempt is done or its
    /// outcome is unknown, or `deadline` passes. Refusals that did nothing are retried, with a
    /// capped doubling pause that ends early when this replica learns of a new leader.
    ///
    /// # Errors
    /// [`Error::NoLeader`] at the deadline, with the last failure seen (nothing was done);
    /// [`Error::OutcomeUnknown`] as soon as an attempt answers [`LeaderReply::Unknown`].
    pub(super) async fn follow_leader<T, F, Fut>(
        &self,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Target, Duration) -> Fut,
        Fut: Future<Output = LeaderReply<T>>,
    {
        let mut follow = Follow::new(M::GROUP);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(follow.expired());
            }
            let reply = match follow.next_target(|| self.current_leader()) {
                Some(id) if id == self.inner.spec.id => attempt(Target::Here, remaining).await,
                Some(id) => attempt(Target::Peer(id), remaining).await,
                None => LeaderReply::NotLeader(None),
            };
            if let Some(outcome) = follow.settle(reply) {
                return outcome;
            }
            self.pause(follow.backoff.next().min(remaining)).await;
        }
    }

    /// Waits up to `pause`, ending early when the Raft metrics change (e.g. a new leader is known).
    async fn pause(&self, pause: Duration) {
        let mut metrics = self.inner.raft.metrics();
        metrics.borrow_and_update();
        let _ = timeout(pause, metrics.changed()).await;
    }
}

/// What the loop knows between two attempts.
struct Follow {
    group: &'static str,
    /// The leader named by the last refusal: tried next, before the one metrics know.
    hint: Option<ReplicaId>,
    /// Why the last attempt failed: the reason given if the deadline passes.
    last: String,
    backoff: Backoff,
}

impl Follow {
    fn new(group: &'static str) -> Self {
        Self {
            group,
            hint: None,
            last: "no leader elected".to_string(),
            backoff: Backoff::new(),
        }
    }

    /// The replica to try now: the one the last refusal named, else `known()`.
    fn next_target(&mut self, known: impl FnOnce() -> Option<ReplicaId>) -> Option<ReplicaId> {
        self.hint.take().or_else(known)
    }

    /// The loop's outcome if `reply` ends it; otherwise notes where to go next and why.
    fn settle<T>(&mut self, reply: LeaderReply<T>) -> Option<Result<T>> {
        match reply {
            LeaderReply::Done(value) => return Some(Ok(value)),
            // It may still apply: trying again could apply it twice, so the caller is told.
            LeaderReply::Unknown(reason) => {
                return Some(Err(Error::OutcomeUnknown {
                    group: self.group,
                    reason,
                }))
            }
            LeaderReply::NotLeader(leader) => {
                self.hint = leader;
                self.last = "leader changed".to_string();
            }
            LeaderReply::Unavailable(reason) => self.last = reason,
        }
        None
    }

    /// The error once the deadline has passed: no leader did it.
    fn expired(self) -> Error {
        Error::NoLeader {
            group: self.group,
            reason: self.last,
        }
    }
}

/// Doubling pause with a cap.
struct Backoff {
    next_ms: u64,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next_ms: BACKOFF_MS_MIN,
        }
    }

    fn next(&mut self) -> Duration {
        let now = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(BACKOFF_MS_MAX);
        Duration::from_millis(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_go_on_and_answers_end_the_loop() {
        // Goal: the loop's rule, one reply at a time: a refusal that did nothing is retried
        // (at the leader it named, if any), done and unknown end it, the deadline gives the
        // last failure as a NoLeader.
        let mut follow = Follow::new("test");
        assert!(follow
            .settle::<u64>(LeaderReply::NotLeader(Some(2)))
            .is_none());
        assert_eq!(
            follow.next_target(|| Some(3)),
            Some(2),
            "the named leader first"
        );
        assert_eq!(
            follow.next_target(|| Some(3)),
            Some(3),
            "then the known one"
        );
        assert!(follow
            .settle::<u64>(LeaderReply::Unavailable("slow".into()))
            .is_none());
        assert_eq!(follow.next_target(|| None), None);
        assert!(matches!(follow.settle(LeaderReply::Done(7)), Some(Ok(7))));
        assert!(matches!(
            follow.settle::<u64>(LeaderReply::Unknown("timed out".into())),
            Some(Err(Error::OutcomeUnknown { group: "test", reason })) if reason == "timed out"
        ));
        assert!(matches!(
            follow.expired(),
            Error::NoLeader { group: "test", reason } if reason == "slow"
        ));
    }

    #[test]
    fn no_attempt_before_the_deadline_means_no_leader_elected() {
        // Goal: the reason given when the deadline passed before any refusal was seen.
        assert!(matches!(
            Follow::new("test").expired(),
            Error::NoLeader { reason, .. } if reason == "no leader elected"
        ));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        // Goal: the pauses between attempts are 20, 40, ... ms, never above 400 ms.
        let mut backoff = Backoff::new();
        let pauses: Vec<u64> = (0..7).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(pauses, [20, 40, 80, 160, 320, 400, 400]);
    }
}
