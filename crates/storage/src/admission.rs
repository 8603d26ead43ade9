//! What a replica checks before its Raft node starts: that its directory may be used (not
//! emptied, unless bootstrapping; not another cluster's) and that its reachable peers accept
//! its token and cluster id. Why: see [`crate::identity`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::ReplicaDb;
use crate::error::{Error, Result};
use crate::identity::CLUSTER_ID_KEY;
use crate::network::{PeerCallError, PeerClient};
use crate::spec::ReplicaSpec;

/// Route a starting replica greets its peers on.
pub const HELLO_PATH: &str = "/raft/hello";
/// Time a peer gets to answer the greeting; one that does not answer is left unchecked.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// What a replica says of itself when it greets a peer, and what the peer answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Group name.
    pub group: String,
    /// Replica id.
    pub replica_id: u64,
}

/// Whether `dir` holds sled's files: a replica directory that was used, not emptied.
pub fn holds_replica_data(dir: &std::path::Path) -> bool {
    ["conf", "db"].iter().any(|f| dir.join(f).is_file())
}

/// Refuses a replica directory that holds no sled files (emptied, or never made), unless this
/// start is a bootstrap. Runs before the Db is opened, so a refused start creates nothing.
///
/// # Errors
/// [`Error::EmptyReplicaDir`].
pub(crate) fn refuse_empty_dir(spec: &ReplicaSpec) -> Result<()> {
    if spec.bootstrap || spec.join || holds_replica_data(&spec.data_dir) {
        return Ok(());
    }
    Err(Error::EmptyReplicaDir {
        path: spec.data_dir.clone(),
    })
}

/// The id of the cluster this replica belongs to, as its directory records it. A bootstrap
/// records the spec's id in a directory without Raft state (`raft_empty`: no vote, no log) and
/// flushes it before Raft starts.
///
/// # Errors
/// [`Error::EmptyReplicaDir`] (no id, no Raft state, not a bootstrap: sled files but nothing in
/// them), [`Error::UnidentifiedReplicaDir`] (Raft state without an id),
/// [`Error::WrongCluster`] (another cluster's directory), or a storage error.
pub(crate) async fn settle(db: &ReplicaDb, spec: &ReplicaSpec, raft_empty: bool) -> Result<String> {
    let path = || spec.data_dir.clone();
    let recorded =
        match db.raft_meta.get(CLUSTER_ID_KEY)? {
            Some(raw) => Some(serde_json::from_slice::<String>(&raw).map_err(|e| {
                Error::DataDirUnreadable {
                    path: path(),
                    reason: format!("its cluster id does not decode: {e}"),
                }
            })?),
            None => None,
        };
    match (recorded, &spec.cluster_id) {
        (Some(recorded), Some(expected)) if recorded != *expected => Err(Error::WrongCluster {
            path: path(),
            recorded,
            expected: expected.clone(),
        }),
        (Some(recorded), _) => Ok(recorded),
        (None, _) if !raft_empty => Err(Error::UnidentifiedReplicaDir { path: path() }),
        (None, Some(id)) if spec.bootstrap || spec.join => {
            let raw = serde_json::to_vec(id).expect("a string always serializes");
            db.raft_meta.insert(CLUSTER_ID_KEY, raw)?;
            db.flush().await?;
            tracing::info!(cluster_id = %id, join = spec.join, "recorded the cluster id");
            Ok(id.clone())
        }
        (None, None) if spec.bootstrap || spec.join => Err(Error::Config(
            "a new replica directory needs the cluster id of <data_dir>/cluster_id (or, to \
             join, of a peer that answers)"
                .into(),
        )),
        (None, _) => Err(Error::EmptyReplicaDir { path: path() }),
    }
}

