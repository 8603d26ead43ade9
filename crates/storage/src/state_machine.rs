//! The state-machine runner: applies committed entries to the service's state trees and
//! `last_applied` in one sled transaction, and installs snapshots by replacing the state.

use std::io::Cursor;
use std::marker::PhantomData;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, OptionalSend, StoredMembership};
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::db::ReplicaDb;
use crate::digest::{StateDigest, STATE_DIGEST};
use crate::machine::{ServiceMachine, StateTxn};
use crate::snapshot::{SnapshotBuilder, StateImage, SNAPSHOT_DATA, SNAPSHOT_META};
use crate::types::{GroupTypes, LogId, ReplicaId, StorageError};
use openraft::StorageIOError;

/// sm_meta key of the last applied log id.
pub(crate) const LAST_APPLIED: &[u8] = b"last_applied";
/// sm_meta key of the last applied membership.
pub(crate) const MEMBERSHIP: &[u8] = b"membership";

type Entry<M> = openraft::Entry<GroupTypes<M>>;
type Membership = StoredMembership<ReplicaId, BasicNode>;

/// openraft's `RaftStateMachine` for the service machine `M`, on the replica's sled Db.
pub struct StateMachineStore<M> {
    db: ReplicaDb,
    _machine: PhantomData<fn() -> M>,
}

impl<M: ServiceMachine> StateMachineStore<M> {
    /// The state machine over `db`.
    pub fn new(db: ReplicaDb) -> Self {
        Self {
            db,
            _machine: PhantomData,
        }
    }

