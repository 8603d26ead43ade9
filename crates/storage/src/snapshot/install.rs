//! Installing a snapshot: the state trees replaced by an image's entries.
//!
//! One sled transaction over the whole image would hold all of it in memory (231 MiB for a
//! 39k-order store before #13), so the trees are cleared and refilled in batches instead, under
//! a marker ([`SNAPSHOT_INSTALLING`]) stored and flushed first: a replica that stops half-way
//! finds it at its next start and does the install again from the image, which is on disk
//! before the marker is written ([`recover`]), before Raft reads anything. `last_applied`, the
//! membership, the digest and the snapshot's metadata change together, in one batch at the
//! end.

use std::fs::File;
use std::io::BufReader;

use openraft::storage::SnapshotMeta;
use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use super::{
    name_current, read_image, ImageItem, SnapshotFiles, SNAPSHOT_DATA, SNAPSHOT_FILE,
    SNAPSHOT_INSTALLING,
};
use crate::db::ReplicaDb;
use crate::digest::{StateDigest, STATE_DIGEST};
use crate::state_machine::{json, LAST_APPLIED, MEMBERSHIP};
use crate::types::ReplicaId;

/// Entries written to sled per batch while an image is installed.
const BATCH_ENTRIES: usize = 1024;

/// A snapshot being installed: its metadata and its image file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Installing {
    /// The snapshot's metadata.
    pub(crate) meta: SnapshotMeta<ReplicaId, BasicNode>,
    /// Its image, in the snapshot directory.
    pub(crate) image: String,
}

/// Checks that the image `name` is well formed and holds exactly the trees `names`, in order;
/// its entry count.
///
/// # Errors
/// It cannot be read, is malformed, or holds other trees.
pub(crate) fn check_image(
    files: &SnapshotFiles,
    name: &str,
    names: &[&str],
) -> Result<u64, String> {
    let mut seen: Vec<String> = Vec::new();
    let mut entries = 0;
    visit_image(files, name, |item| {
        match item {
            ImageItem::Tree(tree) => seen.push(tree.to_string()),
            ImageItem::Entry(..) => entries += 1,
        }
        Ok(())
    })?;
    if seen != names {
        return Err(format!("the image has trees {seen:?}, expected {names:?}"));
    }
    Ok(entries)
}