/// For a replica joining a running group on a new directory: the cluster id of the group's
/// replicas when `<data_dir>/cluster_id` gave none, and a check that no member has its id
/// already (a removed replica's id, or a live one's, would confuse the group). Asks the peers
/// the configuration names, all at once, and uses the first that answers.
///
/// # Errors
/// [`Error::Config`] if its id is a member's, or no peer answers and no id was given.
pub(crate) async fn learn_group(spec: &mut ReplicaSpec) -> Result<()> {
    let probe = PeerClient::new(
        &spec.cluster_token,
        spec.cluster_id.as_deref().unwrap_or(""),
    );
    let addrs = spec.other_addrs();
    let views = group_views(spec, &probe, &addrs).await;
    let group = spec.group.as_str();
    if let Some(m) = views.iter().find_map(|v| v.member(spec.id)) {
        return Err(Error::Config(format!(
            "{group} replica {} is already a {} at {}: a joining replica needs an id no member \
             has (`pygmy member list --group {group}` shows the next)",
            m.id,
            m.role.as_str(),
            m.addr
        )));
    }
    match (views.first(), &spec.cluster_id) {
        (Some(view), None) => spec.cluster_id = Some(view.cluster_id.clone()),
        (Some(view), Some(id)) if view.cluster_id != *id => {
            return Err(Error::Config(format!(
                "the {group} replicas belong to cluster {}, but <data_dir>/cluster_id says {id}: \
                 this data directory is another cluster's",
                view.cluster_id
            )))
        }
        (_, Some(_)) => {}
        (None, None) => {
            return Err(Error::Config(format!(
                "no {group} replica answers, so this joining replica cannot learn its cluster \
                 id; start it when the group runs, or put the id in <data_dir>/cluster_id"
            )))
        }
    }
    Ok(())
}

