//! Recent leader changes of both groups, as the probes learn them (`probe::probe_all`), for
//! the list on `/ui`. A bounded ring: the oldest change is dropped past
//! [`LEADER_CHANGES_MAX`].

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Changes kept: enough for a few minutes of a chaos run killing leaders every few seconds.
pub(crate) const LEADER_CHANGES_MAX: usize = 32;

/// A group's leader, newly seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct LeaderChange {
    /// When this frontend saw it, milliseconds since the Unix epoch.
    pub(crate) at_unix_ms: u64,
    /// `catalog` or `orders`.
    pub(crate) group: String,
    /// The new leader's replica id.
    pub(crate) leader: u64,
    /// Its term.
    pub(crate) term: u64,
    /// The leader seen before (none: the first one this frontend saw).
    pub(crate) previous_leader: Option<u64>,
}

/// The ring, and the last leader seen per group.
#[derive(Debug, Default)]
pub(crate) struct LeaderChanges {
    /// A std mutex: held for a comparison and a push, twice per probe wave.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `(group, leader, term)` last seen, per group.
    last: Vec<(&'static str, u64, u64)>,
    changes: VecDeque<LeaderChange>,
}

impl LeaderChanges {
    /// What one probe wave learned of `group`: `leader` (if any) at `term`. A change is kept
    /// when a known leader differs from the last one seen, or its term does; an unknown leader
    /// (an election under way, every replica down) and a lower term (a stale report) are not
    /// changes. Returns whether it was one.
    pub(crate) fn observe(&self, group: &'static str, leader: Option<u64>, term: u64) -> bool {
        self.observe_at(SystemTime::now(), group, leader, term)
    }

    fn observe_at(
        &self,
        at: SystemTime,
        group: &'static str,
        leader: Option<u64>,
        term: u64,
    ) -> bool {
        let Some(leader) = leader else {
            return false;
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let position = inner.last.iter().position(|(g, _, _)| *g == group);
        let previous_leader = match position.map(|i| inner.last[i]) {
            Some((_, seen, seen_term))
                if seen_term > term || (seen, seen_term) == (leader, term) =>
            {
                return false
            }
            Some((_, seen, _)) => Some(seen),
            None => None,
        };
        match position {
            Some(i) => inner.last[i] = (group, leader, term),
            None => inner.last.push((group, leader, term)),
        }
        if inner.changes.len() == LEADER_CHANGES_MAX {
            inner.changes.pop_front();
        }
        let at_unix_ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        inner.changes.push_back(LeaderChange {
            at_unix_ms,
            group: group.to_string(),
            leader,
            term,
            previous_leader,
        });
        true
    }

    /// The kept changes, newest first.
    pub(crate) fn newest_first(&self) -> Vec<LeaderChange> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.changes.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_a_new_leader_or_term_is_a_change_and_stale_reports_are_not() {
        // Goal: the first leader seen, a new leader and a new term are changes, per group;
        // the same leader again, no leader and a lower term are not.
        let changes = LeaderChanges::default();
        assert!(changes.observe("catalog", Some(1), 1));
        assert!(!changes.observe("catalog", Some(1), 1));
        assert!(!changes.observe("catalog", None, 2));
        assert!(changes.observe("orders", Some(3), 1));
        assert!(changes.observe("catalog", Some(2), 2));
        assert!(!changes.observe("catalog", Some(1), 1), "a stale report");
        assert!(
            changes.observe("catalog", Some(2), 3),
            "same leader, new term"
        );
        let seen: Vec<(String, u64, u64, Option<u64>)> = changes
            .newest_first()
            .into_iter()
            .map(|c| (c.group, c.leader, c.term, c.previous_leader))
            .collect();
        assert_eq!(
            seen,
            [
                ("catalog".to_string(), 2, 3, Some(2)),
                ("catalog".to_string(), 2, 2, Some(1)),
                ("orders".to_string(), 3, 1, None),
                ("catalog".to_string(), 1, 1, None),
            ]
        );
    }

    #[test]
    fn the_ring_keeps_the_newest_changes_only() {
        // Goal: past the bound, the oldest change goes; times are the observation's.
        let changes = LeaderChanges::default();
        let epoch = UNIX_EPOCH + Duration::from_secs(1_000);
        let total = u64::try_from(LEADER_CHANGES_MAX).unwrap() + 5;
        for term in 1..=total {
            let at = epoch + Duration::from_millis(term);
            assert!(changes.observe_at(at, "orders", Some(term % 3 + 1), term));
        }
        let kept = changes.newest_first();
        assert_eq!(kept.len(), LEADER_CHANGES_MAX);
        assert_eq!(kept[0].term, total);
        assert_eq!(kept[0].at_unix_ms, 1_000_000 + total);
        assert_eq!(kept.last().unwrap().term, 6);
    }
}
