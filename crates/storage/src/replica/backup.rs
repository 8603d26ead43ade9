//! A live replica's side of a backup: its group's state at or after a linearizable read index,
//! as the image file of a snapshot and what that snapshot holds. The group keeps serving
//! throughout: the snapshot is built like any other, by the state-machine task, and the image
//! is read from its file, which stays readable even if a newer snapshot removes it meanwhile.

use std::time::Duration;

use openraft::storage::SnapshotMeta;
use openraft::BasicNode;

use super::Replica;
use crate::backup::SnapshotHead;
use crate::error::{Error, Result};
use crate::machine::ServiceMachine;
use crate::snapshot::{SnapshotFiles, SNAPSHOT_FILE, SNAPSHOT_META};
use crate::types::ReplicaId;

/// How long a backup waits for its snapshot to be built.
const BUILD_WAIT: Duration = Duration::from_secs(120);
/// How long one round of that wait lasts before the snapshot is asked for again (openraft
/// ignores a request while it builds one, which may be older than the read index).
const BUILD_ROUND: Duration = Duration::from_secs(2);

impl<M: ServiceMachine> Replica<M> {
    /// The current snapshot once it holds every write acknowledged before this call (built for
    /// it if needed): what it holds, its image opened, and the image's size.
    ///
    /// # Errors
    /// No linearizable read within the read deadline (no leader), no snapshot built within
    /// [`BUILD_WAIT`], or its image cannot be read.
    pub async fn snapshot_for_backup(&self) -> Result<(SnapshotHead, tokio::fs::File, u64)> {
        let read_index = self.linearizable_read().await?;
        let raft = &self.inner.raft;
        let failed = |reason: String| Error::Raft {
            replica_id: self.inner.spec.id,
            reason,
        };
        let covered = |index: Option<u64>| index.is_some_and(|i| i >= read_index);
        let deadline = tokio::time::Instant::now() + BUILD_WAIT;
        while !covered(raft.metrics().borrow().snapshot.map(|l| l.index)) {
            if tokio::time::Instant::now() >= deadline {
                return Err(failed(format!(
                    "no snapshot at or after index {read_index} was built within {BUILD_WAIT:?}"
                )));
            }
            raft.trigger()
                .snapshot()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let _ = raft
                .wait(Some(BUILD_ROUND))
                .metrics(
                    |m| covered(m.snapshot.map(|l| l.index)),
                    "a snapshot for the backup",
                )
                .await;
        }
        let files = SnapshotFiles::open(&self.inner.spec.data_dir)
            .map_err(|e| failed(format!("the snapshot directory: {e}")))?;
        // A newer snapshot may name another image and remove this one between the two reads:
        // then the metadata is read again.
        for _ in 0..3 {
            let (meta, name) = self.current_snapshot()?;
            let Some(last_log_id) = meta.last_log_id else {
                return Err(failed("the current snapshot holds no entry".into()));
            };
            match tokio::fs::File::open(files.path(&name)).await {
                Ok(file) => {
                    let bytes = file
                        .metadata()
                        .await
                        .map_err(|e| failed(e.to_string()))?
                        .len();
                    let members = meta
                        .last_membership
                        .membership()
                        .nodes()
                        .map(|(id, node)| (*id, node.addr.clone()))
                        .collect();
                    let head = SnapshotHead {
                        group: self.inner.spec.group.as_str().to_string(),
                        last_log_id,
                        snapshot_id: meta.snapshot_id,
                        read_index,
                        members,
                    };
                    return Ok((head, file, bytes));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(format!("the snapshot image {name}: {e}"))),
            }
        }
        Err(failed(
            "the snapshot kept changing while it was opened".into(),
        ))
    }

    /// The current snapshot's metadata and image name, as sled names them.
    fn current_snapshot(&self) -> Result<(SnapshotMeta<ReplicaId, BasicNode>, String)> {
        let sm_meta = &self.inner.db.sm_meta;
        let unreadable = |reason: String| Error::DataDirUnreadable {
            path: self.inner.spec.data_dir.clone(),
            reason,
        };
        let meta = sm_meta
            .get(SNAPSHOT_META)?
            .ok_or_else(|| unreadable("no snapshot metadata".into()))?;
        let meta = serde_json::from_slice(&meta)
            .map_err(|e| unreadable(format!("the snapshot metadata: {e}")))?;
        let name = sm_meta
            .get(SNAPSHOT_FILE)?
            .ok_or_else(|| unreadable("no snapshot image named".into()))?;
        Ok((meta, String::from_utf8_lossy(&name).into_owned()))
    }
}
