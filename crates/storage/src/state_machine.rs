//! The state-machine runner: applies committed entries to the service's state trees and
//! `last_applied` in one sled transaction, and takes and installs snapshots (`snapshot`).

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, OptionalSend, StoredMembership};
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use crate::db::ReplicaDb;
use crate::digest::{StateDigest, STATE_DIGEST};
use crate::error::{Error, Result as OpenResult};
use crate::machine::{ServiceMachine, StateTxn};
use crate::snapshot::{
    self, Installing, SnapshotBuilder, SnapshotFiles, SNAPSHOT_FILE, SNAPSHOT_META,
};
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
    files: SnapshotFiles,
    /// The `.part` file a snapshot is being received into.
    incoming: Option<PathBuf>,
    /// Entries of the last image written or installed (`replica::compaction` reads it).
    image_entries: Arc<AtomicU64>,
    _machine: PhantomData<fn() -> M>,
}

impl<M: ServiceMachine> StateMachineStore<M> {
    /// The state machine over `db`, once what a stop left half-done is put right (an
    /// interrupted snapshot install, see `snapshot::recover`).
    ///
    /// # Errors
    /// [`Error::DataDirUnreadable`]: the snapshot directory or sled failed.
    pub async fn open(db: ReplicaDb) -> OpenResult<Self> {
        let unreadable = |reason: String| Error::DataDirUnreadable {
            path: db.path().to_path_buf(),
            reason,
        };
        let files = SnapshotFiles::open(db.path())
            .map_err(|e| unreadable(format!("its snapshot directory: {e}")))?;
        let (db2, files2) = (db.clone(), files.clone());
        tokio::task::spawn_blocking(move || snapshot::recover(&db2, &files2))
            .await
            .map_err(|e| unreadable(e.to_string()))?
            .map_err(unreadable)?;
        Ok(Self {
            db,
            files,
            incoming: None,
            image_entries: Arc::default(),
            _machine: PhantomData,
        })
    }

    /// The entry count of the last image written or installed, kept up to date.
    pub(crate) fn image_entries(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.image_entries)
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

