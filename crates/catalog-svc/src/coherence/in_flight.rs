//! The writes a catalog leader announced and has not seen apply, with what their end proves.

use std::collections::BTreeMap;
use std::time::Duration;

use api::coherence::{Slot, WriteId, WriteNotice};
use tokio::time::Instant;

/// A write announced to the frontends, and the deadline its proposal had.
#[derive(Debug, Clone)]
struct Announced {
    notice: WriteNotice,
    deadline: Instant,
}

/// The writes of this leader's current term that were announced and have not applied yet.
/// Sequence numbers run on across terms, so a late `finish` never hits another term's write.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    term: u64,
    last_seq: u64,
    writes: BTreeMap<u64, Announced>,
    /// An index at or above every write that left `writes` having applied (or possibly so):
    /// Raft's metrics may not show it yet.
    settled: u64,
}

impl InFlight {
    /// Forgets an earlier term's writes: frontends reset their caches on a new term.
    pub(super) fn enter(&mut self, term: u64) {
        if self.term != term {
            self.term = term;
            self.writes.clear();
        }
    }

    /// Numbers a write of `term` changing `slots`, proposed before `deadline`, and lists it.
    pub(super) fn begin(&mut self, term: u64, slots: Vec<Slot>, deadline: Instant) -> WriteNotice {
        self.enter(term);
        self.last_seq += 1;
        let notice = WriteNotice {
            write: WriteId {
                term,
                seq: self.last_seq,
            },
            slots,
        };
        let announced = Announced {
            notice: notice.clone(),
            deadline,
        };
        self.writes.insert(self.last_seq, announced);
        notice
    }

    /// Unlists write `seq`, which applied at `applied` (`None`: it never will under this
    /// leader); the notice, if it was still listed.
    pub(super) fn finish(&mut self, seq: u64, applied: Option<u64>) -> Option<WriteNotice> {
        let announced = self.writes.remove(&seq)?;
        // Under the same lock: a grant that no longer lists the write has its index.
        if let Some(index) = applied {
            self.settled = self.settled.max(index);
        }
        Some(announced.notice)
    }

    /// Resolves the writes still listed `overdue` past their deadline, which no path of ours
    /// left listed on purpose: each was proposed before its deadline, so if it is in the log
    /// at all it is at or below `log_index`, the leader's last log index now. A value read at
    /// `log_index` or later shows it whether it applied or not; the frontends cache the slots
    /// again from such values. The writes resolved.
    pub(super) fn expire(
        &mut self,
        now: Instant,
        overdue: Duration,
        log_index: u64,
    ) -> Vec<WriteNotice> {
        let expired: Vec<u64> = self
            .writes
            .iter()
            .filter(|(_, a)| a.deadline + overdue <= now)
            .map(|(seq, _)| *seq)
            .collect();
        let mut resolved = Vec::with_capacity(expired.len());
        for seq in expired {
            if let Some(notice) = self.finish(seq, Some(log_index)) {
                resolved.push(notice);
            }
        }
        resolved
    }

    /// The writes listed, the next sequence number, and the index every unlisted write settled at.
    pub(super) fn listing(&mut self, term: u64) -> (Vec<WriteNotice>, u64, u64) {
        self.enter(term);
        let listed = self.writes.values().map(|a| a.notice.clone()).collect();
        (listed, self.last_seq + 1, self.settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(1);

    #[test]
    fn an_overdue_write_is_resolved_at_the_last_log_index_and_a_timely_one_stays() {
        // Goal: a write still listed two leases past its deadline leaves the list, and the
        // listing's settled index covers it with the leader's last log index; a write within
        // its bound stays listed.
        let now = Instant::now();
        let mut state = InFlight::default();
        let old = state.begin(3, vec![Slot::Book(1)], now);
        let fresh = state.begin(3, vec![Slot::Book(2)], now + 10 * LEASE);
        let resolved = state.expire(now + 2 * LEASE, 2 * LEASE, 40);
        assert_eq!(resolved, vec![old]);
        let (listed, next_seq, settled) = state.listing(3);
        assert_eq!((listed, next_seq, settled), (vec![fresh], 3, 40));
    }

    #[test]
    fn a_write_that_never_applies_leaves_the_settled_index_alone() {
        // Goal: finishing without an index unlists the write without claiming an index.
        let mut state = InFlight::default();
        let write = state.begin(1, vec![Slot::AllBooks], Instant::now());
        assert!(state.finish(write.write.seq, None).is_some());
        assert!(
            state.finish(write.write.seq, Some(9)).is_none(),
            "only once"
        );
        assert_eq!(state.listing(1), (Vec::new(), 2, 0));
    }
}
