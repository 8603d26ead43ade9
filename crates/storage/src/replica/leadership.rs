//! Leadership as one replica sees it: who leads, since when this replica has led its term (a
//! new leader's quiet period counts from its election), and confirming it with a quorum.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::ServerState;
use tokio::time::{timeout, Instant};

use super::{LeaderReply, Leadership, Replica};
use crate::machine::ServiceMachine;
use crate::types::RaftOf;

impl<M: ServiceMachine> Replica<M> {
    /// Who leads, as this replica knows it, and in which term (cheap: no digest).
    pub fn leadership(&self) -> Leadership {
        let m = self.inner.raft.metrics().borrow().clone();
        let leader_addr = m.current_leader.and_then(|id| self.peer_addr(id));
        Leadership {
            is_leader: m.state == ServerState::Leader,
            leader: m.current_leader,
            leader_addr,
            term: m.current_term,
        }
    }

    /// The term this replica leads, once grants of `lease` made under earlier leaders have run
    /// out (waiting until `deadline` at most, see `handover`); otherwise the reply to give.
    pub(super) async fn quiet_leader<T>(
        &self,
        lease: Duration,
        deadline: Instant,
    ) -> std::result::Result<u64, LeaderReply<T>> {
        let leadership = self.leadership();
        if !leadership.is_leader {
            return Err(LeaderReply::NotLeader(leadership.leader));
        }
        let since = led_since(&self.inner.leader_since, leadership.term);
        let ready = self.serving_from(since, lease);
        if ready > deadline {
            return Err(LeaderReply::Unavailable(
                "a new leader is waiting out the cache leases of the previous one".to_string(),
            ));
        }
        tokio::time::sleep_until(ready).await;
        let now = self.leadership();
        if now.is_leader && now.term == leadership.term {
            Ok(leadership.term)
        } else {
            Err(LeaderReply::NotLeader(now.leader))
        }
    }

    /// Confirms with a quorum that this replica still leads, without a new leader's quiet
    /// period; the term it leads.
    pub async fn confirm_leadership(&self, wait: Duration) -> LeaderReply<u64> {
        let before = self.leadership();
        if !before.is_leader {
            return LeaderReply::NotLeader(before.leader);
        }
        match timeout(wait, self.inner.raft.ensure_linearizable()).await {
            Err(_) => LeaderReply::Unavailable("leadership not confirmed in time".into()),
            Ok(Err(e)) => match e.forward_to_leader() {
                Some(f) => LeaderReply::NotLeader(f.leader_id),
                None => LeaderReply::Unavailable(e.to_string()),
            },
            Ok(Ok(_)) => {
                let after = self.leadership();
                if after.is_leader && after.term == before.term {
                    LeaderReply::Done(before.term)
                } else {
                    LeaderReply::NotLeader(after.leader)
                }
            }
        }
    }
}

/// When this replica first knew it led `term` (now, if this is the first time).
fn led_since(leader_since: &Mutex<Option<(u64, Instant)>>, term: u64) -> Instant {
    let mut since = leader_since.lock().unwrap_or_else(PoisonError::into_inner);
    match *since {
        Some((led, at)) if led == term => at,
        _ => {
            let now = Instant::now();
            *since = Some((term, now));
            now
        }
    }
}

/// Notes the moment this replica becomes leader of each term, so that a new leader's quiet
/// period starts at its election rather than at its first request. Ends with Raft.
pub(super) async fn watch_leadership<M: ServiceMachine>(
    raft: RaftOf<M>,
    leader_since: Arc<Mutex<Option<(u64, Instant)>>>,
) {
    let mut metrics = raft.metrics();
    drop(raft);
    loop {
        let (state, term) = {
            let m = metrics.borrow_and_update();
            (m.state, m.current_term)
        };
        if state == ServerState::Leader {
            led_since(&leader_since, term);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
