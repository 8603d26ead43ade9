//! Leadership handed over without two leaders' grants overlapping: when a new leader may serve,
//! and when a replica must refuse its vote. Only replicas with a fence (the catalog: cache
//! leases) take part; a group without one hands over as plain Raft does.
//!
//! A grant (a frontend's cache lease) runs for `lease` from the moment its holder asked, and is
//! made only after the leader confirmed its leadership with a quorum Q. The quorum that elects
//! the next leader shares a member X with Q, and X bounds the grant:
//! - X is the new leader itself: it acknowledged the confirmation before its last contact
//!   with a leader, so the grant has run out by `last_contact + lease`;
//! - X is another follower: openraft makes a follower refuse votes for `vote_lease` (its leader
//!   lease, `election_timeout_max`) after the leader's last message, so the grant has run out
//!   by `elected + lease - vote_lease`;
//! - X is the previous leader: it refuses votes while anything it granted may run
//!   ([`Replica::refuse_vote`]).
//!
//! A replica that restarts forgets both its grants and openraft's leader lease (a follower that
//! acknowledged a confirmation just before it stopped would vote at once after a quick restart),
//! so every replica that had voted before refuses votes for one lease after it starts; a
//! brand-new one has acknowledged nothing.
//!
//! So a new leader waits until the later of the first two bounds ([`quiet_until`]), which is
//! usually already past when it is elected: failover no longer costs a lease on top of the
//! election.

use std::cmp::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use openraft::raft::{VoteRequest, VoteResponse};
use runtime::metric_catalog::RAFT_VOTES_REFUSED_FOR_LEASES;
use tokio::time::Instant;

use super::Replica;
use crate::machine::ServiceMachine;
use crate::metrics::replica_labels;
use crate::types::ReplicaId;

/// When a leader elected at `elected` may serve, given the last time it heard from a leader
/// before (`last_contact`), the fence's `lease`, and the followers' `vote_lease`.
pub(crate) fn quiet_until(
    elected: Instant,
    last_contact: Instant,
    lease: Duration,
    vote_lease: Duration,
) -> Instant {
    (last_contact + lease).max(elected + lease.saturating_sub(vote_lease))
}

/// What a replica remembers for the handover: its last contact with a leader, and until when
/// it refuses votes because it restarted.
#[derive(Debug)]
pub(crate) struct Handover {
    last_contact: Mutex<Instant>,
    restart_refusal: Option<Instant>,
}

impl Handover {
    /// As of a start at `started`; `restarted` when the replica had stored a vote (it may have
    /// granted or confirmed leases just before it stopped), with the fence's `lease`.
    pub(crate) fn new(started: Instant, restarted: bool, lease: Option<Duration>) -> Self {
        Self {
            // Whatever it acknowledged before a restart, it acknowledged before `started`.
            last_contact: Mutex::new(started),
            restart_refusal: lease.filter(|_| restarted).map(|lease| started + lease),
        }
    }

    /// Notes a message from a leader (append or snapshot), once Raft has handled it.
    pub(crate) fn heard_from_leader(&self) {
        let mut last = self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = (*last).max(Instant::now());
    }

    pub(crate) fn last_contact(&self) -> Instant {
        *self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: ServiceMachine> Replica<M> {
    /// When this replica, elected at `elected`, may serve under its fence's `lease`.
    pub(super) fn serving_from(&self, elected: Instant, lease: Duration) -> Instant {
        quiet_until(
            elected,
            self.inner.handover.last_contact(),
            lease,
            self.inner.spec.raft.election_max,
        )
    }

    /// Notes that a leader's append or snapshot was just handled.
    pub(crate) fn heard_from_leader(&self) {
        self.inner.handover.heard_from_leader();
    }

    /// The refusal to answer `req` with instead of letting Raft vote, while grants this replica
    /// made may still be held (only a vote that would change this replica's vote is refused).
    pub(crate) fn refuse_vote(
        &self,
        req: &VoteRequest<ReplicaId>,
    ) -> Option<VoteResponse<ReplicaId>> {
        let fence = self.inner.fence.as_ref()?;
        let until = fence
            .granted_until()
            .max(self.inner.handover.restart_refusal)?;
        let now = Instant::now();
        let vote = self.inner.raft.metrics().borrow().vote;
        if now >= until || req.vote.partial_cmp(&vote) != Some(Ordering::Greater) {
            return None;
        }
        tracing::info!(
            candidate = req.vote.leader_id().voted_for(),
            refused_for_ms = (until - now).as_millis() as u64,
            "refused a vote while leases granted here may still be held"
        );
        let spec = &self.inner.spec;
        RAFT_VOTES_REFUSED_FOR_LEASES
            .counter(&replica_labels(spec.group, spec.id))
            .increment(1);
        // No log id: the candidate must not take this for a longer log and delay its next try.
        Some(VoteResponse::new(vote, None, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_millis(750);

    #[test]
    fn a_leader_elected_well_after_its_last_contact_serves_at_once() {
        let t0 = Instant::now();
        let elected = t0 + Duration::from_millis(1200);
        assert_eq!(
            quiet_until(elected, t0, LEASE, Duration::from_millis(750)),
            elected
        );
    }

    #[test]
    fn a_leader_elected_soon_after_its_last_contact_waits_one_lease_from_it() {
        let t0 = Instant::now();
        let elected = t0 + Duration::from_millis(100);
        assert_eq!(
            quiet_until(elected, t0, LEASE, Duration::from_millis(750)),
            t0 + LEASE
        );
    }

    #[test]
    fn a_lease_longer_than_the_followers_vote_lease_waits_the_difference() {
        let t0 = Instant::now();
        let elected = t0 + Duration::from_secs(5);
        let until = quiet_until(
            elected,
            t0,
            Duration::from_millis(1000),
            Duration::from_millis(750),
        );
        assert_eq!(until, elected + Duration::from_millis(250));
    }

    #[test]
    fn a_restart_refuses_votes_for_a_lease_a_first_start_does_not() {
        let t0 = Instant::now();
        assert_eq!(
            Handover::new(t0, true, Some(LEASE)).restart_refusal,
            Some(t0 + LEASE)
        );
        assert_eq!(Handover::new(t0, false, Some(LEASE)).restart_refusal, None);
        assert_eq!(Handover::new(t0, true, None).restart_refusal, None);
    }

    #[test]
    fn contact_only_moves_forward() {
        let t0 = Instant::now();
        let handover = Handover::new(t0 + Duration::from_secs(3600), false, None);
        handover.heard_from_leader();
        assert_eq!(handover.last_contact(), t0 + Duration::from_secs(3600));
    }
}
