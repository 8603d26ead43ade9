//! A running replica: its Raft node and Db, writes that find the leader, linearizable reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use api::{ReplicaRole, ReplicaStatus};
use openraft::error::{InitializeError, RaftError};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio::time::{timeout, Instant};

use crate::cluster::ReplicaSpec;
use crate::db::ReplicaDb;
use crate::error::{Error, Result};
use crate::fence::{FenceEntry, WriteFence};
use crate::identity;
use crate::log_store::LogStore;
use crate::machine::{ServiceMachine, StateView};
use crate::network::{PeerCallError, PeerClient, PeerNetwork};
use crate::spec;
use crate::state_machine::StateMachineStore;
use crate::types::{RaftOf, ReplicaId};

/// First pause between attempts to reach a leader.
const BACKOFF_MS_MIN: u64 = 20;
/// Longest pause between attempts to reach a leader.
const BACKOFF_MS_MAX: u64 = 400;
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
}

impl<M: ServiceMachine> Clone for Replica<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: ServiceMachine> Replica<M> {
    /// Opens the replica's directory, checks its cluster identity (and greets its peers, see
    /// [`crate::identity`]), starts its Raft node and, on a brand-new directory of a bootstrap,
    /// initializes the group with the configured membership (the same on every replica, which
    /// openraft allows). A restarted replica never re-initializes, and an empty directory is
    /// refused unless the spec says bootstrap.
    ///
    /// # Errors
    /// The directory is empty (not a bootstrap), another cluster's, locked or unreadable; a peer
    /// rejects this replica's token or cluster id; or Raft cannot start.
    pub async fn start(spec: ReplicaSpec) -> Result<Self> {
        Self::start_fenced(spec, None).await
    }

