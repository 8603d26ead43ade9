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

    /// Runs `f` in one transaction over sm_meta (first) and the state trees.
    fn transact<T>(
        &self,
        f: impl Fn(&TransactionalTree, StateTxn<'_>) -> Result<T, ConflictableTransactionError<()>>,
    ) -> Result<T, sled::Error> {
        let mut trees: Vec<&sled::Tree> = vec![&self.db.sm_meta];
        trees.extend(self.db.state.iter());
        let result = trees[..].transaction(|txs: &Vec<TransactionalTree>| {
            let (meta, state) = txs.split_first().expect("sm_meta is always first");
            f(meta, StateTxn::new(M::STATE_TREES, state))
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
        // State and last_applied change together, so replay after a crash is exact.
        let responses = self.transact(|meta, state| {
            let mut out = Vec::with_capacity(entries.len());
            for entry in &entries {
                out.push(match &entry.payload {
                    EntryPayload::Blank => None,
                    EntryPayload::Normal(command) => Some(M::apply(&state, command)?),
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
        responses.map_err(|e| StorageError::from(StorageIOError::apply(last, &e)))
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
