//! A running replica: its Raft node and Db, writes that find the leader, linearizable reads.
//!
//! Layout, one concern per file. Dependencies run one way: every file below uses this one (the
//! [`Replica`] type and the vocabulary of its answers) and this one uses none of them; besides,
//! `start` uses `leadership` (its watcher), `write` and `read` use `follow` (the loop) and
//! `leadership` (a new leader's quiet period).
//! - here: [`Replica`], its answers ([`Written`], [`Leadership`], [`LeaderReply`]), status and
//!   accessors, shutdown;
//! - `start`: the directory and its identity, the Raft node, a fresh group's membership;
//! - `leadership`: who leads, a new leader's quiet period, leadership confirmed by a quorum;
//! - `handover`: when a new leader's quiet period ends, and votes refused while leases run;
//! - `compaction`: when a snapshot is due (spaced by the size of the last image);
//! - `raft_metrics`: the Raft state published as metrics (term, leader, positions, lags);
//! - `follow`: the one loop that finds the leader, asks it, backs off and retries until a
//!   deadline;
//! - `write`: commands committed through the leader (proposal, fence, forwarding);
//! - `read`: linearizable reads (the leader's read index, then applying up to it here);
//! - `backup`: a snapshot holding every acknowledged write, given for a backup;
//! - `retire`: a replica its group removed while it ran stops by itself;
//! - `membership`: the group's members as this replica knows them, and changes of them made
//!   as leader (learners added, promoted, members removed).

mod backup;
mod compaction;
mod follow;
mod handover;
mod leadership;
mod membership;
mod raft_metrics;
mod read;
mod read_rounds;
mod retire;
mod start;
mod write;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use api::{ReplicaRole, ReplicaStatus};
use openraft::ServerState;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::db::ReplicaDb;
use crate::fence::WriteFence;
use crate::log_store;
use crate::machine::{ServiceMachine, StateView};
use crate::network::PeerClient;
use crate::spec::ReplicaSpec;
use crate::types::{RaftOf, ReplicaId};

pub use membership::PROMOTE_LAG_MAX;

// Peer routes size their body limit from it; it lives with the rest of the Raft settings.
pub(crate) use crate::spec::SNAPSHOT_CHUNK_BYTES_MAX;

/// A committed write: its log index and what the state machine answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Written<R> {
    /// Log index the command was applied at.
    pub log_index: u64,
    /// The state machine's answer.
    pub response: R,
}

/// Who leads a group, as one replica knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// Whether this replica is the leader.
    pub is_leader: bool,
    /// Leader id, if known.
    pub leader: Option<ReplicaId>,
    /// Leader `host:port`, if known.
    pub leader_addr: Option<String>,
    /// Current term.
    pub term: u64,
}

/// Answer of a replica asked to act as leader (`/raft/write`, `/raft/read-index`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LeaderReply<T> {
    /// Done.
    Done(T),
    /// Not the leader; nothing was done. The leader it knows of, if any.
    NotLeader(Option<ReplicaId>),
    /// Could not act now; nothing was done.
    Unavailable(String),
    /// The write was proposed but its outcome could not be learned.
    Unknown(String),
}

/// A running replica of the group of `M`; cheap to clone.
pub struct Replica<M: ServiceMachine> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: ServiceMachine> {
    spec: ReplicaSpec,
    raft: RaftOf<M>,
    db: ReplicaDb,
    peers: PeerClient,
    fence: Option<Arc<dyn WriteFence<M>>>,
    /// The term this replica last led and when it first knew it led it.
    leader_since: Arc<Mutex<Option<(u64, Instant)>>>,
    /// Its last contact with a leader, and votes refused after a restart.
    handover: handover::Handover,
    /// Leadership confirmations shared by concurrent linearizable reads.
    read_rounds: read_rounds::ReadRounds,
    /// Read-index requests to the leader shared by concurrent reads at this replica.
    forwarded_reads: read_rounds::ReadRounds<ReplicaId>,
    /// Cancelled when the replica retires: its group removed it (see `retire`).
    retired: CancellationToken,
    /// Why it retired.
    retirement: Mutex<Option<String>>,
}

