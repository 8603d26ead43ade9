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
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for LogStore<M> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            _machine: PhantomData,
        }
    }
}

impl<M: ServiceMachine> LogStore<M> {
    /// The log store over `db`.
    pub fn new(db: ReplicaDb) -> Self {
        Self {
            db,
            _machine: PhantomData,
        }
    }

    fn meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let raw = self
            .db
            .raft_meta
            .get(key)
            .map_err(|e| StorageError::from(StorageIOError::read(&e)))?;
        raw.map(|v| {
            serde_json::from_slice(&v).map_err(|e| StorageError::from(StorageIOError::read(&e)))
        })
        .transpose()
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
        last.map(|(k, v)| decode_entry::<M>(&k, &v).map(|e| *e.get_log_id()))
            .transpose()
    }
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
        self.db
            .raft_log
            .range(to_key_range(&range))
            .map(|item| {
                let (k, v) = item.map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?;
                decode_entry::<M>(&k, &v)
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

    async fn read_vote(&mut self) -> Result<Option<Vote<ReplicaId>>, StorageError> {
        self.meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Durable, so that a restarted leader never serves reads from before its own commit.
        self.set_meta(COMMITTED, &committed)?;
        self.flush().await
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
        let mut batch = sled::Batch::default();
        for entry in entries {
            let raw = serde_json::to_vec(&entry).expect("log entries always serialize");
            batch.insert(&u64_key(entry.log_id.index), raw);
        }
        self.db
            .raft_log
            .apply_batch(batch)
            .map_err(|e| StorageError::from(StorageIOError::write_logs(&e)))?;
        // Entries are readable now; they are acknowledged as durable only after the flush.
        let flushed = self.db.flusher.flush().await;
        callback.log_io_completed(flushed.map_err(std::io::Error::other));
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
        // Record the purge point first: a crash between the two steps leaves extra entries below
        // it, which are never read, rather than a hole above it.
        self.set_meta(LAST_PURGED, &log_id)?;
        let mut batch = sled::Batch::default();
        for key in self.db.raft_log.range(..=u64_key(log_id.index)).keys() {
            batch.remove(key.map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?);
        }
        self.db
            .raft_log
            .apply_batch(batch)
            .map_err(|e| StorageError::from(StorageIOError::write_logs(&e)))?;
        self.flush().await
    }
}
