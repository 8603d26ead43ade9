//! The openraft type configuration of a group, generic over its service's state machine.

use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;

use openraft::{BasicNode, RaftTypeConfig, TokioRuntime};

use crate::machine::ServiceMachine;

/// Raft replica id (openraft's `NodeId`); "replica" everywhere else.
pub type ReplicaId = u64;

/// openraft's type configuration for a group running the state machine `M`.
///
/// A zero-sized marker: the trait bounds openraft asks of it (`Copy`, `Ord`, ...) are written by
/// hand because derives would demand them of `M` too.
pub struct GroupTypes<M>(PhantomData<fn() -> M>);

impl<M: ServiceMachine> RaftTypeConfig for GroupTypes<M> {
    type D = M::Command;
    // `None` for blank and membership entries, which carry no command.
    type R = Option<M::Response>;
    type NodeId = ReplicaId;
    type Node = BasicNode;
    type Entry = openraft::Entry<Self>;
    // A file in the snapshot directory: images are streamed, never held whole in memory.
    type SnapshotData = tokio::fs::File;
    type AsyncRuntime = TokioRuntime;
    type Responder = openraft::impls::OneshotResponder<Self>;
}

impl<M> Clone for GroupTypes<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for GroupTypes<M> {}
impl<M> Default for GroupTypes<M> {
    fn default() -> Self {
        Self(PhantomData)
    }
}
impl<M> fmt::Debug for GroupTypes<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupTypes")
    }
}
impl<M> PartialEq for GroupTypes<M> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<M> Eq for GroupTypes<M> {}
impl<M> PartialOrd for GroupTypes<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for GroupTypes<M> {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}

/// openraft's `LogId` of a group.
pub type LogId = openraft::LogId<ReplicaId>;
/// openraft's `Raft` handle of a group.
pub type RaftOf<M> = openraft::Raft<GroupTypes<M>>;
/// openraft's storage error.
pub type StorageError = openraft::StorageError<ReplicaId>;