/// The membership views of `spec`'s group that the replicas at `addrs` give, asked all at once
/// within the greeting's timeout; those that do not answer, or answer for another group, are
/// left out.
pub(crate) async fn group_views(
    spec: &ReplicaSpec,
    peers: &PeerClient,
    addrs: &[String],
) -> Vec<api::MembershipView> {
    let calls = addrs.iter().map(|addr| async move {
        peers
            .get::<api::MembershipView>(addr, api::membership::MEMBERS_PATH, HELLO_TIMEOUT)
            .await
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(std::result::Result::ok)
        .filter(|v| v.group == spec.group.as_str())
        .collect()
}

/// Refuses a replica with Raft state that the group's leader does not count as a member: it
/// was removed, perhaps while it was down, and never received the entry that removed it (so its
/// own log still names it, and it would campaign). Asks the configured peers all at once;
/// without a leader's answer nothing is decided here.
///
/// # Errors
/// [`Error::Removed`].
pub(crate) async fn refuse_if_removed(spec: &ReplicaSpec, peers: &PeerClient) -> Result<()> {
    let addrs = spec.other_addrs();
    match leader_view(spec, peers, &addrs).await {
        Some(view) if view.member(spec.id).is_none() => Err(Error::Removed {
            group: view.group.clone(),
            id: spec.id,
            config_index: view.config_index,
            members: view.members.iter().map(|m| m.id).collect(),
        }),
        _ => Ok(()),
    }
}

/// The leader's membership view: asked of the replicas at `addrs`, then, if none of them
/// leads, of the leader they name (which may be a replica the configuration does not list).
async fn leader_view(
    spec: &ReplicaSpec,
    peers: &PeerClient,
    addrs: &[String],
) -> Option<api::MembershipView> {
    let is_leader = |v: &api::MembershipView| v.leader == Some(v.answered_by);
    let views = group_views(spec, peers, addrs).await;
    if let Some(view) = views.iter().find(|v| is_leader(v)) {
        return Some(view.clone());
    }
    let named: Vec<String> = views
        .iter()
        .filter_map(|v| v.member(v.leader?).map(|m| m.addr.clone()))
        .filter(|addr| !addrs.contains(addr))
        .take(1)
        .collect();
    group_views(spec, peers, &named)
        .await
        .into_iter()
        .find(is_leader)
}

/// Greets every other replica of the group that answers, within a short timeout each (all at
/// once), and refuses to start if one rejects this replica's token or cluster id, or answers as
/// another replica than the configuration says. Peers that do not answer are not checked.
///
/// # Errors
/// [`Error::PeerRefused`] naming the peer and its answer.
pub(crate) async fn greet_peers(spec: &ReplicaSpec, peers: &PeerClient) -> Result<()> {
    let me = Hello {
        group: spec.group.as_str().to_string(),
        replica_id: spec.id,
    };
    let me = &me;
    let calls = spec
        .peers
        .iter()
        .filter(|(id, _)| **id != spec.id)
        .map(|(id, addr)| async move {
            let answer = peers
                .post::<_, Hello>(addr, HELLO_PATH, me, HELLO_TIMEOUT)
                .await;
            (*id, addr, answer)
        });
    for (id, addr, answer) in futures::future::join_all(calls).await {
        let peer = format!("{} replica {id} at {addr}", me.group);
        let refused = |reason: String| {
            Err(Error::PeerRefused {
                peer: peer.clone(),
                reason,
            })
        };
        match answer {
            Ok(hello) if hello.group == me.group && hello.replica_id == id => {}
            // Membership changes move ids to other addresses; the cluster id is what matters.
            Ok(hello) if hello.group == me.group => tracing::info!(
                %peer,
                answered_as = hello.replica_id,
                "peer answers under another id (the membership changed)"
            ),
            Ok(hello) => {
                return refused(format!(
                    "it answered as {} replica {}: the configured addresses are not this \
                     cluster's",
                    hello.group, hello.replica_id
                ))
            }
            Err(PeerCallError::Failed {
                status: Some(401),
                reason,
                ..
            }) => {
                return refused(format!(
                    "it rejected this replica's cluster token ({reason})"
                ))
            }
            Err(PeerCallError::Failed {
                status: Some(403),
                reason,
                ..
            }) => return refused(format!("it belongs to another cluster ({reason})")),
            Err(e) => tracing::info!(%peer, error = %e, "peer not greeted; it cannot vouch now"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::metrics::StoreMetrics;
    use runtime::cluster::{GroupName, RaftTimings};

    fn spec(dir: &Path, bootstrap: bool, cluster_id: Option<&str>) -> ReplicaSpec {
        let ms = Duration::from_millis;
        ReplicaSpec {
            group: GroupName::Catalog,
            id: 1,
            peers: BTreeMap::from([(1, "127.0.0.1:1".to_string())]),
            data_dir: dir.to_path_buf(),
            cluster_token: "test-cluster-token".into(),
            cluster_id: cluster_id.map(str::to_string),
            bootstrap,
            join: false,
            added: false,
            raft: RaftTimings {
                heartbeat: ms(250),
                election_min: ms(1000),
                election_max: ms(1500),
                install_snapshot_timeout: ms(5000),
                snapshot_logs_since_last: 10,
                snapshot_logs_kept: 1,
                write_timeout: ms(5000),
                read_timeout: ms(3000),
            },
            sled_cache_bytes: 1 << 20,
        }
    }

    #[tokio::test]
    async fn an_empty_directory_is_refused_unless_bootstrapping() {
        // Goal: without bootstrap, a missing directory is refused before anything is created
        // in it, and so is one whose sled files hold nothing; a bootstrap records its id once.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("catalog-1");
        let plain = spec(&dir, false, Some("c1"));
        let e = refuse_empty_dir(&plain).unwrap_err();
        assert!(matches!(e, Error::EmptyReplicaDir { .. }), "{e}");
        assert!(e.to_string().contains("member replace"), "{e}");
        assert!(!dir.exists(), "a refused start creates nothing");
        let db = ReplicaDb::open(&dir, 1 << 20, &[], StoreMetrics::unrecorded()).unwrap();
        refuse_empty_dir(&plain).unwrap();
        let e = settle(&db, &plain, true).await.unwrap_err();
        assert!(matches!(e, Error::EmptyReplicaDir { .. }), "{e}");
        let boot = spec(&dir, true, Some("c1"));
        assert_eq!(settle(&db, &boot, true).await.unwrap(), "c1");
        // Recorded: an ordinary restart (and a repeated bootstrap) finds it.
        assert_eq!(settle(&db, &plain, false).await.unwrap(), "c1");
        assert_eq!(settle(&db, &boot, false).await.unwrap(), "c1");
        assert_eq!(
            settle(&db, &spec(&dir, false, None), false).await.unwrap(),
            "c1"
        );
    }

    #[tokio::test]
    async fn another_clusters_or_an_unidentified_directory_is_refused() {
        // Goal: a directory recording another cluster id is refused, bootstrap or not; one with
        // Raft state but no id (made before ids existed) is refused rather than adopted.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("orders-2");
        let db = ReplicaDb::open(&dir, 1 << 20, &[], StoreMetrics::unrecorded()).unwrap();
        let e = settle(&db, &spec(&dir, true, Some("old")), false)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnidentifiedReplicaDir { .. }), "{e}");
        settle(&db, &spec(&dir, true, Some("old")), true)
            .await
            .unwrap();
        for bootstrap in [false, true] {
            let e = settle(&db, &spec(&dir, bootstrap, Some("new")), false)
                .await
                .unwrap_err();
            assert!(
                matches!(&e, Error::WrongCluster { recorded, expected, .. }
                    if recorded == "old" && expected == "new"),
                "{e}"
            );
        }
    }
}
