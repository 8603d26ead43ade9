//! A replica's Raft state as metrics, the same for both groups: one task follows openraft's
//! metrics channel (`Raft::metrics()`) and publishes term, leader, leader changes, the log,
//! commit and apply positions, and, on the leader, how far behind each follower is.
//!
//! openraft 0.9.25's `RaftMetrics` carries no commit index, so the one published is what the
//! log store recorded (`raft_meta`'s `committed`, which openraft saves before every apply),
//! read again whenever the applied index moves. The watch channel keeps only the latest state,
//! so a leader that came and went between two looks is not seen (nor counted).

use std::collections::BTreeMap;

use metrics::{Counter, Gauge, Label};
use openraft::{RaftMetrics, ServerState};
use runtime::metric_catalog::{
    RAFT_APPLIED_INDEX, RAFT_COMMITTED_INDEX, RAFT_FOLLOWER_LAG, RAFT_LAST_LOG_INDEX,
    RAFT_LEADER_CHANGES, RAFT_LEADER_ID, RAFT_TERM,
};

use crate::db::ReplicaDb;
use crate::log_store;
use crate::machine::ServiceMachine;
use crate::metrics::replica_labels;
use crate::spec::ReplicaSpec;
use crate::types::{RaftOf, ReplicaId};

type Metrics = RaftMetrics<ReplicaId, openraft::BasicNode>;

/// The gauges and counter of one replica's Raft state, registered once.
pub(super) struct RaftGauges {
    labels: Vec<Label>,
    term: Gauge,
    leader_id: Gauge,
    leader_changes: Counter,
    last_log_index: Gauge,
    committed_index: Gauge,
    applied_index: Gauge,
    /// Lag of each follower this replica has led, registered the first time it led it.
    follower_lag: BTreeMap<ReplicaId, Gauge>,
}

impl RaftGauges {
    /// The gauges of the replica of `spec`.
    pub(super) fn register(spec: &ReplicaSpec) -> Self {
        let labels = replica_labels(spec.group, spec.id);
        Self {
            term: RAFT_TERM.gauge(&labels),
            leader_id: RAFT_LEADER_ID.gauge(&labels),
            leader_changes: RAFT_LEADER_CHANGES.counter(&labels),
            last_log_index: RAFT_LAST_LOG_INDEX.gauge(&labels),
            committed_index: RAFT_COMMITTED_INDEX.gauge(&labels),
            applied_index: RAFT_APPLIED_INDEX.gauge(&labels),
            follower_lag: BTreeMap::new(),
            labels,
        }
    }

    /// Sets the lag of each follower in `lags`, and 0 for every other follower known (this
    /// replica no longer leads, or no longer leads that one).
    fn set_lags(&mut self, lags: &[(ReplicaId, u64)]) {
        for (follower, _) in lags {
            if !self.follower_lag.contains_key(follower) {
                let mut labels = self.labels.clone();
                labels.push(Label::new("follower", follower.to_string()));
                let gauge = RAFT_FOLLOWER_LAG.gauge(&labels);
                self.follower_lag.insert(*follower, gauge);
            }
        }
        for (follower, gauge) in &self.follower_lag {
            let lag = lags
                .iter()
                .find(|(id, _)| id == follower)
                .map_or(0, |l| l.1);
            gauge.set(lag as f64);
        }
    }
}

/// The leaders a replica has seen, to count changes: a new (term, leader) pair is a change,
/// including the first leader it learns of after it starts and its own elections; losing
/// sight of a leader (none known) is not.
#[derive(Debug, Default)]
struct LeaderChanges {
    last: Option<(u64, ReplicaId)>,
}

impl LeaderChanges {
    /// Whether `leader` in `term` is a leader not seen just before.
    fn saw(&mut self, term: u64, leader: Option<ReplicaId>) -> bool {
        let Some(leader) = leader else { return false };
        let changed = self.last != Some((term, leader));
        self.last = Some((term, leader));
        changed
    }
}

