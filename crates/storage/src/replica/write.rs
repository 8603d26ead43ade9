//! The write path: a command committed through the group's leader, wherever it is, within the
//! write deadline; as leader, proposed (past the fence, if the replica has one) in tasks that
//! outlive a caller that stops waiting.

use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, RaftMetrics};
use tokio::sync::watch;
use tokio::time::Instant;

use super::follow::Target;
use super::{LeaderReply, Replica, Written};
use crate::error::Result;
use crate::fence::{FenceEntry, WriteFence};
use crate::machine::ServiceMachine;
use crate::network::PeerCallError;
use crate::types::ReplicaId;

impl<M: ServiceMachine> Replica<M> {
    /// Commits `command` through the group's leader, wherever it is, within the write deadline.
    ///
    /// # Errors
    /// [`crate::Error::NoLeader`] if no leader took it (nothing applied);
    /// [`crate::Error::OutcomeUnknown`] if it was proposed but the outcome could not be learned
    /// (it may still apply).
    pub async fn write(&self, command: M::Command) -> Result<Written<M::Response>> {
        let deadline = Instant::now() + self.inner.spec.raft.write_timeout;
        let command = &command;
        self.follow_leader(deadline, |target, wait| {
            self.write_at(target, command, wait)
        })
        .await
    }

    /// One attempt of [`Replica::write`]: as leader here, or forwarded to the leader.
    async fn write_at(
        &self,
        target: Target,
        command: &M::Command,
        wait: Duration,
    ) -> LeaderReply<Written<M::Response>> {
        match target {
            Target::Here => self.write_as_leader(command.clone(), wait).await,
            Target::Peer(leader) => self.forward_write(leader, command, wait).await,
        }
    }

    /// Proposes `command` on this replica, which must be the leader, waiting at most `wait`
    /// (past a new leader's quiet period and the fence first, if there is one).
    pub async fn write_as_leader(
        &self,
        command: M::Command,
        wait: Duration,
    ) -> LeaderReply<Written<M::Response>> {
        let deadline = Instant::now() + wait;
        let Some(fence) = self.inner.fence.clone() else {
            return self.propose(command, None, deadline).await;
        };
        // A fenced write runs in its own task, so that a caller that stops waiting (its request
        // was cancelled) never stops it between the fence's `before` and `after`.
        let replica = self.clone();
        let write =
            tokio::spawn(async move { replica.fenced_write(fence, command, deadline).await });
        match write.await {
            Ok(reply) => reply,
            Err(join) => LeaderReply::Unknown(format!("the write task failed: {join}")),
        }
    }

    async fn fenced_write(
        &self,
        fence: Arc<dyn WriteFence<M>>,
        command: M::Command,
        deadline: Instant,
    ) -> LeaderReply<Written<M::Response>> {
        let term = match self.quiet_leader(fence.lease(), deadline).await {
            Ok(term) => term,
            Err(reply) => return reply,
        };
        let view = self.view();
        let ticket = match fence.before(&view, &command, term, deadline).await {
            FenceEntry::Go(ticket) => ticket,
            FenceEntry::Deposed => return LeaderReply::NotLeader(None),
            FenceEntry::Refused(reason) => return LeaderReply::Unavailable(reason),
        };
        let after = ticket.map(|ticket| (fence, ticket));
        self.propose(command, after, deadline).await
    }

