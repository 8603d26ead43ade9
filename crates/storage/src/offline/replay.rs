//! The log replayed onto the last snapshot (or from the start), and differences between two
//! states: what `verify` compares a replica's state with, and what `diff` shows.

use std::collections::{BTreeMap, BTreeSet};

use openraft::EntryPayload;

use super::summary::{index_of, value, RaftMeta};
use crate::db::guard_sled;
use crate::machine::ServiceMachine;
use crate::scratch::ScratchState;
use crate::snapshot::StateImage;
use crate::types::GroupTypes;

/// A log entry of a group of `M`.
pub(crate) type Entry<M> = openraft::Entry<GroupTypes<M>>;

/// A state rebuilt by applying the log's commands, as the runner applied them.
pub struct Replay<M: ServiceMachine> {
    /// Log index of the snapshot replay started from; `None`: from the empty state.
    pub base_index: Option<u64>,
    /// The state replay started from.
    pub base: StateImage,
    /// Every command applied, in log order, with its answer.
    pub applied: Vec<Applied<M>>,
    /// The state replay ended with.
    pub result: StateImage,
}

/// One command applied during a replay.
pub struct Applied<M: ServiceMachine> {
    /// Its log index.
    pub index: u64,
    /// The command.
    pub command: M::Command,
    /// What applying it answered.
    pub response: M::Response,
}

/// Why a replay could not be done, or where it failed.
pub(crate) enum ReplayError {
    /// The data needed is not there (log purged without a snapshot, entries missing, ...).
    Impossible(String),
    /// Applying the entry at this index panicked (a value the machine reads does not decode).
    Failed(u64, String),
}

/// Replays the log of `M` up to the stored `last_applied`: from the empty state while nothing was
/// purged, else onto the stored snapshot.
pub(crate) fn replay<M: ServiceMachine>(
    meta: &RaftMeta,
    log: &BTreeMap<u64, Entry<M>>,
) -> Result<Replay<M>, ReplayError> {
    let impossible = |why: String| Err(ReplayError::Impossible(why));
    let (base_index, base) = match base_of::<M>(meta) {
        Ok(base) => base,
        Err(why) => return impossible(why),
    };
    let Some(applied) = index_of(&meta.last_applied) else {
        // Nothing applied: the state must be what it started as.
        return Ok(Replay {
            base_index,
            result: base.clone(),
            base,
            applied: Vec::new(),
        });
    };
    let start = base_index.map_or(0, |i| i + 1);
    if let Some(missing) = (start..=applied).find(|i| !log.contains_key(i)) {
        return impossible(format!(
            "log entry {missing} (between the replay start {start} and last_applied {applied}) is \
             missing or does not decode"
        ));
    }
    let state = guard_sled(|| ScratchState::<M>::from_image(&base))
        .map_err(|why| ReplayError::Failed(start, why))?;
    let mut done = Vec::new();
    // `range(start..=applied)` would panic when the snapshot is at `applied` (nothing to replay).
    for (&index, entry) in log.range(start..).take_while(|(i, _)| **i <= applied) {
        let EntryPayload::Normal(command) = &entry.payload else {
            continue;
        };
        let response =
            guard_sled(|| state.apply(command)).map_err(|why| ReplayError::Failed(index, why))?;
        done.push(Applied {
            index,
            command: command.clone(),
            response,
        });
    }
    let result = guard_sled(|| state.image()).map_err(|why| ReplayError::Failed(applied, why))?;
    Ok(Replay {
        base_index,
        base,
        applied: done,
        result,
    })
}

/// Where replay starts: the empty state while nothing was purged (the whole log is there, the
/// strongest check), else the stored snapshot.
fn base_of<M: ServiceMachine>(meta: &RaftMeta) -> Result<(Option<u64>, StateImage), String> {
    let Some(purged) = index_of(&meta.last_purged) else {
        let empty = M::STATE_TREES.iter().map(|n| (n.to_string(), Vec::new()));
        return Ok((
            None,
            StateImage {
                trees: empty.collect(),
            },
        ));
    };
    let snapshot = value(&meta.snapshot);
    let Some(last) = snapshot.and_then(|s| s.last_log_id) else {
        return Err(format!(
            "the log is purged up to {purged} and there is no snapshot to start from"
        ));
    };
    if index_of(&meta.last_applied).is_none_or(|applied| last.index > applied) {
        return Err(format!(
            "the snapshot (up to {}) is ahead of last_applied",
            last.index
        ));
    }
    let data = meta
        .snapshot_data
        .as_deref()
        .ok_or("the snapshot's image file is missing")?;
    let image = StateImage::decode(data).map_err(|e| format!("the snapshot image: {e}"))?;
    let names: Vec<&str> = image.trees.iter().map(|(n, _)| n.as_str()).collect();
    if names != M::STATE_TREES {
        return Err(format!(
            "the snapshot has trees {names:?}, expected {:?}",
            M::STATE_TREES
        ));
    }
    Ok((Some(last.index), image))
}

/// A key whose value differs between two states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Tree name.
    pub tree: String,
    /// The key.
    pub key: Vec<u8>,
    /// The value in the first state, if any.
    pub left: Option<Vec<u8>>,
    /// The value in the second state, if any.
    pub right: Option<Vec<u8>>,
}

/// Every key whose value differs between two images of the same trees, in tree order then key
/// order (a tree only one image has counts as empty in the other).
pub fn differences(left: &StateImage, right: &StateImage) -> Vec<Difference> {
    let names: Vec<&String> = left.trees.iter().map(|(n, _)| n).collect();
    let extra = right
        .trees
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !names.contains(n));
    let as_map = |image: &'_ StateImage, name: &str| -> BTreeMap<Vec<u8>, Vec<u8>> {
        let tree = image.trees.iter().find(|(n, _)| n == name);
        tree.map(|(_, entries)| entries.iter().cloned().collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for name in names.iter().copied().chain(extra) {
        let (l, r) = (as_map(left, name), as_map(right, name));
        let keys: BTreeSet<&Vec<u8>> = l.keys().chain(r.keys()).collect();
        for key in keys {
            let (lv, rv) = (l.get(key), r.get(key));
            if lv != rv {
                out.push(Difference {
                    tree: name.clone(),
                    key: key.clone(),
                    left: lv.cloned(),
                    right: rv.cloned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entries<'a> = &'a [(&'a [u8], &'a [u8])];

    fn image(trees: &[(&str, Entries<'_>)]) -> StateImage {
        StateImage {
            trees: trees
                .iter()
                .map(|(n, e)| {
                    let entries = e.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                    (n.to_string(), entries)
                })
                .collect(),
        }
    }

    #[test]
    fn differences_name_changed_added_and_removed_keys() {
        let a = image(&[("t", &[(b"a", b"1"), (b"b", b"2")]), ("u", &[])]);
        let b = image(&[("t", &[(b"b", b"3"), (b"c", b"4")]), ("u", &[])]);
        let found = differences(&a, &b);
        let shown: Vec<String> = found
            .iter()
            .map(|d| format!("{}/{:?}: {:?} -> {:?}", d.tree, d.key, d.left, d.right))
            .collect();
        assert_eq!(
            shown,
            [
                "t/[97]: Some([49]) -> None",
                "t/[98]: Some([50]) -> Some([51])",
                "t/[99]: None -> Some([52])",
            ]
        );
        assert!(differences(&a, &a).is_empty());
    }
}
