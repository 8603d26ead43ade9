//! Snapshots: a point-in-time image of the state trees, its encoding, and its builder.
//!
//! Image encoding (all integers u64 big-endian): tree count, then per tree its name (length,
//! bytes) and entry count, then per entry key (length, bytes) and value (length, bytes).

use std::io::Cursor;
use std::marker::PhantomData;

use openraft::storage::{RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use openraft::{BasicNode, StoredMembership};

use crate::db::ReplicaDb;
use crate::machine::ServiceMachine;
use crate::types::{GroupTypes, LogId, ReplicaId, StorageError};
use openraft::StorageIOError;

/// sm_meta key of the current snapshot's metadata.
pub(crate) const SNAPSHOT_META: &[u8] = b"snapshot_meta";
/// sm_meta key of the current snapshot's image bytes.
pub(crate) const SNAPSHOT_DATA: &[u8] = b"snapshot_data";

/// One tree of an image: its name and its (key, value) entries in key order.
pub type TreeImage = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every state tree's entries, in tree order then key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateImage {
    /// One per state tree.
    pub trees: Vec<TreeImage>,
}

impl StateImage {
    /// Copies the state trees of `db` as they are now.
    ///
    /// # Errors
    /// A sled read failed.
    pub fn capture(db: &ReplicaDb) -> Result<Self, sled::Error> {
        Self::capture_trees(
            db.state_names
                .iter()
                .copied()
                .zip(db.state.iter().map(Some)),
        )
    }

    /// Copies `(name, tree)` pairs as they are now, in the given order; an absent tree is empty.
    ///
    /// # Errors
    /// A sled read failed.
    pub(crate) fn capture_trees<'a>(
        named: impl IntoIterator<Item = (&'a str, Option<&'a sled::Tree>)>,
    ) -> Result<Self, sled::Error> {
        let mut trees = Vec::new();
        for (name, tree) in named {
            let entries = tree
                .into_iter()
                .flat_map(sled::Tree::iter)
                .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<_, _>>()?;
            trees.push((name.to_string(), entries));
        }
        Ok(Self { trees })
    }

    /// The entries of the tree `name` in key order; none if the image has no such tree.
    pub fn tree(&self, name: &str) -> &[(Vec<u8>, Vec<u8>)] {
        let found = self.trees.iter().find(|(n, _)| n == name);
        found.map_or(&[], |(_, entries)| entries.as_slice())
    }

    /// Encodes the image (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, self.trees.len() as u64);
        for (name, entries) in &self.trees {
            put_bytes(&mut out, name.as_bytes());
            put_u64(&mut out, entries.len() as u64);
            for (k, v) in entries {
                put_bytes(&mut out, k);
                put_bytes(&mut out, v);
            }
        }
        out
    }

    /// Decodes an image.
    ///
    /// # Errors
    /// The bytes are truncated or malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, at: 0 };
        let tree_count = r.u64()?;
        let mut trees = Vec::new();
        for _ in 0..tree_count {
            let name = String::from_utf8(r.bytes()?.to_vec()).map_err(|e| e.to_string())?;
            let count = r.u64()?;
            let mut entries = Vec::new();
            for _ in 0..count {
                entries.push((r.bytes()?.to_vec(), r.bytes()?.to_vec()));
            }
            trees.push((name, entries));
        }
        if r.at != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - r.at));
        }
        Ok(Self { trees })
    }
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated image at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
        Ok(u64::from_be_bytes(b))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.u64()?).map_err(|e| e.to_string())?;
        self.take(n)
    }
}

/// Builds a snapshot from a state copied when the builder was taken, so that data, last log id and
/// membership describe one point even though applies go on meanwhile.
pub struct SnapshotBuilder<M> {
    pub(crate) db: ReplicaDb,
    pub(crate) image: StateImage,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership<ReplicaId, BasicNode>,
    pub(crate) _machine: PhantomData<fn() -> M>,
}

impl<M: ServiceMachine> RaftSnapshotBuilder<GroupTypes<M>> for SnapshotBuilder<M> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<GroupTypes<M>>, StorageError> {
        let data = self.image.encode();
        let seq = self
            .db
            .db
            .generate_id()
            .map_err(|e| StorageError::from(StorageIOError::write_snapshot(None, &e)))?;
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, seq),
            None => format!("0-0-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let mut batch = sled::Batch::default();
        batch.insert(
            SNAPSHOT_META,
            serde_json::to_vec(&meta).expect("meta serializes"),
        );
        batch.insert(SNAPSHOT_DATA, data.clone());
        let stored = self.db.sm_meta.apply_batch(batch);
        stored.map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        self.db.flush().await.map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn image_round_trips(trees in proptest::collection::vec(
            ("[a-z]{1,8}", proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..8)),
            0..4,
        )) {
            let image = StateImage { trees };
            prop_assert_eq!(StateImage::decode(&image.encode()).unwrap(), image);
        }

        #[test]
        fn garbage_never_panics(bytes in any::<Vec<u8>>()) {
            let _ = StateImage::decode(&bytes);
        }
    }
}