    fn meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let raw = self
            .db
            .sm_meta
            .get(key)
            .map_err(|e| StorageError::from(StorageIOError::read_state_machine(&e)))?;
        raw.map(|v| {
            serde_json::from_slice(&v)
                .map_err(|e| StorageError::from(StorageIOError::read_state_machine(&e)))
        })
        .transpose()
    }

    /// The last applied log id as stored (a snapshot install stores `null` for none).
    fn last_applied(&self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(LAST_APPLIED)?.flatten())
    }

    /// Runs `f` in one transaction over sm_meta (first) and the state trees, storing the state
    /// digest as `f`'s writes leave it in the same transaction.
    fn transact<T>(
        &self,
        f: impl Fn(&TransactionalTree, &StateTxn<'_>) -> Result<T, ConflictableTransactionError<()>>,
    ) -> Result<T, sled::Error> {
        let mut trees: Vec<&sled::Tree> = vec![&self.db.sm_meta];
        trees.extend(self.db.state.iter());
        let result = trees[..].transaction(|txs: &Vec<TransactionalTree>| {
            let (meta, state) = txs.split_first().expect("sm_meta is always first");
            let stored = meta.get(STATE_DIGEST)?;
            // Invariant: `ReplicaDb::open` stores a digest before any apply can run.
            let before = stored
                .as_deref()
                .and_then(StateDigest::from_bytes)
                .expect("the state digest is stored when the Db opens");
            let state = StateTxn::new(M::STATE_TREES, state, before);
            let out = f(meta, &state)?;
            meta.insert(STATE_DIGEST, &state.digest().to_bytes()[..])?;
            Ok(out)
        });
        result.map_err(|e| match e {
            TransactionError::Storage(e) => e,
            TransactionError::Abort(()) => unreachable!("runner transactions never abort"),
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("metadata always serializes")
}

/// Invariant: the entries of one apply call are contiguous and above `last_applied`, so nothing
/// applies twice, out of order or over a hole. openraft applies committed entries in log order
/// from `last_applied + 1` (a snapshot install moves `last_applied` first); its conformance suite
/// also applies past a gap (`last_applied_state`: 3, then 5), so the bound is "above", not
/// "right after". O(1) per entry.
fn assert_applies_in_order<M: ServiceMachine>(last_applied: Option<LogId>, entries: &[Entry<M>]) {
    let first = entries[0].log_id.index;
    if let Some(applied) = last_applied {
        assert!(
            first > applied.index,
            "apply: the first entry ({first}) must be above last_applied ({})",
            applied.index
        );
    }
    for pair in entries.windows(2) {
        let (prev, next) = (pair[0].log_id.index, pair[1].log_id.index);
        assert!(
            prev.checked_add(1) == Some(next),
            "apply: entries of one call must be contiguous ({next} after {prev})"
        );
    }
}

/// Invariant: an installed snapshot never takes the state back behind what was applied.
/// openraft only installs a snapshot above its commit index, itself at least the applied one;
/// one at exactly `last_applied` would be the same state, so it is let through.
fn assert_not_behind(snapshot_last: Option<LogId>, last_applied: Option<LogId>) {
    let (snapshot_index, applied_index) = (
        snapshot_last.map(|l| l.index),
        last_applied.map(|l| l.index),
    );
    assert!(
        snapshot_index >= applied_index,
        "install snapshot: the snapshot (up to {snapshot_index:?}) must not be behind \
         last_applied ({applied_index:?})"
    );
}

impl<M: ServiceMachine> RaftStateMachine<GroupTypes<M>> for StateMachineStore<M> {
    type SnapshotBuilder = SnapshotBuilder<M>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((
            self.meta(LAST_APPLIED)?,
            self.meta(MEMBERSHIP)?.unwrap_or_default(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Option<M::Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry<M>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<M>> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(Vec::new());
        };
        assert_applies_in_order(self.last_applied()?, &entries);
        // State and last_applied change together, so replay after a crash is exact.
        let responses = self.transact(|meta, state| {
            let mut out = Vec::with_capacity(entries.len());
            for entry in &entries {
                out.push(match &entry.payload {
                    EntryPayload::Blank => None,
                    EntryPayload::Normal(command) => Some(M::apply(state, command)?),
                    EntryPayload::Membership(m) => {
                        let stored = Membership::new(Some(entry.log_id), m.clone());
                        meta.insert(MEMBERSHIP, json(&stored))?;
                        None
                    }
                });
            }
            meta.insert(LAST_APPLIED, json(&last))?;
            Ok(out)
        });
        let responses =
            responses.map_err(|e| StorageError::from(StorageIOError::apply(last, &e)))?;
        assert_eq!(
            self.last_applied()?,
            Some(last),
            "apply: last_applied must be the last entry applied"
        );
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Runs serialized with apply: the copy is one point of the state.
        let (last_applied, membership) = self
            .applied_state()
            .await
            .expect("state-machine metadata is readable");
        let image = StateImage::capture(&self.db).expect("state trees are readable");
        SnapshotBuilder {
            db: self.db.clone(),
            image,
            last_applied,
            membership,
            _machine: PhantomData,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<ReplicaId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let sig = || Some(meta.signature());
        let image = StateImage::decode(&data).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                sig(),
                openraft::AnyError::error(e),
            ))
        })?;
        let names: Vec<&str> = image.trees.iter().map(|(n, _)| n.as_str()).collect();
        if names != M::STATE_TREES {
            let msg = format!(
                "snapshot has trees {names:?}, expected {:?}",
                M::STATE_TREES
            );
            return Err(StorageError::from(StorageIOError::read_snapshot(
                sig(),
                openraft::AnyError::error(msg),
            )));
        }
        assert_not_behind(meta.last_log_id, self.last_applied()?);
        let old = StateImage::capture(&self.db)
            .map_err(|e| StorageError::from(StorageIOError::read_snapshot(sig(), &e)))?;
        // Replace, never merge: keys absent from the snapshot must go.
        let installed = self.transact(|sm_meta, state| {
            for ((name, old_entries), (_, new_entries)) in old.trees.iter().zip(&image.trees) {
                for (k, _) in old_entries {
                    state.remove(name, k)?;
                }
                for (k, v) in new_entries {
                    state.insert_raw(name, k, v)?;
                }
            }
            sm_meta.insert(LAST_APPLIED, json(&meta.last_log_id))?;
            sm_meta.insert(MEMBERSHIP, json(&meta.last_membership))?;
            sm_meta.insert(SNAPSHOT_META, json(meta))?;
            sm_meta.insert(SNAPSHOT_DATA, data.clone())?;
            Ok(())
        });
        installed.map_err(|e| StorageError::from(StorageIOError::write_snapshot(sig(), &e)))?;
        assert_eq!(
            self.last_applied()?,
            meta.last_log_id,
            "install snapshot: last_applied must be the snapshot's last log id"
        );
        self.db
            .flush()
            .await
            .map_err(|e| StorageError::from(StorageIOError::write_snapshot(sig(), &e)))
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<GroupTypes<M>>>, StorageError> {
        let Some(meta) = self.meta::<SnapshotMeta<ReplicaId, BasicNode>>(SNAPSHOT_META)? else {
            return Ok(None);
        };
        let data = self
            .db
            .sm_meta
            .get(SNAPSHOT_DATA)
            .map_err(|e| {
                StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
            })?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::testutil::{blanks, log_id, registers_db, Registers, Set};

    fn store() -> (TempDir, StateMachineStore<Registers>) {
        let (dir, db) = registers_db();
        (dir, StateMachineStore::new(db))
    }

    fn set(index: u64, value: &str) -> Entry<Registers> {
        Entry::<Registers> {
            log_id: log_id(index),
            payload: EntryPayload::Normal(Set("a".into(), value.into())),
        }
    }

    async fn install_at(sm: &mut StateMachineStore<Registers>, index: u64) {
        let image = StateImage {
            trees: vec![("registers".to_string(), Vec::new())],
        };
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(index)),
            last_membership: Membership::default(),
            snapshot_id: format!("1-{index}-0"),
        };
        let data = Box::new(Cursor::new(image.encode()));
        sm.install_snapshot(&meta, data).await.unwrap();
    }

    #[tokio::test]
    async fn in_order_applies_and_newer_snapshots_pass_the_checks() {
        // Goal: the normal paths keep every invariant: contiguous batches from the start, a
        // snapshot ahead of what was applied (and one exactly at it), the entry after it.
        let (_dir, mut sm) = store();
        sm.apply(blanks([0])).await.unwrap();
        sm.apply([set(1, "x"), set(2, "y")]).await.unwrap();
        install_at(&mut sm, 10).await;
        sm.apply(blanks([11])).await.unwrap();
        install_at(&mut sm, 11).await;
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(11)));
    }

    #[tokio::test]
    #[should_panic(expected = "apply: the first entry (2) must be above last_applied (2)")]
    async fn applying_an_entry_twice_is_a_bug() {
        // Goal: an entry at or below last_applied stops the replica rather than applying again.
        let (_dir, mut sm) = store();
        sm.apply(blanks([1, 2])).await.unwrap();
        let _ = sm.apply([set(2, "again")]).await;
    }

    #[tokio::test]
    #[should_panic(expected = "apply: entries of one call must be contiguous (3 after 1)")]
    async fn a_hole_in_an_apply_batch_is_a_bug() {
        // Goal: a batch that skips an index stops the replica rather than applying over a hole.
        let (_dir, mut sm) = store();
        let _ = sm.apply(blanks([1, 3])).await;
    }

    #[tokio::test]
    #[should_panic(expected = "snapshot (up to Some(3)) must not be behind last_applied (Some(5))")]
    async fn a_snapshot_behind_the_applied_state_is_a_bug() {
        // Goal: a snapshot older than what was applied stops the replica rather than undoing
        // applied entries.
        let (_dir, mut sm) = store();
        sm.apply(blanks([0, 1, 2, 3, 4, 5])).await.unwrap();
        install_at(&mut sm, 3).await;
    }

    fn scanned(sm: &StateMachineStore<Registers>) -> String {
        let named = Registers::STATE_TREES
            .iter()
            .copied()
            .zip(sm.db.state.iter().map(Some));
        StateDigest::scan(named).unwrap().hex()
    }

    #[tokio::test]
    async fn the_kept_digest_is_the_digest_of_the_state_after_applies_and_installs() {
        // Goal: the digest each apply keeps equals a scan of the trees after inserts,
        // overwrites, several writes to one key in one batch, and a snapshot install that
        // replaces the state (old keys taken out, new ones added).
        let (_dir, mut sm) = store();
        let empty = sm.db.digest();
        assert_eq!(empty, scanned(&sm));
        sm.apply([set(1, "x")]).await.unwrap();
        assert_eq!(sm.db.digest(), scanned(&sm));
        assert_ne!(sm.db.digest(), empty);
        sm.apply([set(2, "y"), set(3, "z"), set(4, "x")])
            .await
            .unwrap();
        assert_eq!(sm.db.digest(), scanned(&sm));
        let after_x = sm.db.digest();
        sm.apply([set(5, "w")]).await.unwrap();
        assert_ne!(sm.db.digest(), after_x);
        install_at(&mut sm, 10).await;
        assert_eq!(sm.db.digest(), scanned(&sm));
        assert_eq!(sm.db.digest(), empty, "the installed image is empty");
    }
}
