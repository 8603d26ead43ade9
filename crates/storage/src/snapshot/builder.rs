//! A snapshot of this replica's state: the image written when openraft asks for a builder (in
//! the state-machine task, so no apply runs meanwhile), then made the current snapshot.

use std::marker::PhantomData;
use std::time::Instant;

use openraft::storage::{RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use openraft::{BasicNode, StorageIOError, StoredMembership};

use super::{name_current, SnapshotFiles};
use crate::db::ReplicaDb;
use crate::machine::ServiceMachine;
use crate::types::{GroupTypes, LogId, ReplicaId, StorageError};

/// Makes the image written at one point of the state (with that point's last log id and
/// membership) the current snapshot.
pub struct SnapshotBuilder<M> {
    pub(crate) db: ReplicaDb,
    pub(crate) files: SnapshotFiles,
    /// The image, already written and synced.
    pub(crate) image: String,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership<ReplicaId, BasicNode>,
    /// When the build began (the image was written first).
    pub(crate) started: Instant,
    pub(crate) _machine: PhantomData<fn() -> M>,
}

impl<M: ServiceMachine> RaftSnapshotBuilder<GroupTypes<M>> for SnapshotBuilder<M> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<GroupTypes<M>>, StorageError> {
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
        let failed = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                openraft::AnyError::error(e.to_string()),
            ))
        };
        let mut batch = sled::Batch::default();
        name_current(&mut batch, &meta, &self.image);
        self.db.sm_meta.apply_batch(batch).map_err(|e| failed(&e))?;
        self.db.flush().await.map_err(|e| failed(&e))?;
        self.files.keep_only(&self.image);
        let file = tokio::fs::File::open(self.files.path(&self.image))
            .await
            .map_err(|e| failed(&e))?;
        self.db.metrics.snapshot_built(self.started.elapsed());
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}
