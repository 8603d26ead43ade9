//! What a replica holds: its trees, Raft vote and positions, snapshot and state digest.

use std::path::PathBuf;

use openraft::storage::SnapshotMeta;
use openraft::{BasicNode, StoredMembership, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{replica_dir_name, InspectMachine, ReplicaCopy};
use crate::db::{RAFT_LOG, RAFT_META, SM_META};
use crate::error::Result;
use crate::identity::CLUSTER_ID_KEY;
use crate::keys::try_key_u64;
use crate::log_store::{COMMITTED, LAST_PURGED, VOTE};
use crate::snapshot::{SNAPSHOTS_DIR, SNAPSHOT_DATA, SNAPSHOT_FILE, SNAPSHOT_META};
use crate::state_machine::{LAST_APPLIED, MEMBERSHIP};
use crate::types::{LogId, ReplicaId};

/// A replica at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The replica directory (the original; only its copy was opened).
    pub path: PathBuf,
    /// Group name.
    pub group: String,
    /// Replica id, from the directory's name (`<group>-<id>`), if it has that form.
    pub replica_id: Option<u64>,
    /// The id of the cluster the directory belongs to, recorded at bootstrap (none in a
    /// directory made before cluster ids, or if it does not decode).
    pub cluster_id: Option<String>,
    /// Whether a running process held the directory (the copy may be mid-write).
    pub in_use: bool,
    /// Bytes of the directory's files.
    pub disk_bytes: u64,
    /// Every tree with its entry count and sizes.
    pub trees: Vec<TreeStats>,
    /// The stored vote.
    pub vote: Option<VoteView>,
    /// Current term (the vote's).
    pub term: u64,
    /// The entries in the log.
    pub log: LogRange,
    /// Last log id removed from the log by compaction.
    pub last_purged: Option<Position>,
    /// Last log id known committed, as stored.
    pub committed: Option<Position>,
    /// Last log id applied to the state.
    pub last_applied: Option<Position>,
    /// Voters of the applied membership.
    pub voters: Vec<ReplicaId>,
    /// The stored snapshot.
    pub snapshot: Option<SnapshotView>,
    /// State digest, as `/status` reports it.
    pub digest: String,
    /// Metadata values that do not decode, with why.
    pub unreadable: Vec<String>,
}

/// One tree's size.
#[derive(Debug, Clone, Serialize)]
pub struct TreeStats {
    /// Tree name.
    pub name: String,
    /// Number of entries.
    pub entries: u64,
    /// Bytes of keys plus values.
    pub bytes: u64,
}

/// A log position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Log index.
    pub index: u64,
    /// Term of the entry.
    pub term: u64,
}

impl From<LogId> for Position {
    fn from(id: LogId) -> Self {
        Self {
            index: id.index,
            term: id.leader_id.term,
        }
    }
}

/// A stored vote.
#[derive(Debug, Clone, Serialize)]
pub struct VoteView {
    /// Term.
    pub term: u64,
    /// Replica voted for (itself, if it was the leader).
    pub voted_for: ReplicaId,
    /// Whether a quorum granted it (the replica was the leader of that term).
    pub committed: bool,
}

/// The entries in the log.
#[derive(Debug, Clone, Serialize)]
pub struct LogRange {
    /// Number of entries.
    pub entries: u64,
    /// Index of the first entry.
    pub first_index: Option<u64>,
    /// Index of the last entry, or the purge point if the log is empty.
    pub last_index: Option<u64>,
}

/// A stored snapshot's metadata.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotView {
    /// Snapshot id.
    pub id: String,
    /// Last log id it covers.
    pub last_log: Option<Position>,
    /// Bytes of its state image.
    pub bytes: u64,
}

/// A metadata value: `Ok(None)` absent, `Err` present but undecodable (with why).
pub(crate) type Meta<T> = std::result::Result<Option<T>, String>;

/// The Raft metadata of a replica, each value decoded on its own.
pub(crate) struct RaftMeta {
    pub(crate) vote: Meta<Vote<ReplicaId>>,
    pub(crate) committed: Meta<LogId>,
    pub(crate) last_purged: Meta<LogId>,
    pub(crate) last_applied: Meta<LogId>,
    pub(crate) membership: Meta<StoredMembership<ReplicaId, BasicNode>>,
    pub(crate) snapshot: Meta<SnapshotMeta<ReplicaId, BasicNode>>,
    pub(crate) snapshot_data: Option<Vec<u8>>,
}

impl RaftMeta {
    /// `tree/key: why` for every value that does not decode.
    pub(crate) fn unreadable(&self) -> Vec<(String, String)> {
        let all: [(&str, &[u8], Option<&String>); 6] = [
            (RAFT_META, VOTE, self.vote.as_ref().err()),
            (RAFT_META, COMMITTED, self.committed.as_ref().err()),
            (RAFT_META, LAST_PURGED, self.last_purged.as_ref().err()),
            (SM_META, LAST_APPLIED, self.last_applied.as_ref().err()),
            (SM_META, MEMBERSHIP, self.membership.as_ref().err()),
            (SM_META, SNAPSHOT_META, self.snapshot.as_ref().err()),
        ];
        all.into_iter()
            .filter_map(|(tree, key, err)| {
                let key = format!("{tree}/{}", String::from_utf8_lossy(key));
                Some((key, err?.clone()))
            })
            .collect()
    }
}

