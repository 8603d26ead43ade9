//! A fault as it happened: what it hit, when it healed, and what was seen during it (the leader
//! the majority elected, the cache hits of a frontend cut off from the catalog leader).

use client::chaos::{FaultKind, FaultScope, Role};
use serde::Serialize;

use crate::chaos::lease_probe::LeaseProbe;
use crate::chaos::partition::Cut;

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultEvent {
    /// When it fired, ms after the workload started.
    pub(crate) at_ms: f64,
    /// What it was.
    pub(crate) kind: FaultKind,
    /// The processes it hit (empty if it was skipped).
    pub(crate) targets: Vec<String>,
    /// The role of the replica it hit when it fired (what it aimed at, if skipped).
    pub(crate) role: Role,
    /// When its targets were restarted, resumed or reconnected, ms after the start.
    pub(crate) healed_at_ms: Option<f64>,
    /// Why it was skipped, if it was.
    pub(crate) skipped: Option<String>,
    /// The network cut, for a partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cut: Option<Cut>,
    /// For a replica partition: the leader the rest of the group reported just before the cut
    /// healed (`None`: none did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) leader_after: Option<String>,
    /// For a frontend cut off from the catalog leader: its cache hits during the cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lease_probe: Option<LeaseProbe>,
    /// For a replacement: the new replica that took the target's place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replacement: Option<String>,
}

impl FaultEvent {
    /// A fault of `kind` aimed at `role`, fired at `at_ms`, before its targets are known.
    pub(crate) fn new(at_ms: f64, kind: FaultKind, role: Role) -> Self {
        FaultEvent {
            at_ms,
            kind,
            targets: Vec::new(),
            role,
            healed_at_ms: None,
            skipped: None,
            cut: None,
            leader_after: None,
            lease_probe: None,
            replacement: None,
        }
    }

    /// What it hit, for the unavailability figures.
    pub(crate) fn scope(&self) -> FaultScope {
        match (self.kind, self.targets.first()) {
            (FaultKind::KillFrontend | FaultKind::CutFrontend, _) => FaultScope::Frontend,
            (_, Some(t)) if t.starts_with("orders") => FaultScope::Orders,
            _ => FaultScope::Catalog,
        }
    }

    /// Whether it cut a group's leader off from the rest of its group.
    pub(crate) fn partitions_leader(&self) -> bool {
        matches!(
            self.kind,
            FaultKind::Isolate | FaultKind::Split | FaultKind::OneWay
        ) && self.role == Role::Leader
            && self.skipped.is_none()
    }

    /// A one-line description, e.g. `kill orders-2 (leader)`.
    pub(crate) fn describe(&self) -> String {
        let role = match (self.kind, self.role) {
            (FaultKind::KillFrontend | FaultKind::KillGroup | FaultKind::CutFrontend, _) => "",
            (_, Role::Leader) => " (leader)",
            (_, Role::Follower) => " (follower)",
        };
        let targets = self.targets.join(", ");
        let from = self
            .cut
            .as_ref()
            .map_or(String::new(), |c| c.from.join(", "));
        match self.kind {
            FaultKind::Kill | FaultKind::KillFrontend => format!("kill {targets}{role}"),
            FaultKind::Pause => format!("pause {targets}{role}"),
            FaultKind::KillGroup => format!("kill all of {targets}"),
            FaultKind::Isolate => format!("isolate {targets}{role}"),
            FaultKind::Split => format!("split {targets}{role} | {from}"),
            FaultKind::OneWay => format!("one-way cut {targets}{role} -/-> {from}"),
            FaultKind::CutFrontend => format!("cut {targets} from {from} (catalog leader)"),
            FaultKind::Member => format!(
                "replace {targets}{role} by {}",
                self.replacement.as_deref().unwrap_or("?")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: FaultKind, targets: &[&str], role: Role) -> FaultEvent {
        FaultEvent {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..FaultEvent::new(1500.0, kind, role)
        }
    }

    fn cut(kind: FaultKind, side: &str, from: &[&str], role: Role) -> FaultEvent {
        FaultEvent {
            cut: Some(Cut {
                side: vec![side.into()],
                from: from.iter().map(|f| f.to_string()).collect(),
                one_way: kind == FaultKind::OneWay,
            }),
            ..event(kind, &[side], role)
        }
    }

    #[test]
    fn a_fault_says_what_it_hit_and_whose_writes_it_stops() {
        // Goal: the report's fault column and the unavailability figures (which writes a
        // fault can stop) come from the event. Method: one event of each kind.
        let kill = event(FaultKind::Kill, &["orders-2"], Role::Leader);
        assert_eq!(kill.describe(), "kill orders-2 (leader)");
        assert_eq!(kill.scope(), FaultScope::Orders);
        let pause = event(FaultKind::Pause, &["catalog-3"], Role::Follower);
        assert_eq!(pause.describe(), "pause catalog-3 (follower)");
        assert_eq!(pause.scope(), FaultScope::Catalog);
        let frontend = event(FaultKind::KillFrontend, &["frontend-2"], Role::Leader);
        assert_eq!(frontend.describe(), "kill frontend-2");
        assert_eq!(frontend.scope(), FaultScope::Frontend);
        let group = event(
            FaultKind::KillGroup,
            &["orders-1", "orders-2", "orders-3"],
            Role::Leader,
        );
        assert_eq!(group.describe(), "kill all of orders-1, orders-2, orders-3");
        assert_eq!(group.scope(), FaultScope::Orders);
        assert!(!kill.partitions_leader());
    }

    #[test]
    fn a_partition_names_both_sides() {
        let peers = ["catalog-2", "catalog-3"];
        let split = cut(FaultKind::Split, "catalog-1", &peers, Role::Leader);
        assert_eq!(
            split.describe(),
            "split catalog-1 (leader) | catalog-2, catalog-3"
        );
        assert!(split.partitions_leader());
        let one_way = cut(FaultKind::OneWay, "orders-3", &["orders-1"], Role::Follower);
        assert_eq!(
            one_way.describe(),
            "one-way cut orders-3 (follower) -/-> orders-1"
        );
        assert_eq!(one_way.scope(), FaultScope::Orders);
        assert!(!one_way.partitions_leader(), "a follower was cut");
        let isolate = cut(FaultKind::Isolate, "catalog-2", &peers, Role::Leader);
        assert_eq!(isolate.describe(), "isolate catalog-2 (leader)");
        let frontend = cut(
            FaultKind::CutFrontend,
            "frontend-1",
            &["catalog-3"],
            Role::Leader,
        );
        assert_eq!(
            frontend.describe(),
            "cut frontend-1 from catalog-3 (catalog leader)"
        );
        assert_eq!(frontend.scope(), FaultScope::Frontend);
        assert!(!frontend.partitions_leader());
    }
}
