//! The read path: linearizable reads, from any replica. The leader confirms its leadership with a
//! quorum and answers its read index; the reading replica waits until it has applied that index,
//! then reads its own state. Concurrent reads share confirmations at the leader, and requests
//! for the read index at a follower (`read_rounds`).

use std::time::Duration;

use tokio::time::Instant;

use super::follow::Target;
use super::{LeaderReply, Replica};
use crate::error::Result;
use crate::machine::ServiceMachine;

impl<M: ServiceMachine> Replica<M> {
    /// Waits until this replica's state reflects every write acknowledged before the call (the
    /// leader's read index, confirmed by a quorum), and returns that index. Read
    /// [`Replica::view`] afterwards.
    ///
    /// # Errors
    /// [`crate::Error::NoLeader`] if no leader confirmed a read index before the read deadline.
    pub async fn linearizable_read(&self) -> Result<u64> {
        let deadline = Instant::now() + self.inner.spec.raft.read_timeout;
        self.follow_leader(deadline, |target, wait| self.read_at(target, wait))
            .await
    }

    /// One attempt of [`Replica::linearizable_read`]: the read index from `target`, then this
    /// replica applying up to it, within `wait` each.
    async fn read_at(&self, target: Target, wait: Duration) -> LeaderReply<u64> {
        let reply = match target {
            Target::Here => self.read_index_as_leader(wait).await,
            Target::Peer(leader) => self.inner.forwarded_reads.read_index(leader, wait).await,
        };
        match reply {
            LeaderReply::Done(index) => self.applied_up_to(index, wait).await,
            // A read changes nothing, so no outcome is unknown: it is one more failed attempt.
            LeaderReply::Unknown(reason) => LeaderReply::Unavailable(reason),
            refused => refused,
        }
    }

    /// Waits at most `wait` until this replica has applied the read index `index`.
    async fn applied_up_to(&self, index: u64, wait: Duration) -> LeaderReply<u64> {
        let waited = self
            .inner
            .raft
            .wait(Some(wait))
            .applied_index_at_least(Some(index), "linearizable read")
            .await;
        match waited {
            Ok(_) => LeaderReply::Done(index),
            Err(e) => {
                LeaderReply::Unavailable(format!("did not apply up to the read index {index}: {e}"))
            }
        }
    }

    /// As leader: confirms leadership with a quorum and answers the read index (after a new
    /// leader's quiet period, when the replica has a fence); concurrent reads share one
    /// confirmation that began after each arrived (`read_rounds`).
    pub async fn read_index_as_leader(&self, wait: Duration) -> LeaderReply<u64> {
        let deadline = Instant::now() + wait;
        if let Some(fence) = &self.inner.fence {
            if let Err(reply) = self.quiet_leader(fence.lease(), deadline).await {
                return reply;
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        self.inner.read_rounds.read_index((), wait).await
    }
}