    /// Makes the received snapshot data `file` the image `name`: the `.part` file it was received
    /// into is renamed; any other file (openraft's API allows one) is copied.
    async fn adopt_received(
        &mut self,
        mut file: tokio::fs::File,
        name: &str,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        let received = file.metadata().await?;
        let part = self.incoming.take();
        let same = |p: &PathBuf| {
            std::fs::metadata(p)
                .is_ok_and(|m| m.dev() == received.dev() && m.ino() == received.ino())
        };
        match part {
            Some(part) if same(&part) => {
                file.sync_all().await?;
                drop(file);
                self.files.adopt(&part, name)
            }
            _ => {
                let seq = self.db.db.generate_id().map_err(std::io::Error::other)?;
                let (part, copy) = self.files.incoming(seq)?;
                let mut copy = tokio::fs::File::from_std(copy);
                file.seek(std::io::SeekFrom::Start(0)).await?;
                tokio::io::copy(&mut file, &mut copy).await?;
                copy.flush().await?;
                copy.sync_all().await?;
                drop(copy);
                self.files.adopt(&part, name)
            }
        }
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

/// `value` as stored in the metadata trees.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
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
        self.db.metrics.apply_entries.record(entries.len() as f64);
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
        // A build is timed from here: writing the image is most of it.
        let started = std::time::Instant::now();
        // Runs serialized with apply: the image is one point of the state.
        let (last_applied, membership) = self
            .applied_state()
            .await
            .expect("state-machine metadata is readable");
        let seq = self.db.db.generate_id().expect("sled generates ids");
        let image = SnapshotFiles::new_name(seq);
        let (db, files, name) = (self.db.clone(), self.files.clone(), image.clone());
        let written = tokio::task::spawn_blocking(move || {
            let trees: Vec<(&str, sled::Tree)> = db
                .state_names
                .iter()
                .copied()
                .zip(db.state.iter().cloned())
                .collect();
            files.write(&name, &trees)
        })
        .await
        .expect("the snapshot writer does not panic");
        // openraft's builder cannot fail here; a replica that cannot write its own snapshot
        // stops rather than compact its log onto nothing.
        let (bytes, entries) = written.unwrap_or_else(|e| panic!("writing a snapshot image: {e}"));
        self.image_entries.store(entries, Ordering::Relaxed);
        tracing::info!(%image, bytes, entries, last_applied = ?last_applied, "wrote a snapshot image");
        SnapshotBuilder {
            db: self.db.clone(),
            files: self.files.clone(),
            image,
            last_applied,
            membership,
            started,
            _machine: PhantomData,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let failed = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_snapshot(
                None,
                openraft::AnyError::error(e.to_string()),
            ))
        };
        let seq = self.db.db.generate_id().map_err(|e| failed(&e))?;
        let (path, file) = self.files.incoming(seq).map_err(|e| failed(&e))?;
        self.incoming = Some(path);
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<ReplicaId, BasicNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let failed = |reason: String| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                openraft::AnyError::error(reason),
            ))
        };
        let mut file = *snapshot;
        file.flush().await.map_err(|e| failed(e.to_string()))?;
        let image = SnapshotFiles::new_name(
            self.db
                .db
                .generate_id()
                .map_err(|e| failed(e.to_string()))?,
        );
        self.adopt_received(file, &image)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let installing = Installing {
            meta: meta.clone(),
            image,
        };
        assert_not_behind(meta.last_log_id, self.last_applied()?);
        let (db, files) = (self.db.clone(), self.files.clone());
        let entries = tokio::task::spawn_blocking(move || {
            let entries = snapshot::check_image(&files, &installing.image, M::STATE_TREES)?;
            snapshot::install(&db, &files, &installing)?;
            Ok::<_, String>(entries)
        })
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)?;
        self.image_entries.store(entries, Ordering::Relaxed);
        assert_eq!(
            self.last_applied()?,
            meta.last_log_id,
            "install snapshot: last_applied must be the snapshot's last log id"
        );
        self.db.metrics.snapshot_installed(started.elapsed());
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<GroupTypes<M>>>, StorageError> {
        let Some(meta) = self.meta::<SnapshotMeta<ReplicaId, BasicNode>>(SNAPSHOT_META)? else {
            return Ok(None);
        };
        let failed = |reason: String| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                openraft::AnyError::error(reason),
            ))
        };
        let name = self
            .db
            .sm_meta
            .get(SNAPSHOT_FILE)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("the snapshot has no image file".into()))?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let file = tokio::fs::File::open(self.files.path(&name))
            .await
            .map_err(|e| failed(format!("its image {name}: {e}")))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::snapshot::StateImage;
    use crate::testutil::{blanks, log_id, registers_db, Registers, Set};

    async fn store() -> (TempDir, StateMachineStore<Registers>) {
        let (dir, db) = registers_db();
        (dir, StateMachineStore::open(db).await.unwrap())
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
        let mut data = sm.begin_receiving_snapshot().await.unwrap();
        data.write_all(&image.encode()).await.unwrap();
        sm.install_snapshot(&meta, data).await.unwrap();
    }

    #[tokio::test]
    async fn in_order_applies_and_newer_snapshots_pass_the_checks() {
        // Goal: the normal paths keep every invariant: contiguous batches from the start, a
        // snapshot ahead of what was applied (and one exactly at it), the entry after it.
        let (_dir, mut sm) = store().await;
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
        let (_dir, mut sm) = store().await;
        sm.apply(blanks([1, 2])).await.unwrap();
        let _ = sm.apply([set(2, "again")]).await;
    }

    #[tokio::test]
    #[should_panic(expected = "apply: entries of one call must be contiguous (3 after 1)")]
    async fn a_hole_in_an_apply_batch_is_a_bug() {
        // Goal: a batch that skips an index stops the replica rather than applying over a hole.
        let (_dir, mut sm) = store().await;
        let _ = sm.apply(blanks([1, 3])).await;
    }

    #[tokio::test]
    #[should_panic(expected = "snapshot (up to Some(3)) must not be behind last_applied (Some(5))")]
    async fn a_snapshot_behind_the_applied_state_is_a_bug() {
        // Goal: a snapshot older than what was applied stops the replica rather than undoing
        // applied entries.
        let (_dir, mut sm) = store().await;
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
        let (_dir, mut sm) = store().await;
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