impl<M: ServiceMachine> Clone for Replica<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: ServiceMachine> Replica<M> {
    /// Its start-up spec.
    pub fn spec(&self) -> &ReplicaSpec {
        &self.inner.spec
    }

    /// The openraft handle (for peer routes and metrics).
    pub fn raft(&self) -> &RaftOf<M> {
        &self.inner.raft
    }

    /// Its Db.
    pub fn db(&self) -> &ReplicaDb {
        &self.inner.db
    }

    /// Reads of the local state; linearizable only after [`Replica::linearizable_read`].
    pub fn view(&self) -> StateView {
        StateView::new(self.inner.db.db.clone())
    }

    /// Role, leader, term, log and apply positions, state digest.
    pub fn status(&self) -> ReplicaStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        ReplicaStatus {
            group: self.inner.spec.group.as_str().to_string(),
            id: self.inner.spec.id,
            role: match m.state {
                ServerState::Leader => ReplicaRole::Leader,
                ServerState::Follower => ReplicaRole::Follower,
                ServerState::Candidate => ReplicaRole::Candidate,
                ServerState::Learner => ReplicaRole::Learner,
                ServerState::Shutdown => ReplicaRole::Shutdown,
            },
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            last_purged: m.purged.map_or(0, |l| l.index),
            digest: self.inner.db.digest(),
        }
    }

    /// The log index of the last entry applied here.
    pub fn applied_index(&self) -> u64 {
        self.inner
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index)
    }

    /// Why this replica cannot serve now (empty: it can): no leader known, or entries known
    /// committed and not applied yet (it is catching up).
    pub fn unready_reasons(&self) -> Vec<String> {
        let (leader, applied) = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.last_applied.map_or(0, |l| l.index))
        };
        let mut reasons = Vec::new();
        if leader.is_none() {
            reasons.push("no leader known".to_string());
        }
        match log_store::committed_index(&self.inner.db) {
            Ok(committed) if applied < committed => {
                reasons.push(format!(
                    "applied {applied} of {committed} committed entries"
                ));
            }
            Ok(_) => {}
            Err(e) => reasons.push(format!("cannot read the commit index: {e}")),
        }
        reasons
    }

    /// The index of the last entry in this replica's log.
    pub fn last_log_index(&self) -> u64 {
        self.inner
            .raft
            .metrics()
            .borrow()
            .last_log_index
            .unwrap_or(0)
    }

    fn current_leader(&self) -> Option<ReplicaId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    /// The address of replica `id`: the one the membership in effect names (it lives in the Raft
    /// log and changes with `pygmy member`), else the configured one.
    fn peer_addr(&self, id: ReplicaId) -> Option<String> {
        member_addr(&self.inner.raft, &self.inner.spec.peers, id)
    }

    /// Resolves once the replica retired: its group removed it while it ran, so its process
    /// must stop ([`Replica::retirement`] says why).
    pub async fn retired(&self) {
        self.inner.retired.cancelled().await;
    }

    /// Why the replica retired, if it did.
    pub fn retirement(&self) -> Option<String> {
        self.inner
            .retirement
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn retire(&self, why: String) {
        *self
            .inner
            .retirement
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
        self.inner.retired.cancel();
    }

    /// Stops Raft and flushes the Db.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown failed");
        }
        if let Err(e) = self.inner.db.flush().await {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

/// The address of member `id` in `raft`'s membership, else in `configured`.
fn member_addr<M: ServiceMachine>(
    raft: &RaftOf<M>,
    configured: &BTreeMap<ReplicaId, String>,
    id: ReplicaId,
) -> Option<String> {
    let metrics = raft.metrics();
    let metrics = metrics.borrow();
    metrics
        .membership_config
        .membership()
        .get_node(&id)
        .map(|node| node.addr.clone())
        .or_else(|| configured.get(&id).cloned())
}