fn visit_image(
    files: &SnapshotFiles,
    name: &str,
    visit: impl FnMut(ImageItem<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let path = files.path(name);
    let file = File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    read_image(BufReader::with_capacity(1 << 16, file), len, visit)
}

/// Replaces the state of `db` with the checked image of `installing` and makes it the current
/// snapshot (see the module doc). Blocking: run it off the async threads.
///
/// # Errors
/// sled or the image file failed; the marker stays, so the next start does it again.
pub(crate) fn install(
    db: &ReplicaDb,
    files: &SnapshotFiles,
    installing: &Installing,
) -> Result<(), String> {
    db.sm_meta
        .insert(SNAPSHOT_INSTALLING, json(installing))
        .map_err(|e| e.to_string())?;
    db.db.flush().map_err(|e| e.to_string())?;
    replace_state(db, files, installing)
}

fn replace_state(
    db: &ReplicaDb,
    files: &SnapshotFiles,
    installing: &Installing,
) -> Result<(), String> {
    let sled_err = |e: sled::Error| e.to_string();
    for tree in &db.state {
        tree.clear().map_err(sled_err)?;
    }
    let mut digest = StateDigest::default();
    let mut current: Option<(usize, sled::Batch, usize)> = None;
    let write = |db: &ReplicaDb, at: usize, batch: sled::Batch| {
        db.state[at].apply_batch(batch).map_err(sled_err)
    };
    visit_image(files, &installing.image, |item| match item {
        ImageItem::Tree(name) => {
            if let Some((at, batch, _)) = current.take() {
                write(db, at, batch)?;
            }
            let at = db.state_names.iter().position(|n| *n == name);
            let at = at.ok_or_else(|| format!("the image has a tree {name} this group lacks"))?;
            current = Some((at, sled::Batch::default(), 0));
            Ok(())
        }
        ImageItem::Entry(key, value) => {
            let (at, batch, count) = current.as_mut().expect("an entry follows its tree");
            batch.insert(key, value);
            digest.add(db.state_names[*at], key, value);
            *count += 1;
            if *count == BATCH_ENTRIES {
                write(db, *at, std::mem::take(batch))?;
                *count = 0;
            }
            Ok(())
        }
    })?;
    if let Some((at, batch, _)) = current {
        write(db, at, batch)?;
    }
    let meta = &installing.meta;
    let mut batch = sled::Batch::default();
    batch.insert(LAST_APPLIED, json(&meta.last_log_id));
    batch.insert(MEMBERSHIP, json(&meta.last_membership));
    name_current(&mut batch, meta, &installing.image);
    batch.insert(STATE_DIGEST, &digest.to_bytes()[..]);
    batch.remove(SNAPSHOT_INSTALLING);
    db.sm_meta.apply_batch(batch).map_err(sled_err)?;
    db.db.flush().map_err(sled_err)?;
    files.keep_only(&installing.image);
    Ok(())
}

/// What a start finds and puts right before Raft reads the state: an install a stop
/// interrupted is done again, and an image an older version kept inside sled is moved to a
/// file. Blocking.
///
/// # Errors
/// sled or the image file failed.
pub(crate) fn recover(db: &ReplicaDb, files: &SnapshotFiles) -> Result<(), String> {
    let sled_err = |e: sled::Error| e.to_string();
    if let Some(raw) = db.sm_meta.get(SNAPSHOT_INSTALLING).map_err(sled_err)? {
        let installing: Installing = serde_json::from_slice(&raw)
            .map_err(|e| format!("the interrupted snapshot install does not decode: {e}"))?;
        tracing::warn!(
            snapshot = %installing.meta.snapshot_id,
            "a snapshot install was interrupted; installing it again"
        );
        return replace_state(db, files, &installing);
    }
    if db.sm_meta.get(SNAPSHOT_FILE).map_err(sled_err)?.is_none() {
        if let Some(bytes) = db.sm_meta.get(SNAPSHOT_DATA).map_err(sled_err)? {
            let seq = db.db.generate_id().map_err(sled_err)?;
            let name = SnapshotFiles::new_name(seq);
            files
                .write_bytes(&name, &bytes)
                .map_err(|e| e.to_string())?;
            let mut batch = sled::Batch::default();
            batch.insert(SNAPSHOT_FILE, name.as_bytes());
            batch.remove(SNAPSHOT_DATA);
            db.sm_meta.apply_batch(batch).map_err(sled_err)?;
            db.db.flush().map_err(sled_err)?;
            tracing::info!(image = %name, bytes = bytes.len(), "moved the snapshot image out of sled");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftStateMachine as _;
    use openraft::{EntryPayload, StoredMembership};

    use super::*;
    use crate::digest::StateDigest;
    use crate::machine::ServiceMachine as _;
    use crate::snapshot::{StateImage, SNAPSHOT_META};
    use crate::state_machine::StateMachineStore;
    use crate::testutil::{log_id, registers_db, Registers, Set};

    fn image(pairs: &[(&str, &str)]) -> StateImage {
        let entries = pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        StateImage {
            trees: vec![("registers".to_string(), entries)],
        }
    }

    fn meta(index: u64) -> SnapshotMeta<ReplicaId, BasicNode> {
        SnapshotMeta {
            last_log_id: Some(log_id(index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("1-{index}-0"),
        }
    }

    fn scanned(db: &ReplicaDb) -> String {
        let named = Registers::STATE_TREES
            .iter()
            .copied()
            .zip(db.state.iter().map(Some));
        StateDigest::scan(named).unwrap().hex()
    }

    #[tokio::test]
    async fn an_install_a_stop_interrupted_is_finished_at_the_next_open() {
        // Goal: a replica stopped half-way through replacing its state (marker stored, trees
        // cleared, nothing of the image written yet) has the image's state, last_applied and
        // digest once it opens again, before Raft reads anything.
        let (_dir, db) = registers_db();
        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        let entry = |i: u64, k: &str| openraft::Entry {
            log_id: log_id(i),
            payload: EntryPayload::Normal(Set(k.into(), "old".into())),
        };
        sm.apply([entry(1, "gone"), entry(2, "b")]).await.unwrap();
        drop(sm);
        let files = SnapshotFiles::open(db.path()).unwrap();
        let installing = Installing {
            meta: meta(9),
            image: SnapshotFiles::new_name(1),
        };
        files
            .write_bytes(
                &installing.image,
                &image(&[("a", "1"), ("b", "2")]).encode(),
            )
            .unwrap();
        db.sm_meta
            .insert(SNAPSHOT_INSTALLING, json(&installing))
            .unwrap();
        db.state[0].clear().unwrap();

        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        let state = StateImage::capture(&db).unwrap();
        assert_eq!(state, image(&[("a", "1"), ("b", "2")]));
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(9)));
        assert_eq!(db.digest(), scanned(&db));
        assert!(db.sm_meta.get(SNAPSHOT_INSTALLING).unwrap().is_none());
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.snapshot_id, "1-9-0");
    }

    #[tokio::test]
    async fn an_image_of_other_trees_is_refused_before_the_state_is_touched() {
        let (_dir, db) = registers_db();
        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        sm.apply([openraft::Entry {
            log_id: log_id(1),
            payload: EntryPayload::Normal(Set("k".into(), "v".into())),
        }])
        .await
        .unwrap();
        let before = StateImage::capture(&db).unwrap();
        let other = StateImage {
            trees: vec![("books".to_string(), Vec::new())],
        };
        let mut data = sm.begin_receiving_snapshot().await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut *data, &other.encode())
            .await
            .unwrap();
        let refused = sm.install_snapshot(&meta(5), data).await.unwrap_err();
        assert!(refused.to_string().contains("expected"), "{refused}");
        assert_eq!(StateImage::capture(&db).unwrap(), before);
        assert!(db.sm_meta.get(SNAPSHOT_INSTALLING).unwrap().is_none());
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1)));
    }

    #[tokio::test]
    async fn an_image_an_older_version_kept_in_sled_moves_to_a_file() {
        let (_dir, db) = registers_db();
        let bytes = image(&[("a", "1")]).encode();
        db.sm_meta.insert(SNAPSHOT_META, json(&meta(4))).unwrap();
        db.sm_meta.insert(SNAPSHOT_DATA, bytes.clone()).unwrap();
        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        assert!(db.sm_meta.get(SNAPSHOT_DATA).unwrap().is_none());
        let mut current = sm.get_current_snapshot().await.unwrap().unwrap();
        let mut read = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut *current.snapshot, &mut read)
            .await
            .unwrap();
        assert_eq!(read, bytes);
    }
}