    /// Proposes `command` and waits for it until `deadline`. The proposal runs in its own task
    /// so that a fence still hears how it ended after the caller gave up waiting.
    async fn propose(
        &self,
        command: M::Command,
        after: Option<(Arc<dyn WriteFence<M>>, u64)>,
        deadline: Instant,
    ) -> LeaderReply<Written<M::Response>> {
        let raft = self.inner.raft.clone();
        let deposed = deposed(raft.metrics());
        let proposal = tokio::spawn(async move {
            let result = raft.client_write(command).await;
            if let Some((fence, ticket)) = after {
                fence.after(ticket, result.as_ref().ok().map(|r| r.log_id.index));
            }
            result
        });
        let committed = tokio::select! {
            biased;
            committed = tokio::time::timeout_at(deadline, proposal) => committed,
            () = deposed => {
                return LeaderReply::Unknown(
                    "this replica stopped leading before the write committed".to_string(),
                );
            }
        };
        match committed {
            // 0.9 has no CheckQuorum: a leader cut off from its quorum waits here forever.
            Err(_) => LeaderReply::Unknown("not committed before the deadline".to_string()),
            Ok(Err(join)) => LeaderReply::Unknown(format!("the proposal task failed: {join}")),
            Ok(Ok(Ok(r))) => LeaderReply::Done(Written {
                log_index: r.log_id.index,
                response: r.data.expect("a normal entry always has a response"),
            }),
            Ok(Ok(Err(e))) => match e.forward_to_leader() {
                // Refused before proposing, or truncated: it will never apply.
                Some(f) => LeaderReply::NotLeader(f.leader_id),
                None => LeaderReply::Unknown(e.to_string()),
            },
        }
    }

    async fn forward_write(
        &self,
        leader: ReplicaId,
        command: &M::Command,
        wait: Duration,
    ) -> LeaderReply<Written<M::Response>> {
        let Some(addr) = self.peer_addr(leader) else {
            return LeaderReply::Unavailable(format!("unknown leader id {leader}"));
        };
        match self
            .inner
            .peers
            .post(&addr, "/raft/write", command, wait)
            .await
        {
            Ok(reply) => reply,
            Err(e @ PeerCallError::Connect { .. }) => LeaderReply::Unavailable(e.to_string()),
            Err(e @ PeerCallError::Failed { .. }) => LeaderReply::Unknown(e.to_string()),
        }
    }
}

/// Resolves once `metrics` show another term or another leader than when it was called (or the
/// replica stopped). A leader deposed by a higher term (cut off from its followers, which
/// elected another) does not fail what it had proposed: openraft keeps it waiting. Its writes
/// give up at this point, so that the caller tries the new leader instead of waiting out the
/// deadline; their outcome is unknown (an entry replicated before may still commit).
fn deposed(
    mut metrics: watch::Receiver<RaftMetrics<ReplicaId, BasicNode>>,
) -> impl std::future::Future<Output = ()> + Send {
    let (term, leader) = {
        let now = metrics.borrow();
        (now.current_term, now.current_leader)
    };
    async move {
        let _ = metrics
            .wait_for(|m| m.current_term != term || m.current_leader != leader)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn leading(id: ReplicaId, term: u64) -> RaftMetrics<ReplicaId, BasicNode> {
        let mut m = RaftMetrics::new_initial(id);
        m.current_term = term;
        m.current_leader = Some(id);
        m
    }

    #[tokio::test]
    async fn a_write_gives_up_when_its_leader_is_deposed_and_not_before() {
        // Goal: a write pending on a leader stops waiting as soon as a higher term or another
        // leader shows, and never for a change of anything else (applied index, replication).
        // Method: metrics sent by hand on a watch channel, as openraft sends them.
        let (tx, rx) = watch::channel(leading(1, 4));
        let mut wait = Box::pin(deposed(rx));
        let mut progress = leading(1, 4);
        progress.last_log_index = Some(90);
        tx.send(progress).unwrap();
        let still = tokio::time::timeout(Duration::from_millis(50), &mut wait).await;
        assert!(
            still.is_err(),
            "the same leader in the same term: keep waiting"
        );
        let mut newer = leading(1, 4);
        newer.current_term = 5;
        newer.current_leader = Some(2);
        tx.send(newer).unwrap();
        tokio::time::timeout(Duration::from_secs(5), &mut wait)
            .await
            .expect("a higher term ends the wait");
        let (tx, rx) = watch::channel(leading(3, 7));
        let wait = deposed(rx);
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("a replica that stopped ends the wait");
    }
}
