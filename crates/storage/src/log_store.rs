//! The openraft log store on sled: `raft_log` and `raft_meta`, acknowledged only after a flush.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId, RaftLogReader, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::ReplicaDb;
use crate::keys::{key_u64, u64_key};
use crate::log_purger::LogPurger;
use crate::machine::ServiceMachine;
use crate::types::{GroupTypes, LogId, ReplicaId, StorageError};
use openraft::StorageIOError;

/// raft_meta key of the vote.
pub(crate) const VOTE: &[u8] = b"vote";
/// raft_meta key of the last committed log id.
pub(crate) const COMMITTED: &[u8] = b"committed";
/// raft_meta key of the last purged log id.
pub(crate) const LAST_PURGED: &[u8] = b"last_purged";

type Entry<M> = openraft::Entry<GroupTypes<M>>;

/// The Raft log of one replica (openraft's `RaftLogStorage`), kept in the replica's sled Db.
pub struct LogStore<M> {
    db: ReplicaDb,
    /// The purge point, and the task deleting the entries at or below it.
    purger: LogPurger,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for LogStore<M> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            purger: self.purger.clone(),
            _machine: PhantomData,
        }
    }
}

impl<M: ServiceMachine> LogStore<M> {
    /// The log store over `db`; spawns its purger on the current tokio runtime.
    ///
    /// # Panics
    /// The stored purge point cannot be read (the Db is unreadable).
    pub fn new(db: ReplicaDb) -> Self {
        let purged: Option<LogId> =
            read_meta(&db, LAST_PURGED).expect("the stored purge point is readable");
        Self {
            purger: LogPurger::spawn(db.raft_log.clone(), purged.map(|l| l.index)),
            db,
            _machine: PhantomData,
        }
    }

    /// Whether the entry at `index` is purged (deleted or about to be).
    fn is_purged(&self, index: u64) -> bool {
        self.purger
            .through()
            .is_some_and(|through| index <= through)
    }

    fn meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        read_meta(&self.db, key)
    }

    fn set_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let raw = serde_json::to_vec(value).expect("raft metadata always serializes");
        self.db
            .raft_meta
            .insert(key, raw)
            .map_err(|e| StorageError::from(StorageIOError::write(&e)))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.db
            .flusher
            .flush()
            .await
            .map_err(|e| StorageError::from(StorageIOError::write(&e)))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let last = self
            .db
            .raft_log
            .last()
            .map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?;
        last.filter(|(k, _)| !self.is_purged(key_u64(k)))
            .map(|(k, v)| decode_entry::<M>(&k, &v).map(|e| *e.get_log_id()))
            .transpose()
    }

    /// The index of the last entry stored and not purged, if any.
    fn last_entry_index(&self) -> Result<Option<u64>, StorageError> {
        Ok(self.last_stored_index()?.filter(|i| !self.is_purged(*i)))
    }

    /// The index of the last entry stored, purged or not, if any.
    fn last_stored_index(&self) -> Result<Option<u64>, StorageError> {
        let last = self
            .db
            .raft_log
            .last()
            .map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?;
        Ok(last.map(|(k, _)| key_u64(&k)))
    }

    /// Writes `entries` to the log, readable at once and durable after the next flush, having
    /// checked that they extend it (the invariant of `assert_extends`); how many it wrote.
    pub(crate) fn write_entries(
        &self,
        entries: impl IntoIterator<Item = Entry<M>>,
    ) -> Result<u64, StorageError> {
        let last_before = self.last_entry_index()?;
        let mut rows = Vec::new();
        let mut appended = None;
        for entry in entries {
            let index = entry.log_id.index;
            assert_extends(last_before, appended, index);
            let raw = serde_json::to_vec(&entry).expect("log entries always serialize");
            rows.push((u64_key(index), raw));
            appended = Some(index);
        }
        let written = rows.len() as u64;
        let stored = match <[_; 1]>::try_from(rows) {
            // One entry is one insert, atomic by itself. A sled batch would also seal sled's
            // current log buffer twice (for its batch manifest), each a write and a
            // `sync_file_range` of its own, and take the Db-wide write lock.
            Ok([(key, raw)]) => self.db.raft_log.insert(key, raw).map(drop),
            Err(rows) => {
                let mut batch = sled::Batch::default();
                for (key, raw) in rows {
                    batch.insert(&key, raw);
                }
                self.db.raft_log.apply_batch(batch)
            }
        };
        stored.map_err(|e| StorageError::from(StorageIOError::write_logs(&e)))?;
        if appended.is_some() {
            // Stored, not necessarily readable: openraft's suite appends below a purge point.
            assert_eq!(
                self.last_stored_index()?,
                appended,
                "log append: the last entry stored must be the last appended"
            );
        }
        Ok(written)
    }
}

