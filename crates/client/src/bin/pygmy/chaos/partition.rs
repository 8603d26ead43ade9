//! Network partitions as the nemesis plans them: which processes are cut off from which, and in
//! which direction. Pure, so that the plans are tested without containers; `compose::netcut`
//! carries them out.

use client::chaos::FaultKind;
use serde::Serialize;

/// A cut: `side` can no longer reach `from`; unless `one_way`, `from` cannot reach `side`
/// either. One way means `side`'s own requests to `from` are dropped while `from`'s requests to
/// `side` (and `side`'s answers to them) pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Cut {
    /// The processes cut off.
    pub(crate) side: Vec<String>,
    /// The processes they are cut off from.
    pub(crate) from: Vec<String>,
    /// Only `side`'s requests are dropped.
    pub(crate) one_way: bool,
}

/// Who is where, when a partition is planned.
pub(crate) struct Layout<'a> {
    /// The replicas of the target's group (the target among them).
    pub(crate) group: &'a [String],
    /// Every process of the cluster: both groups' replicas and the frontends.
    pub(crate) everyone: &'a [String],
}

impl Cut {
    /// The cut a replica partition of `kind` makes, `side` being the replicas cut off (the
    /// target first). `None` for a kind that is not a replica partition.
    pub(crate) fn of_replicas(kind: FaultKind, side: Vec<String>, layout: &Layout) -> Option<Cut> {
        let others = |pool: &[String]| -> Vec<String> {
            pool.iter().filter(|n| !side.contains(n)).cloned().collect()
        };
        let (from, one_way) = match kind {
            FaultKind::Isolate => (others(layout.everyone), false),
            FaultKind::Split => (others(layout.group), false),
            FaultKind::OneWay => (others(layout.group), true),
            _ => return None,
        };
        Some(Cut {
            side,
            from,
            one_way,
        })
    }

    /// A frontend cut off from the catalog leader, both ways.
    pub(crate) fn of_frontend(frontend: String, catalog_leader: String) -> Cut {
        Cut {
            side: vec![frontend],
            from: vec![catalog_leader],
            one_way: false,
        }
    }
}

/// How many replicas of a group of `replicas` a split puts on its minority side, at most
/// `allowed` (what `--max-down` still allows): 1 of 3 (2|1), 2 of 5 (3|2).
pub(crate) fn minority_side(replicas: usize, allowed: usize) -> usize {
    (replicas.saturating_sub(1) / 2).min(allowed).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn each_partition_cuts_the_side_from_whom_its_kind_says() {
        // Goal: isolate cuts a replica from every process, split and one-way only from its
        // own group, and only one-way lets the others' requests through.
        let group = names(&["catalog-1", "catalog-2", "catalog-3"]);
        let everyone = names(&[
            "catalog-1",
            "catalog-2",
            "catalog-3",
            "orders-1",
            "frontend-1",
        ]);
        let layout = Layout {
            group: &group,
            everyone: &everyone,
        };
        let side = names(&["catalog-2"]);
        let isolate = Cut::of_replicas(FaultKind::Isolate, side.clone(), &layout).unwrap();
        assert_eq!(
            isolate.from,
            names(&["catalog-1", "catalog-3", "orders-1", "frontend-1"])
        );
        assert!(!isolate.one_way);
        let split = Cut::of_replicas(FaultKind::Split, side.clone(), &layout).unwrap();
        assert_eq!(split.from, names(&["catalog-1", "catalog-3"]));
        assert!(!split.one_way);
        let one_way = Cut::of_replicas(FaultKind::OneWay, side.clone(), &layout).unwrap();
        assert_eq!(one_way.from, split.from);
        assert!(one_way.one_way);
        assert_eq!(Cut::of_replicas(FaultKind::Kill, side, &layout), None);
        let frontend = Cut::of_frontend("frontend-1".into(), "catalog-3".into());
        assert_eq!(
            (frontend.side, frontend.from),
            (names(&["frontend-1"]), names(&["catalog-3"]))
        );
    }

    #[test]
    fn a_split_leaves_a_majority_on_the_other_side() {
        assert_eq!(minority_side(3, 1), 1);
        assert_eq!(minority_side(5, 2), 2);
        assert_eq!(minority_side(5, 1), 1, "--max-down allows one more only");
        assert_eq!(minority_side(7, 3), 3);
        assert_eq!(minority_side(1, 0), 1, "a single replica is its own side");
    }
}
