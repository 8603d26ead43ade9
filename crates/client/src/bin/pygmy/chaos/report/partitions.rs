//! What the partitions of a run showed: each leader cut off from the rest of its group, whether
//! the rest elected another and served new writes before the cut healed; and the check that a
//! frontend cut off from the catalog leader stopped answering from its cache within one lease.

use std::time::Duration;

use check::{CheckResult, CheckStatus};
use client::chaos::timeline::Sample;
use client::chaos::{FaultKind, FaultScope, Write};

use crate::chaos::event::FaultEvent;

/// Leader partitions of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeaderPartitions {
    /// Partitions that cut a leader off from the rest of its group.
    pub(crate) count: usize,
    /// For each of those during which the rest of the group reported another leader and a
    /// write needing the group, sent after the cut, succeeded before it healed: the time from
    /// the cut to that write's answer, ms. The old leader, cut off, could not have committed it.
    pub(crate) failovers_ms: Vec<f64>,
}

/// The leader partitions among `events`, with the operations of the run as `samples`.
pub(crate) fn leader_partitions(events: &[FaultEvent], samples: &[Sample]) -> LeaderPartitions {
    let mut tally = LeaderPartitions {
        count: 0,
        failovers_ms: Vec::new(),
    };
    for e in events.iter().filter(|e| e.partitions_leader()) {
        tally.count += 1;
        let new_leader = e
            .leader_after
            .as_ref()
            .is_some_and(|l| !e.targets.contains(l));
        let Some(healed) = e.healed_at_ms.filter(|_| new_leader) else {
            continue;
        };
        let needs_group = |w: Write| e.scope() != FaultScope::Orders || w == Write::Buy;
        let first = samples
            .iter()
            .filter(|s| s.ok && s.invoke_ms >= e.at_ms && s.write.is_some_and(needs_group))
            .filter_map(|s| s.complete_ms)
            .filter(|&done| done < healed)
            .reduce(f64::min);
        if let Some(done) = first {
            tally.failovers_ms.push(done - e.at_ms);
        }
    }
    tally
}

/// The check `cache_stops_when_cut_off`: no frontend cut off from the catalog leader answered
/// from its cache a request sent more than `lease` after the cut. `None` without such a cut.
pub(crate) fn lease_check(events: &[FaultEvent], lease: Duration) -> Option<CheckResult> {
    let cuts: Vec<&FaultEvent> = events
        .iter()
        .filter(|e| e.kind == FaultKind::CutFrontend && e.skipped.is_none())
        .collect();
    if cuts.is_empty() {
        return None;
    }
    let lease_ms = lease.as_secs_f64() * 1000.0;
    let mut violations = Vec::new();
    let mut latest: Option<f64> = None;
    let mut reads = 0;
    for e in &cuts {
        let Some(probe) = &e.lease_probe else {
            violations.push(format!("{}: the probe did not report", e.describe()));
            continue;
        };
        reads += probe.reads;
        latest = match (latest, probe.last_hit_sent_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if !probe.within(lease) {
            violations.push(format!(
                "{} at {:.1}s: a cache hit answered a read sent {:.0} ms after the cut (lease {lease_ms:.0} ms)",
                e.describe(),
                e.at_ms / 1000.0,
                probe.last_hit_sent_ms.unwrap_or_default()
            ));
        }
    }
    let status = if violations.is_empty() {
        CheckStatus::Passed
    } else {
        CheckStatus::Failed
    };
    let details = if violations.is_empty() {
        vec![format!(
            "{} frontend cut(s), {reads} probe reads: {} (lease {lease_ms:.0} ms)",
            cuts.len(),
            latest.map_or("no hit after any cut".into(), |ms| format!(
                "the last hit answered a read sent {ms:.0} ms after its cut"
            )),
        )]
    } else {
        violations
    };
    Some(CheckResult {
        name: "cache_stops_when_cut_off".into(),
        status,
        details,
        ops: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use client::chaos::Role;

    use super::*;
    use crate::chaos::lease_probe::LeaseProbe;

    fn fault(kind: FaultKind, target: &str, healed_at_ms: f64) -> FaultEvent {
        FaultEvent {
            targets: vec![target.into()],
            healed_at_ms: Some(healed_at_ms),
            ..FaultEvent::new(1000.0, kind, Role::Leader)
        }
    }

    fn write(invoke_ms: f64, complete_ms: f64, write: Write) -> Sample {
        Sample {
            invoke_ms,
            complete_ms: Some(complete_ms),
            ok: true,
            write: Some(write),
        }
    }

    #[test]
    fn a_failover_counts_when_another_leader_served_a_later_write_before_the_heal() {
        // Goal: the report's failover figure needs a new leader seen by the rest of the group
        // and a write sent after the cut that succeeded before the heal (the old leader, cut
        // off, could not have committed it).
        let split = |target: &str, leader_after: Option<&str>| FaultEvent {
            leader_after: leader_after.map(String::from),
            ..fault(FaultKind::Split, target, 7000.0)
        };
        let samples = [
            // Sent before the cut: proves nothing.
            write(900.0, 1100.0, Write::Restock),
            write(1200.0, 4200.0, Write::Restock),
            // After the heal: too late.
            write(6000.0, 7100.0, Write::Buy),
        ];
        let events = [
            split("catalog-1", Some("catalog-2")),
            split("catalog-1", Some("catalog-1")),
            split("catalog-1", None),
            fault(FaultKind::Kill, "catalog-1", 7000.0),
            split("orders-1", Some("orders-2")),
        ];
        let tally = leader_partitions(&events, &samples);
        assert_eq!(tally.count, 4);
        assert_eq!(
            tally.failovers_ms,
            [3200.0],
            "the old leader again, none, and an orders cut with no buy before the heal do not count"
        );
    }

    #[test]
    fn a_hit_after_one_lease_fails_the_check_and_no_cut_no_check() {
        let lease = Duration::from_millis(1000);
        let cut = |last| FaultEvent {
            lease_probe: Some(LeaseProbe {
                reads: 100,
                hits: 10,
                last_hit_sent_ms: last,
            }),
            ..fault(FaultKind::CutFrontend, "frontend-1", 5000.0)
        };
        assert!(lease_check(&[fault(FaultKind::Kill, "orders-1", 2.0)], lease).is_none());
        let ok = lease_check(&[cut(Some(640.0)), cut(None)], lease).unwrap();
        assert_eq!(ok.status, CheckStatus::Passed, "{:?}", ok.details);
        assert!(ok.details[0].contains("640 ms"), "{:?}", ok.details);
        let late = lease_check(&[cut(Some(640.0)), cut(Some(1300.0))], lease).unwrap();
        assert_eq!(late.status, CheckStatus::Failed);
        assert!(late.details[0].contains("1300 ms"), "{:?}", late.details);
        let silent = FaultEvent {
            lease_probe: None,
            ..cut(None)
        };
        let unreported = lease_check(&[silent], lease).unwrap();
        assert_eq!(unreported.status, CheckStatus::Failed);
    }
}