    /// As [`Replica::start`], with `fence` around every write this replica makes as leader.
    ///
    /// # Errors
    /// As [`Replica::start`].
    pub async fn start_fenced(
        mut spec: ReplicaSpec,
        fence: Option<Arc<dyn WriteFence<M>>>,
    ) -> Result<Self> {
        identity::refuse_empty_dir(&spec)?;
        let db = ReplicaDb::open(&spec.data_dir, spec.sled_cache_bytes, M::STATE_TREES)?;
        let mut log_store = LogStore::<M>::new(db.clone());
        let raft_err = |reason: String| Error::Raft {
            replica_id: spec.id,
            reason,
        };
        let fresh = log_store
            .get_log_state()
            .await
            .map_err(|e| raft_err(e.to_string()))?
            .last_log_id
            .is_none()
            && log_store
                .read_vote()
                .await
                .map_err(|e| raft_err(e.to_string()))?
                .is_none();
        let cluster_id = identity::settle(&db, &spec, fresh).await?;
        let peers = PeerClient::new(&spec.cluster_token, &cluster_id);
        identity::greet_peers(&spec, &peers).await?;
        spec.cluster_id = Some(cluster_id);
        let raft = Raft::new(
            spec.id,
            Arc::new(spec::raft_config(&spec)?),
            PeerNetwork::<M>::new(peers.clone()),
            log_store,
            StateMachineStore::<M>::new(db.clone()),
        )
        .await
        .map_err(|e| raft_err(e.to_string()))?;
        if fresh {
            let members: BTreeMap<ReplicaId, BasicNode> = spec
                .peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(raft_err(e.to_string())),
            }
            tracing::info!(
                group = spec.group.as_str(),
                replica_id = spec.id,
                "initialized a fresh replica"
            );
        }
        let leader_since = Arc::new(Mutex::new(None));
        tokio::spawn(watch_leadership(raft.clone(), Arc::clone(&leader_since)));
        Ok(Self {
            inner: Arc::new(Inner {
                spec,
                raft,
                db,
                peers,
                fence,
                leader_since,
            }),
        })
    }

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
        match self.inner.db.committed_index() {
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

    /// Who leads, as this replica knows it, and in which term (cheap: no digest).
    pub fn leadership(&self) -> Leadership {
        let m = self.inner.raft.metrics().borrow().clone();
        let leader_addr = m
            .current_leader
            .and_then(|id| self.peer_addr(id))
            .map(str::to_string);
        Leadership {
            is_leader: m.state == ServerState::Leader,
            leader: m.current_leader,
            leader_addr,
            term: m.current_term,
        }
    }

    fn current_leader(&self) -> Option<ReplicaId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    fn peer_addr(&self, id: ReplicaId) -> Option<&str> {
        self.inner.spec.peers.get(&id).map(String::as_str)
    }

    /// Commits `command` through the group's leader, wherever it is, within the write deadline.
    ///
    /// # Errors
    /// [`Error::NoLeader`] if no leader took it (nothing applied); [`Error::OutcomeUnknown`] if it
    /// was proposed but the outcome could not be learned (it may still apply).
    pub async fn write(&self, command: M::Command) -> Result<Written<M::Response>> {
        let deadline = Instant::now() + self.inner.spec.raft.write_timeout;
        let group = M::GROUP;
        let mut hint = None;
        let mut backoff = Backoff::new();
        let mut last = "no leader elected".to_string();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::NoLeader {
                    group,
                    reason: last,
                });
            }
            let reply = match hint.take().or_else(|| self.current_leader()) {
                Some(id) if id == self.inner.spec.id => {
                    self.write_as_leader(command.clone(), remaining).await
                }
                Some(id) => self.forward_write(id, &command, remaining).await,
                None => LeaderReply::NotLeader(None),
            };
            match reply {
                LeaderReply::Done(w) => return Ok(w),
                LeaderReply::Unknown(reason) => {
                    return Err(Error::OutcomeUnknown { group, reason })
                }
                LeaderReply::NotLeader(leader) => {
                    hint = leader;
                    last = "leader changed".to_string();
                }
                LeaderReply::Unavailable(reason) => last = reason,
            }
            self.pause(backoff.next().min(remaining)).await;
        }
    }

    /// Proposes `command` on this replica, which must be the leader, waiting at most `wait`
    /// (past a new leader's quiet period and the fence first, if there is one).
    pub async fn write_as_leader(
        &self,
        command: M::Command,
        wait: Duration,
    ) -> LeaderReply<Written<M::Response>> {
        let deadline = Instant::now() + wait;
        let Some(fence) = self.inner.fence.clone() else {
            return self.propose(command, None, deadline).await;
        };
        // A fenced write runs in its own task, so that a caller that stops waiting (its request
        // was cancelled) never stops it between the fence's `before` and `after`.
        let replica = self.clone();
        let write =
            tokio::spawn(async move { replica.fenced_write(fence, command, deadline).await });
        match write.await {
            Ok(reply) => reply,
            Err(join) => LeaderReply::Unknown(format!("the write task failed: {join}")),
        }
    }

    async fn fenced_write(
        &self,
        fence: Arc<dyn WriteFence<M>>,
        command: M::Command,
        deadline: Instant,
    ) -> LeaderReply<Written<M::Response>> {
        let term = match self.quiet_leader(fence.leader_quiet(), deadline).await {
            Ok(term) => term,
            Err(reply) => return reply,
        };
        let view = self.view();
        let ticket = match fence.before(&view, &command, term, deadline).await {
            FenceEntry::Go(ticket) => ticket,
            FenceEntry::Deposed => return LeaderReply::NotLeader(None),
            FenceEntry::Refused(reason) => return LeaderReply::Unavailable(reason),
        };
        let after = ticket.map(|ticket| (fence, ticket));
        self.propose(command, after, deadline).await
    }

    /// Proposes `command` and waits for it until `deadline`. The proposal runs in its own task
    /// so that a fence still hears how it ended after the caller gave up waiting.
    async fn propose(
        &self,
        command: M::Command,
        after: Option<(Arc<dyn WriteFence<M>>, u64)>,
        deadline: Instant,
    ) -> LeaderReply<Written<M::Response>> {
        let raft = self.inner.raft.clone();
        let proposal = tokio::spawn(async move {
            let result = raft.client_write(command).await;
            if let Some((fence, ticket)) = after {
                fence.after(ticket, result.as_ref().ok().map(|r| r.log_id.index));
            }
            result
        });
        match tokio::time::timeout_at(deadline, proposal).await {
            // 0.9 has no CheckQuorum: a leader cut off from its quorum waits here forever.
            Err(_) => LeaderReply::Unknown("not committed before the deadline".to_string()),
            Ok(Err(join)) => LeaderReply::Unknown(format!("the proposal task failed: {join}")),
            Ok(Ok(Ok(r))) => LeaderReply::Done(Written {
                log_index: r.log_id.index,
                response: r.data.expect("a normal entry always has a response"),
            }),
            Ok(Ok(Err(e))) => match e.forward_to_leader() {
                // Refused before proposing, or truncated: it will never apply.
                Some(f) => LeaderReply::NotLeader(f.leader_id),
                None => LeaderReply::Unknown(e.to_string()),
            },
        }
    }

    /// The term this replica leads, once it has led it for `quiet` (waiting until `deadline`
    /// at most); otherwise the reply to give instead.
    async fn quiet_leader<T>(
        &self,
        quiet: Duration,
        deadline: Instant,
    ) -> std::result::Result<u64, LeaderReply<T>> {
        let leadership = self.leadership();
        if !leadership.is_leader {
            return Err(LeaderReply::NotLeader(leadership.leader));
        }
        let since = led_since(&self.inner.leader_since, leadership.term);
        let ready = since + quiet;
        if ready > deadline {
            return Err(LeaderReply::Unavailable(
                "a new leader is waiting out the cache leases of the previous one".to_string(),
            ));
        }
        tokio::time::sleep_until(ready).await;
        let now = self.leadership();
        if now.is_leader && now.term == leadership.term {
            Ok(leadership.term)
        } else {
            Err(LeaderReply::NotLeader(now.leader))
        }
    }

    /// Confirms with a quorum that this replica still leads, without a new leader's quiet
    /// period; the term it leads.
    pub async fn confirm_leadership(&self, wait: Duration) -> LeaderReply<u64> {
        let before = self.leadership();
        if !before.is_leader {
            return LeaderReply::NotLeader(before.leader);
        }
        match timeout(wait, self.inner.raft.ensure_linearizable()).await {
            Err(_) => LeaderReply::Unavailable("leadership not confirmed in time".into()),
            Ok(Err(e)) => match e.forward_to_leader() {
                Some(f) => LeaderReply::NotLeader(f.leader_id),
                None => LeaderReply::Unavailable(e.to_string()),
            },
            Ok(Ok(_)) => {
                let after = self.leadership();
                if after.is_leader && after.term == before.term {
                    LeaderReply::Done(before.term)
                } else {
                    LeaderReply::NotLeader(after.leader)
                }
            }
        }
    }

    async fn forward_write(
        &self,
        leader: ReplicaId,
        command: &M::Command,
        wait: Duration,
    ) -> LeaderReply<Written<M::Response>> {
        let Some(addr) = self.peer_addr(leader) else {
            return LeaderReply::Unavailable(format!("unknown leader id {leader}"));
        };
        match self
            .inner
            .peers
            .post(addr, "/raft/write", command, wait)
            .await
        {
            Ok(reply) => reply,
            Err(e @ PeerCallError::Connect { .. }) => LeaderReply::Unavailable(e.to_string()),
            Err(e @ PeerCallError::Failed { .. }) => LeaderReply::Unknown(e.to_string()),
        }
    }

    /// Waits until this replica's state reflects every write acknowledged before the call (the
    /// leader's read index, confirmed by a quorum), and returns that index. Read
    /// [`Replica::view`] afterwards.
    ///
    /// # Errors
    /// [`Error::NoLeader`] if no leader confirmed a read index before the read deadline.
    pub async fn linearizable_read(&self) -> Result<u64> {
        let deadline = Instant::now() + self.inner.spec.raft.read_timeout;
        let mut hint = None;
        let mut backoff = Backoff::new();
        let mut last = "no leader elected".to_string();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::NoLeader {
                    group: M::GROUP,
                    reason: last,
                });
            }
            let reply = match hint.take().or_else(|| self.current_leader()) {
                Some(id) if id == self.inner.spec.id => self.read_index_as_leader(remaining).await,
                Some(id) => self.fetch_read_index(id, remaining).await,
                None => LeaderReply::NotLeader(None),
            };
            match reply {
                LeaderReply::Done(index) => {
                    let waited = self
                        .inner
                        .raft
                        .wait(Some(remaining))
                        .applied_index_at_least(Some(index), "linearizable read")
                        .await;
                    match waited {
                        Ok(_) => return Ok(index),
                        Err(e) => last = format!("did not apply up to the read index {index}: {e}"),
                    }
                }
                LeaderReply::NotLeader(leader) => {
                    hint = leader;
                    last = "leader changed".to_string();
                }
                LeaderReply::Unavailable(reason) | LeaderReply::Unknown(reason) => last = reason,
            }
            self.pause(backoff.next().min(remaining)).await;
        }
    }

    /// As leader: confirms leadership with a quorum and answers the read index (after a new
    /// leader's quiet period, when the replica has a fence).
    pub async fn read_index_as_leader(&self, wait: Duration) -> LeaderReply<u64> {
        let deadline = Instant::now() + wait;
        if let Some(fence) = &self.inner.fence {
            if let Err(reply) = self.quiet_leader(fence.leader_quiet(), deadline).await {
                return reply;
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match timeout(wait, self.inner.raft.get_read_log_id()).await {
            Err(_) => {
                LeaderReply::Unavailable("leadership not confirmed before the deadline".into())
            }
            Ok(Ok((read_log_id, _applied))) => {
                LeaderReply::Done(read_log_id.map_or(0, |l| l.index))
            }
            Ok(Err(e)) => match e.forward_to_leader() {
                Some(f) => LeaderReply::NotLeader(f.leader_id),
                // One heartbeat round failed (a slow or dead peer): the caller retries.
                None => LeaderReply::Unavailable(e.to_string()),
            },
        }
    }

    async fn fetch_read_index(&self, leader: ReplicaId, wait: Duration) -> LeaderReply<u64> {
        let Some(addr) = self.peer_addr(leader) else {
            return LeaderReply::Unavailable(format!("unknown leader id {leader}"));
        };
        match self
            .inner
            .peers
            .post(addr, "/raft/read-index", &(), wait)
            .await
        {
            Ok(reply) => reply,
            Err(e) => LeaderReply::Unavailable(e.to_string()),
        }
    }

    /// Waits up to `pause`, ending early when the Raft metrics change (e.g. a new leader is known).
    async fn pause(&self, pause: Duration) {
        let mut metrics = self.inner.raft.metrics();
        metrics.borrow_and_update();
        let _ = timeout(pause, metrics.changed()).await;
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

/// When this replica first knew it led `term` (now, if this is the first time).
fn led_since(leader_since: &Mutex<Option<(u64, Instant)>>, term: u64) -> Instant {
    let mut since = leader_since.lock().unwrap_or_else(PoisonError::into_inner);
    match *since {
        Some((led, at)) if led == term => at,
        _ => {
            let now = Instant::now();
            *since = Some((term, now));
            now
        }
    }
}

/// Notes the moment this replica becomes leader of each term, so that a new leader's quiet
/// period starts at its election rather than at its first request. Ends with Raft.
async fn watch_leadership<M: ServiceMachine>(
    raft: RaftOf<M>,
    leader_since: Arc<Mutex<Option<(u64, Instant)>>>,
) {
    let mut metrics = raft.metrics();
    drop(raft);
    loop {
        let (state, term) = {
            let m = metrics.borrow_and_update();
            (m.state, m.current_term)
        };
        if state == ServerState::Leader {
            led_since(&leader_since, term);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Doubling pause with a cap.
struct Backoff {
    next_ms: u64,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next_ms: BACKOFF_MS_MIN,
        }
    }

    fn next(&mut self) -> Duration {
        let now = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(BACKOFF_MS_MAX);
        Duration::from_millis(now)
    }
}