/// The decoded value, if present and decodable.
pub(crate) fn value<T>(meta: &Meta<T>) -> Option<&T> {
    meta.as_ref().ok().and_then(Option::as_ref)
}

/// Index of a decoded position, if any.
pub(crate) fn index_of(meta: &Meta<LogId>) -> Option<u64> {
    value(meta).map(|id| id.index)
}

impl ReplicaCopy {
    fn meta<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Result<Meta<T>> {
        let raw = self.get(tree, key)?;
        Ok(raw
            .map(|v| serde_json::from_slice(&v).map_err(|e| e.to_string()))
            .transpose())
    }

    /// The current snapshot's image: its file in the copy's snapshot directory, or the bytes a
    /// version before #13 kept in sled; `None` if there is none or its file is missing.
    fn snapshot_image(&self) -> Result<Option<Vec<u8>>> {
        match self.get(SM_META, SNAPSHOT_FILE)? {
            Some(name) => {
                let name = String::from_utf8_lossy(&name).into_owned();
                let path = self.copy.path().join(SNAPSHOTS_DIR).join(name);
                Ok(std::fs::read(path).ok())
            }
            None => self.get(SM_META, SNAPSHOT_DATA),
        }
    }

    /// The Raft metadata, each value decoded on its own.
    pub(crate) fn raft_meta(&self) -> Result<RaftMeta> {
        let committed: Meta<Option<LogId>> = self.meta(RAFT_META, COMMITTED)?;
        Ok(RaftMeta {
            vote: self.meta(RAFT_META, VOTE)?,
            committed: committed.map(Option::flatten),
            last_purged: self.meta(RAFT_META, LAST_PURGED)?,
            last_applied: self.meta(SM_META, LAST_APPLIED)?,
            membership: self.meta(SM_META, MEMBERSHIP)?,
            snapshot: self.meta(SM_META, SNAPSHOT_META)?,
            snapshot_data: self.snapshot_image()?,
        })
    }

    /// Every tree with its entry count and size.
    ///
    /// # Errors
    /// sled cannot read the copy.
    pub fn tree_stats(&self) -> Result<Vec<TreeStats>> {
        let mut stats = Vec::new();
        for name in self.tree_names() {
            let (mut entries, mut bytes) = (0, 0);
            for (k, v) in self.entries(&name, None, usize::MAX)? {
                entries += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            stats.push(TreeStats {
                name,
                entries,
                bytes,
            });
        }
        Ok(stats)
    }

    /// The replica at a glance, read as a replica of `M`.
    ///
    /// # Errors
    /// sled cannot read the copy.
    pub fn summary<M: InspectMachine>(&self) -> Result<Summary> {
        let meta = self.raft_meta()?;
        let trees = self.tree_stats()?;
        let first = self.entries(RAFT_LOG, None, 1)?;
        let log_entries = trees
            .iter()
            .find(|t| t.name == RAFT_LOG)
            .map_or(0, |t| t.entries);
        let last_key = self.last_log_key()?;
        let purged = value(&meta.last_purged).cloned();
        let vote = value(&meta.vote).cloned().map(|v| VoteView {
            term: v.leader_id.term,
            voted_for: v.leader_id.node_id,
            committed: v.committed,
        });
        let snapshot_bytes = meta.snapshot_data.as_ref().map_or(0, |d| d.len() as u64);
        Ok(Summary {
            path: self.source.clone(),
            group: M::GROUP.to_string(),
            replica_id: replica_dir_name(&self.source)
                .filter(|(group, _)| group == M::GROUP)
                .map(|(_, id)| id),
            cluster_id: self.meta(RAFT_META, CLUSTER_ID_KEY)?.ok().flatten(),
            in_use: self.in_use,
            disk_bytes: self.disk_bytes,
            trees,
            term: vote.as_ref().map_or(0, |v| v.term),
            vote,
            log: LogRange {
                entries: log_entries,
                first_index: first.first().and_then(|(k, _)| try_key_u64(k)),
                last_index: last_key.or(purged.map(|p| p.index)),
            },
            last_purged: purged.map(Position::from),
            committed: value(&meta.committed).cloned().map(Position::from),
            last_applied: value(&meta.last_applied).cloned().map(Position::from),
            voters: value(&meta.membership)
                .map_or_else(Vec::new, |m| m.membership().voter_ids().collect()),
            snapshot: value(&meta.snapshot).map(|s| SnapshotView {
                id: s.snapshot_id.clone(),
                last_log: s.last_log_id.map(Position::from),
                bytes: snapshot_bytes,
            }),
            digest: self.digest(M::STATE_TREES)?,
            unreadable: meta
                .unreadable()
                .into_iter()
                .map(|(key, why)| format!("{key}: {why}"))
                .collect(),
        })
    }

    /// Index of the last applied entry, if stored and decodable.
    ///
    /// # Errors
    /// sled cannot read the copy.
    pub fn last_applied(&self) -> Result<Option<u64>> {
        let meta: Meta<LogId> = self.meta(SM_META, LAST_APPLIED)?;
        Ok(index_of(&meta))
    }

    /// Index of the last log entry (by key).
    fn last_log_key(&self) -> Result<Option<u64>> {
        let Some(tree) = self.tree(RAFT_LOG)? else {
            return Ok(None);
        };
        let last = self.read(|| tree.last())?;
        Ok(last.and_then(|(k, _)| try_key_u64(&k)))
    }
}
