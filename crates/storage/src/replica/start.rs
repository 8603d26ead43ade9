//! Starting a replica: its directory and identity, its Raft node, a fresh group's membership.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use openraft::error::{InitializeError, RaftError};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Raft};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::compaction::schedule_snapshots;
use super::handover::Handover;
use super::leadership::watch_leadership;
use super::raft_metrics::{publish_raft_metrics, RaftGauges};
use super::read_rounds::ReadRounds;
use super::retire::retire_when_removed;
use super::{Inner, Replica};
use crate::admission;
use crate::db::ReplicaDb;
use crate::error::{Error, Result};
use crate::fence::WriteFence;
use crate::log_store::LogStore;
use crate::machine::ServiceMachine;
use crate::members_file::record_membership;
use crate::metrics::StoreMetrics;
use crate::network::{PeerClient, PeerNetwork};
use crate::spec;
use crate::spec::ReplicaSpec;
use crate::state_machine::StateMachineStore;
use crate::types::{RaftOf, ReplicaId};

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
        admission::refuse_empty_dir(&spec)?;
        let metrics = StoreMetrics::register(spec.group, spec.id);
        let db = ReplicaDb::open(
            &spec.data_dir,
            spec.sled_cache_bytes,
            M::STATE_TREES,
            metrics,
        )?;
        let mut log_store = LogStore::<M>::new(db.clone());
        let replica_id = spec.id;
        let raft_err = |reason: String| Error::Raft { replica_id, reason };
        let started = Instant::now();
        let stored_vote = log_store
            .read_vote()
            .await
            .map_err(|e| raft_err(e.to_string()))?;
        let fresh = log_store
            .get_log_state()
            .await
            .map_err(|e| raft_err(e.to_string()))?
            .last_log_id
            .is_none()
            && stored_vote.is_none();
        let restarted = stored_vote.is_some();
        let handover = Handover::new(started, restarted, fence.as_ref().map(|f| f.lease()));
        if spec.join && fresh {
            admission::learn_group(&mut spec).await?;
        }
        let cluster_id = admission::settle(&db, &spec, fresh).await?;
        let peers = PeerClient::new(&spec.cluster_token, &cluster_id);
        admission::greet_peers(&spec, &peers).await?;
        if !fresh {
            admission::refuse_if_removed(&spec, &peers).await?;
        }
        spec.cluster_id = Some(cluster_id);
        let state_machine = StateMachineStore::<M>::open(db.clone()).await?;
        let image_entries = state_machine.image_entries();
        let raft = Raft::new(
            spec.id,
            Arc::new(spec::raft_config(&spec)?),
            PeerNetwork::<M>::new(peers.clone()),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| raft_err(e.to_string()))?;
        tokio::spawn(schedule_snapshots(
            raft.clone(),
            image_entries,
            spec.raft.snapshot_logs_since_last,
        ));
        if !fresh {
            if let Err(e) = refuse_if_its_log_removed_it(&raft, &spec).await {
                let _ = raft.shutdown().await;
                return Err(e);
            }
        }
        if fresh && spec.bootstrap {
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
        } else if fresh {
            tracing::info!(
                group = spec.group.as_str(),
                replica_id = spec.id,
                "joining: waiting to be added by `pygmy member add`"
            );
        }
        tokio::spawn(record_membership(
            raft.clone(),
            spec.group,
            spec.data_dir.clone(),
        ));
        let leader_since = Arc::new(Mutex::new(None));
        tokio::spawn(watch_leadership(raft.clone(), Arc::clone(&leader_since)));
        tokio::spawn(publish_raft_metrics(
            raft.clone(),
            db.clone(),
            RaftGauges::register(&spec),
        ));
        let read_rounds = ReadRounds::spawn(raft.clone(), spec.raft.read_timeout);
        let forwarded_reads = ReadRounds::spawn_forwarding(
            raft.clone(),
            peers.clone(),
            Arc::new(spec.peers.clone()),
            spec.raft.read_timeout,
        );
        let replica = Self {
            inner: Arc::new(Inner {
                spec,
                raft,
                db,
                peers,
                fence,
                leader_since,
                handover,
                read_rounds,
                forwarded_reads,
                retired: CancellationToken::new(),
                retirement: Mutex::new(None),
            }),
        };
        tokio::spawn(retire_when_removed(replica.clone()));
        Ok(replica)
    }
}

/// Time Raft gets to publish the membership it restored before the check below gives up.
const RESTORED_MEMBERSHIP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Refuses a configured replica whose own restored membership no longer names it: it was
/// removed (when the group's leader could not say so before Raft started, see
/// [`admission::refuse_if_removed`]). A replica added later may restart before the entry adding
/// it reached its log; it is never refused here, and cannot campaign while it is no voter.
///
/// # Errors
/// [`Error::Removed`].
async fn refuse_if_its_log_removed_it<M: ServiceMachine>(
    raft: &RaftOf<M>,
    spec: &ReplicaSpec,
) -> Result<()> {
    let restored = raft
        .wait(Some(RESTORED_MEMBERSHIP_WAIT))
        .metrics(
            |m| m.membership_config.log_id().is_some(),
            "the restored membership",
        )
        .await;
    let Ok(metrics) = restored else {
        tracing::warn!("Raft did not publish its restored membership; not checked");
        return Ok(());
    };
    let stored = &metrics.membership_config;
    if stored.membership().get_node(&spec.id).is_some() || spec.added {
        return Ok(());
    }
    Err(Error::Removed {
        group: spec.group.as_str().to_string(),
        id: spec.id,
        config_index: stored.log_id().map_or(0, |l| l.index),
        members: stored.membership().nodes().map(|(id, _)| *id).collect(),
    })
}