/// On the leader, the entries of its log each follower has not acknowledged (None: it does not
/// lead). openraft's replication map lists the leader itself too; it is left out.
fn follower_lags(m: &Metrics) -> Option<Vec<(ReplicaId, u64)>> {
    if m.state != ServerState::Leader {
        return None;
    }
    // Entries up to an index, counting from 0 (openraft's first log index).
    let entries = |index: Option<u64>| index.map_or(0, |i| i + 1);
    let led = entries(m.last_log_index);
    let lags = m
        .replication
        .as_ref()?
        .iter()
        .filter(|(id, _)| **id != m.id)
        .map(|(id, matched)| (*id, led.saturating_sub(entries(matched.map(|l| l.index)))))
        .collect();
    Some(lags)
}

/// Publishes the Raft state of `raft` (whose log store is in `db`) into `gauges` until Raft
/// stops.
pub(super) async fn publish_raft_metrics<M: ServiceMachine>(
    raft: RaftOf<M>,
    db: ReplicaDb,
    mut gauges: RaftGauges,
) {
    let mut metrics = raft.metrics();
    drop(raft);
    let mut leaders = LeaderChanges::default();
    let mut applied_seen = None;
    loop {
        // Copied out rather than held: the borrow blocks openraft's next report.
        let (term, leader, last_log_index, applied, lags) = {
            let m = metrics.borrow_and_update();
            let applied = m.last_applied.map(|l| l.index);
            (
                m.current_term,
                m.current_leader,
                m.last_log_index,
                applied,
                follower_lags(&m),
            )
        };
        gauges.term.set(term as f64);
        gauges.leader_id.set(leader.unwrap_or(0) as f64);
        if leaders.saw(term, leader) {
            gauges.leader_changes.increment(1);
            tracing::info!(term, leader_id = leader, "leader changed");
        }
        gauges
            .last_log_index
            .set(last_log_index.unwrap_or(0) as f64);
        gauges.applied_index.set(applied.unwrap_or(0) as f64);
        // The commit index moves before the applied one, and every commit is applied next.
        if applied_seen != Some(applied) {
            applied_seen = Some(applied);
            match log_store::committed_index(&db) {
                Ok(committed) => gauges.committed_index.set(committed as f64),
                Err(e) => tracing::warn!(error = %e, "cannot read the commit index"),
            }
        }
        gauges.set_lags(&lags.unwrap_or_default());
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId};

    use super::*;

    fn log_id(index: u64) -> LogId<ReplicaId> {
        LogId::new(CommittedLeaderId::new(2, 1), index)
    }

    #[test]
    fn a_change_is_a_new_term_or_leader_not_losing_one() {
        // Goal: the first leader seen counts and the same one again does not; an election
        // without a leader yet does not, its winner does; the same replica re-elected in a new
        // term does; losing sight of the leader and seeing it again in its term does not.
        let mut seen = LeaderChanges::default();
        let changes: Vec<bool> = [
            (1, Some(1)),
            (1, Some(1)),
            (2, None),
            (2, Some(2)),
            (3, Some(2)),
            (3, None),
            (3, Some(2)),
        ]
        .into_iter()
        .map(|(term, leader)| seen.saw(term, leader))
        .collect();
        assert_eq!(changes, [true, false, false, true, true, false, false]);
    }

    #[test]
    fn lags_are_the_entries_each_follower_misses_on_the_leader_only() {
        // Goal: the leader's own entry is left out; a follower that matched nothing misses the
        // whole log (index 0 included); a caught-up one is at 0; a replica that does not lead
        // has no lags.
        let mut m = Metrics::new_initial(1);
        m.state = ServerState::Leader;
        m.last_log_index = Some(9);
        m.replication = Some(BTreeMap::from([
            (1, Some(log_id(9))),
            (2, Some(log_id(9))),
            (3, Some(log_id(4))),
            (4, None),
        ]));
        assert_eq!(
            follower_lags(&m),
            Some(vec![(2, 0), (3, 5), (4, 10)]),
            "{m:?}"
        );
        m.state = ServerState::Follower;
        assert_eq!(follower_lags(&m), None);
    }
}
