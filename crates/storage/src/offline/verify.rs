//! `verify` of one replica: its log and Raft metadata, its state's own invariants (checked by the
//! service), and its state against the log replayed onto the last snapshot.

use std::collections::BTreeMap;

use serde::Serialize;

use super::replay::{differences, replay, Entry, ReplayError};
use super::summary::{index_of, value, RaftMeta};
use super::{tree_key, InspectMachine, ReplicaCopy, Violation, RAFT_TREES};
use crate::db::{RAFT_LOG, SM_META};
use crate::digest::{StateDigest, STATE_DIGEST};
use crate::error::Result;
use crate::keys::try_key_u64;
use crate::snapshot::StateImage;

/// Every stored value decodes.
pub const CHECK_DECODES: &str = "every value decodes";
/// Log entries stand under their own index, with no gap after the purge point.
pub const CHECK_LOG: &str = "log indexes contiguous after the purge point";
/// The stored positions are in order.
pub const CHECK_POSITIONS: &str = "last_applied <= committed <= last log index";
/// The state digest the replica keeps (and reports in `/status`) is the digest of its state.
pub const CHECK_DIGEST: &str = "stored state digest equals the state's";
/// The state is what applying the log gives (from the start, or onto the last snapshot once
/// the log was purged).
pub const CHECK_REPLAY: &str = "state equals the log replayed";

/// What `verify` found in one replica.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The invariants checked.
    pub checked: Vec<&'static str>,
    /// The invariants that could not be checked, and why.
    pub skipped: Vec<Skipped>,
    /// Facts worth knowing that are not violations.
    pub notes: Vec<String>,
    /// Every violation found.
    pub violations: Vec<Violation>,
}

/// An invariant that could not be checked.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The invariant.
    pub check: &'static str,
    /// Why.
    pub reason: String,
}

impl Report {
    /// Records `checks` as skipped for `reason`.
    pub fn skip(&mut self, checks: &[&'static str], reason: &str) {
        for &check in checks {
            let reason = reason.to_string();
            self.skipped.push(Skipped { check, reason });
        }
    }
}

impl ReplicaCopy {
    /// Checks every invariant of a replica of `M` that its own directory allows.
    ///
    /// # Errors
    /// sled cannot read the copy (violations are in the report, not errors).
    pub fn verify<M: InspectMachine>(&self) -> Result<Report> {
        let mut report = Report {
            checked: vec![CHECK_DECODES, CHECK_LOG, CHECK_POSITIONS],
            ..Report::default()
        };
        let meta = self.raft_meta()?;
        for (key, why) in meta.unreadable() {
            report
                .violations
                .push(Violation::new(CHECK_DECODES, key, why));
        }
        let log = self.scan_log::<M>(index_of(&meta.last_purged), &mut report)?;
        check_positions(&meta, log.keys().next_back().copied(), &mut report);
        let state = self.image(M::STATE_TREES)?;
        report.checked.extend(M::STATE_CHECKS);
        report.violations.extend(M::check_state(&state));
        check_replay(&meta, &log, &state, &mut report);
        self.check_digest(M::STATE_TREES, &mut report)?;
        let known: Vec<&str> = RAFT_TREES.iter().chain(M::STATE_TREES).copied().collect();
        let unknown: Vec<String> = self
            .tree_names()
            .into_iter()
            .filter(|n| !known.contains(&n.as_str()))
            .collect();
        if !unknown.is_empty() {
            let list = unknown.join(", ");
            report
                .notes
                .push(format!("trees not used by {}: {list}", M::GROUP));
        }
        Ok(report)
    }

    /// Compares the digest stored by the last apply with a scan of the state trees `names`.
    fn check_digest(&self, names: &[&str], report: &mut Report) -> Result<()> {
        let Some(stored) = self.get(SM_META, STATE_DIGEST)? else {
            let why = "no digest is stored (a directory written before replicas kept one; it \
                       gets one when it next starts)";
            report.skip(&[CHECK_DIGEST], why);
            return Ok(());
        };
        report.checked.push(CHECK_DIGEST);
        let scanned = self.digest(names)?;
        let problem = match StateDigest::from_bytes(&stored) {
            None => format!("is {} bytes, not 16", stored.len()),
            Some(d) if d.hex() != scanned => {
                format!("is {}, but the state's digest is {scanned}", d.hex())
            }
            Some(_) => return Ok(()),
        };
        let key = format!("{SM_META}/state_digest");
        report
            .violations
            .push(Violation::new(CHECK_DIGEST, key, problem));
        Ok(())
    }