/// The value stored under `key` in `db`'s raft_meta, if any.
fn read_meta<T: DeserializeOwned>(db: &ReplicaDb, key: &[u8]) -> Result<Option<T>, StorageError> {
    let raw = db
        .raft_meta
        .get(key)
        .map_err(|e| StorageError::from(StorageIOError::read(&e)))?;
    raw.map(|v| {
        serde_json::from_slice(&v).map_err(|e| StorageError::from(StorageIOError::read(&e)))
    })
    .transpose()
}

/// Invariant: appended entries extend the log without a hole or an overwrite: within one call
/// they are contiguous, and the first follows the last entry stored (openraft truncates a
/// conflicting suffix first, and a purge past the last entry, after a snapshot, empties the log).
/// An empty log takes any first index: openraft would start after the purge point, but its
/// conformance suite starts a fresh log at 1 or 2 and appends below a purge point
/// (`get_initial_state_membership_from_log_and_sm`: purged up to 2, then 1). O(1) per entry.
fn assert_extends(last_entry: Option<u64>, prev_appended: Option<u64>, index: u64) {
    match (prev_appended, last_entry) {
        (Some(prev), _) => assert!(
            prev.checked_add(1) == Some(index),
            "log append: entries of one call must be contiguous ({index} after {prev})"
        ),
        (None, Some(last)) => assert!(
            last.checked_add(1) == Some(index),
            "log append: the first entry ({index}) must follow the last entry stored ({last})"
        ),
        (None, None) => {}
    }
}

/// The index of the last entry `db` records as committed (0: none yet). A free function, so that
/// a running replica reads it without a log store (Raft owns that one).
///
/// # Errors
/// The stored value cannot be read or decoded (why).
pub fn committed_index(db: &ReplicaDb) -> std::result::Result<u64, String> {
    let raw = db.raft_meta.get(COMMITTED).map_err(|e| e.to_string())?;
    let Some(raw) = raw else { return Ok(0) };
    let committed: Option<LogId> =
        serde_json::from_slice(&raw).map_err(|e| format!("undecodable: {e}"))?;
    Ok(committed.map_or(0, |l| l.index))
}

fn decode_entry<M: ServiceMachine>(key: &[u8], raw: &[u8]) -> Result<Entry<M>, StorageError> {
    let index = key_u64(key);
    let entry: Entry<M> = serde_json::from_slice(raw)
        .map_err(|e| StorageError::from(StorageIOError::read_log_at_index(index, &e)))?;
    // Invariant: an entry is stored under its own index.
    assert_eq!(
        entry.log_id.index, index,
        "raft_log entry stored under a foreign key"
    );
    Ok(entry)
}

fn to_key_range<RB: RangeBounds<u64>>(range: &RB) -> (Bound<[u8; 8]>, Bound<[u8; 8]>) {
    let map = |b: Bound<&u64>| match b {
        Bound::Included(i) => Bound::Included(u64_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(u64_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (map(range.start_bound()), map(range.end_bound()))
}

impl<M: ServiceMachine> RaftLogReader<GroupTypes<M>> for LogStore<M> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<M>>, StorageError> {
        // Read once: the purge point only rises, and openraft reads no range it purged.
        let through = self.purger.through();
        self.db
            .raft_log
            .range(to_key_range(&range))
            .filter_map(|item| {
                let (k, v) = match item {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(StorageError::from(StorageIOError::read_logs(&e)))),
                };
                // Entries the purger has not deleted yet are gone all the same.
                let purged = through.is_some_and(|t| key_u64(&k) <= t);
                (!purged).then(|| decode_entry::<M>(&k, &v))
            })
            .collect()
    }
}

impl<M: ServiceMachine> RaftLogStorage<GroupTypes<M>> for LogStore<M> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<GroupTypes<M>>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<ReplicaId>) -> Result<(), StorageError> {
        self.set_meta(VOTE, vote)
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        self.flush().await
    }

    /// The stored vote, read as not committed: openraft reads it only at start, where a
    /// committed vote of its own would make this replica resume leading its old term without an
    /// election. Its read index would then be the commit index stored before the stop, which
    /// is not flushed (see `save_committed`) and may be older than entries it served reads of.
    /// Uncommitted, the vote still names the same term and candidate (so this replica never
    /// votes twice in a term); it starts as a follower, and whoever leads next commits an entry
    /// of a new term before serving a read. A committed vote does nothing else at a start: the
    /// leader lease it stands for has run out (openraft keeps no time across a restart).
    async fn read_vote(&mut self) -> Result<Option<Vote<ReplicaId>>, StorageError> {
        let stored: Option<Vote<ReplicaId>> = self.meta(VOTE)?;
        Ok(stored.map(|vote| Vote {
            committed: false,
            ..vote
        }))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed: it is durable with the next flush (the next append's, or sled's own
        // within 500 ms). A flush here was a third flush on every commit's path (leader append,
        // follower append, then this one before the apply). What a stale commit index could
        // cost after a crash is a restarted leader resuming its term with a read index below
        // entries it had served: `read_vote` makes every start a follower's instead. A
        // follower's commit index only paces its applies, and the leader sends it again.
        self.set_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<GroupTypes<M>>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<M>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.write_entries(entries)?;
        // Entries are readable now; they are acknowledged as durable only after the flush. The
        // flusher calls back in order, so openraft learns of flushes in log order; meanwhile
        // a leader sends the entries to its followers (vendor/openraft/PATCHED.md).
        self.db
            .flusher
            .then_flush(written, move |flushed| {
                callback.log_io_completed(flushed.map_err(std::io::Error::other));
            })
            .await;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for key in self.db.raft_log.range(u64_key(log_id.index)..).keys() {
            batch.remove(key.map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?);
        }
        self.db
            .raft_log
            .apply_batch(batch)
            .map_err(|e| StorageError::from(StorageIOError::write_logs(&e)))?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The point is recorded and flushed first; the entries are deleted afterwards, off
        // openraft's core (`log_purger`): a crash in between leaves extra entries below the
        // point, which are never read and are deleted at the next start, rather than a hole.
        self.set_meta(LAST_PURGED, &log_id)?;
        self.flush().await?;
        self.purger.purge_through(log_id.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::testutil::{blanks, log_id, registers_db, Registers};

    fn store() -> (TempDir, LogStore<Registers>) {
        let (dir, db) = registers_db();
        (dir, LogStore::new(db))
    }

    #[tokio::test]
    async fn appends_after_truncate_and_purge_pass_the_checks() {
        // Goal: the normal paths keep the invariant: a suffix rewritten after a truncate, the
        // first entry after a purge past the last one (a snapshot install).
        let (_dir, mut log) = store();
        log.write_entries(blanks(0..=2)).unwrap();
        log.truncate(log_id(1)).await.unwrap();
        log.write_entries(blanks(1..=3)).unwrap();
        log.purge(log_id(10)).await.unwrap();
        log.write_entries(blanks([11])).unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(11)));
    }

    #[tokio::test]
    async fn purged_entries_are_gone_at_once_though_deleted_later() {
        // Goal: `purge` returns before its entries are deleted (off openraft's core), and
        // nothing reads them meanwhile; a purge past the last entry empties the log.
        let (_dir, mut log) = store();
        log.write_entries(blanks(0..=20)).unwrap();
        log.purge(log_id(10)).await.unwrap();
        let read = log.try_get_log_entries(0..=20).await.unwrap();
        let indexes: Vec<u64> = read.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, (11..=20).collect::<Vec<_>>());
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(10)));
        assert_eq!(state.last_log_id, Some(log_id(20)));
        log.purge(log_id(25)).await.unwrap();
        assert!(log.try_get_log_entries(0..=30).await.unwrap().is_empty());
        assert_eq!(
            log.get_log_state().await.unwrap().last_log_id,
            Some(log_id(25))
        );
        log.write_entries(blanks([26])).unwrap();
        for _ in 0..500 {
            if log.db.raft_log.len() == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "{} entries left after purging all but one",
            log.db.raft_log.len()
        );
    }

    #[tokio::test]
    async fn a_stored_leader_vote_reads_back_as_a_candidates() {
        // Goal: a replica that led before a stop starts as a follower of its term's vote (so
        // it cannot resume leading with the unflushed commit index), voting for no one else in
        // that term; the commit index is still read back as saved.
        let (_dir, mut log) = store();
        let led = Vote::new_committed(7, 2);
        log.save_vote(&led).await.unwrap();
        let read = log.read_vote().await.unwrap().unwrap();
        assert_eq!(read, Vote::new(7, 2));
        assert_eq!(read.leader_id, led.leader_id);
        log.save_committed(Some(log_id(5))).await.unwrap();
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(5)));
    }

    #[tokio::test]
    #[should_panic(expected = "log append: entries of one call must be contiguous (2 after 0)")]
    async fn a_hole_in_an_append_is_a_bug() {
        // Goal: a batch that skips an index stops the replica rather than leaving a hole.
        let (_dir, log) = store();
        let _ = log.write_entries(blanks([0, 2]));
    }

    #[tokio::test]
    #[should_panic(expected = "the first entry (1) must follow the last entry stored (2)")]
    async fn overwriting_an_entry_in_place_is_a_bug() {
        // Goal: an append over stored entries (not truncated first) stops the replica.
        let (_dir, log) = store();
        log.write_entries(blanks(0..=2)).unwrap();
        let _ = log.write_entries(blanks([1]));
    }

    #[tokio::test]
    #[should_panic(expected = "the first entry (4) must follow the last entry stored (2)")]
    async fn a_hole_after_the_last_entry_is_a_bug() {
        // Goal: an append that skips indexes after the stored entries stops the replica.
        let (_dir, log) = store();
        log.write_entries(blanks(0..=2)).unwrap();
        let _ = log.write_entries(blanks([4]));
    }
}