    /// Reads the whole log: entries that decode, by index; violations for those that do not,
    /// for entries under a foreign key, and for gaps after the purge point.
    fn scan_log<M: InspectMachine>(
        &self,
        purged: Option<u64>,
        report: &mut Report,
    ) -> Result<BTreeMap<u64, Entry<M>>> {
        let mut decoded = BTreeMap::new();
        let mut indexes = Vec::new();
        for (key, value) in self.entries(RAFT_LOG, None, usize::MAX)? {
            let name = tree_key::<M>(RAFT_LOG, &key);
            let Some(index) = try_key_u64(&key) else {
                let problem = format!("a key of {} bytes, not 8", key.len());
                report
                    .violations
                    .push(Violation::new(CHECK_LOG, name, problem));
                continue;
            };
            indexes.push(index);
            match serde_json::from_slice::<Entry<M>>(&value) {
                Ok(entry) if entry.log_id.index == index => {
                    decoded.insert(index, entry);
                }
                Ok(entry) => {
                    let problem = format!("holds the entry of index {}", entry.log_id.index);
                    report
                        .violations
                        .push(Violation::new(CHECK_LOG, name, problem));
                }
                Err(e) => {
                    let problem = format!("does not decode as a log entry: {e}");
                    report
                        .violations
                        .push(Violation::new(CHECK_DECODES, name, problem));
                }
            }
        }
        check_contiguous::<M>(&indexes, purged, report);
        Ok(decoded)
    }
}

/// Entries after the purge point (or from 0, openraft's first index, if nothing was purged) must
/// follow each other without a gap. Entries at or below it are left over by a purge a crash cut
/// short (the purge point is stored first): never read, so only noted.
fn check_contiguous<M: InspectMachine>(indexes: &[u64], purged: Option<u64>, report: &mut Report) {
    let start = purged.map_or(0, |p| p + 1);
    let below = indexes.iter().filter(|&&i| i < start).count();
    if below > 0 {
        report.notes.push(format!(
            "{below} log entries at or below the purge point {start_minus_one} remain (a purge cut \
             short by a crash; they are never read)",
            start_minus_one = start - 1
        ));
    }
    let mut expected = start;
    for &index in indexes.iter().filter(|&&i| i >= start) {
        if index != expected {
            let problem = format!(
                "follows a gap: entries {expected} to {} are missing{}",
                index - 1,
                purged.map_or(String::new(), |p| format!(" (purged up to {p})"))
            );
            let key = tree_key::<M>(RAFT_LOG, &crate::keys::u64_key(index));
            report
                .violations
                .push(Violation::new(CHECK_LOG, key, problem));
        }
        expected = index + 1;
    }
}

/// `last_applied <= committed <= last log index`, where the last log index is the last entry's,
/// or the purge point for an empty log.
fn check_positions(meta: &RaftMeta, last_entry: Option<u64>, report: &mut Report) {
    let applied = index_of(&meta.last_applied);
    let committed = index_of(&meta.committed);
    let last_log = last_entry.max(index_of(&meta.last_purged));
    let snapshot = value(&meta.snapshot);
    let snapshot_index = snapshot.and_then(|s| s.last_log_id).map(|id| id.index);
    let show = |i: Option<u64>| i.map_or("none".into(), |i| i.to_string());
    if applied > committed {
        if applied == snapshot_index {
            // openraft 0.9 installs a snapshot without storing the commit index it implies.
            report.notes.push(format!(
                "last_applied {} is the installed snapshot's index, above the stored committed {} \
                 (openraft 0.9 does not store committed when it installs a snapshot)",
                show(applied),
                show(committed)
            ));
        } else {
            let problem = format!(
                "last_applied {} > committed {}",
                show(applied),
                show(committed)
            );
            let v = Violation::new(CHECK_POSITIONS, "sm_meta/last_applied", problem);
            report.violations.push(v);
        }
    }
    if committed > last_log {
        let problem = format!(
            "committed {} > last log index {}",
            show(committed),
            show(last_log)
        );
        let v = Violation::new(CHECK_POSITIONS, "raft_meta/committed", problem);
        report.violations.push(v);
    }
}

/// Compares the state with the log replayed onto the last snapshot, then lets the service check
/// what it derives from the replay.
fn check_replay<M: InspectMachine>(
    meta: &RaftMeta,
    log: &BTreeMap<u64, Entry<M>>,
    state: &StateImage,
    report: &mut Report,
) {
    let replayed = match replay::<M>(meta, log) {
        Ok(replayed) => replayed,
        Err(ReplayError::Impossible(why)) => {
            report.skip(&[CHECK_REPLAY], &why);
            report.skip(M::REPLAY_CHECKS, &format!("no replay: {why}"));
            return;
        }
        Err(ReplayError::Failed(index, why)) => {
            report.checked.push(CHECK_REPLAY);
            let key = tree_key::<M>(RAFT_LOG, &crate::keys::u64_key(index));
            let problem = format!("replaying it failed: {why}");
            report
                .violations
                .push(Violation::new(CHECK_REPLAY, key, problem));
            report.skip(M::REPLAY_CHECKS, "the replay failed");
            return;
        }
    };
    report.checked.push(CHECK_REPLAY);
    report.checked.extend(M::REPLAY_CHECKS);
    let from = replayed
        .base_index
        .map_or("the empty state".into(), |i| format!("the snapshot at {i}"));
    let n = replayed.applied.len();
    let plural = if n == 1 { "" } else { "s" };
    report
        .notes
        .push(format!("replayed {n} command{plural} onto {from}"));
    for d in differences(state, &replayed.result) {
        let show = |v: &Option<Vec<u8>>| match v {
            None => "nothing".to_string(),
            Some(raw) => render_value::<M>(&d.tree, raw),
        };
        let problem = format!(
            "stored {}, but the replay gives {}",
            show(&d.left),
            show(&d.right)
        );
        let key = tree_key::<M>(&d.tree, &d.key);
        report
            .violations
            .push(Violation::new(CHECK_REPLAY, key, problem));
    }
    report.violations.extend(M::check_replay(&replayed, state));
}

/// A state value as compact JSON, or its raw bytes (lossy UTF-8) if it does not decode.
pub fn render_value<M: InspectMachine>(tree: &str, raw: &[u8]) -> String {
    match M::decode_value(tree, raw) {
        Ok(value) => value.to_string(),
        Err(_) => format!("undecodable {:?}", String::from_utf8_lossy(raw)),
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    use super::*;
    use crate::db::ReplicaDb;
    use crate::keys::u64_key;
    use crate::log_store::COMMITTED;
    use crate::machine::ServiceMachine;
    use crate::metrics::StoreMetrics;
    use crate::state_machine::StateMachineStore;
    use crate::testutil::{Registers, Set};

    fn entry(index: u64) -> Entry<Registers> {
        let set = Set(format!("r{}", index % 3), index.to_string());
        Entry::<Registers> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(set),
        }
    }

    fn found(report: &Report) -> Vec<(&'static str, &str)> {
        let v = report.violations.iter();
        v.map(|v| (v.check, v.key.as_str())).collect()
    }

    #[tokio::test]
    async fn a_log_gap_and_positions_out_of_order_are_named() {
        // Goal: a replica written by the runner verifies clean (its state equals the replayed
        // log) and is seen in use; a hole in the log and a committed index below last_applied
        // are each named, and the replay, now impossible, is skipped with its reason.
        let dir = tempfile::tempdir().unwrap();
        let db = ReplicaDb::open(
            dir.path(),
            1 << 20,
            Registers::STATE_TREES,
            StoreMetrics::unrecorded(),
        )
        .unwrap();
        let entries: Vec<Entry<Registers>> = (0..6).map(entry).collect();
        for e in &entries {
            let raw = serde_json::to_vec(e).unwrap();
            db.raft_log.insert(u64_key(e.log_id.index), raw).unwrap();
        }
        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        sm.apply(entries.clone()).await.unwrap();
        let committed = serde_json::to_vec(&Some(entries[5].log_id)).unwrap();
        db.raft_meta.insert(COMMITTED, committed).unwrap();
        db.flush().await.unwrap();
        let copy = ReplicaCopy::open(dir.path()).unwrap();
        assert!(copy.in_use(), "this process holds the original's lock");
        let report = copy.verify::<Registers>().unwrap();
        assert_eq!(found(&report), []);
        assert!(report.checked.contains(&CHECK_REPLAY), "{report:?}");
        assert!(report
            .notes
            .iter()
            .any(|n| n == "replayed 6 commands onto the empty state"));

        db.raft_log.remove(u64_key(3)).unwrap();
        let committed = serde_json::to_vec(&Some(entries[2].log_id)).unwrap();
        db.raft_meta.insert(COMMITTED, committed).unwrap();
        db.flush().await.unwrap();
        let report = ReplicaCopy::open(dir.path())
            .unwrap()
            .verify::<Registers>()
            .unwrap();
        assert_eq!(
            found(&report),
            [
                (CHECK_LOG, "raft_log/4"),
                (CHECK_POSITIONS, "sm_meta/last_applied")
            ]
        );
        assert_eq!(report.skipped.len(), 1, "{report:?}");
        assert!(
            report.skipped[0].reason.contains("log entry 3"),
            "{report:?}"
        );
    }
}
