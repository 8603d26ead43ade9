//! Each pool follows its group's membership, which lives in the group's Raft log. The replica
//! the pool believes leads is asked for its view first, then the other healthy ones; one that
//! names another leader is followed one hop, so that a leader the pool does not hold yet (a new
//! member that took over) is still found. Only the leader's view changes the pool
//! (`pool::membership`).

use std::sync::Arc;

use api::MembershipView;

use crate::pool::{PoolReplica, Reconciled, ReplicaPool};
use crate::state::AppState;

/// Asks both groups for their membership, at once, and makes each pool follow its leader's
/// view. Each request is bounded by `probe_timeout`; a group's look makes two per healthy
/// replica at most, and one when the replica the pool believes leads does.
pub(crate) async fn follow_members(state: &AppState) {
    futures::join!(follow(state, &state.catalog), follow(state, &state.orders));
}

/// One group's look: the leader's view, and the pool reconciled with it.
async fn follow(state: &AppState, pool: &ReplicaPool) {
    let group = pool.group();
    let Some(view) = leader_view(state, pool).await else {
        tracing::debug!(group, "no replica gave the leader's view of the membership");
        return;
    };
    match pool.reconcile(&view) {
        Reconciled::Changed(change) => tracing::info!(
            group,
            leader = view.answered_by,
            term = view.term,
            added = ?change.added,
            removed = ?change.removed,
            moved = ?change.moved,
            "membership changed"
        ),
        Reconciled::Unchanged => {}
        Reconciled::Ignored(why) => {
            let replica_id = view.answered_by;
            tracing::debug!(group, replica_id, why, "membership view not followed");
        }
    }
}

/// The leader's view, asked of the healthy replicas in turn, the one the pool believes leads
/// first, until one leads or names a leader among its members. The believed leader may not be
/// one: a removed replica, no longer hearing from the leader, campaigns alone in ever higher
/// terms and so wins [`ReplicaPool::leader_and_term`] until the pool drops it.
async fn leader_view(state: &AppState, pool: &ReplicaPool) -> Option<MembershipView> {
    for replica in to_ask(pool) {
        match view_through(state, &replica.addr).await {
            Ok(view) if view.leader == Some(view.answered_by) => return Some(view),
            Ok(_) => {}
            Err(reason) => {
                let (group, replica_id) = (pool.group(), replica.id);
                tracing::debug!(group, replica_id, %reason, "membership not learned");
            }
        }
    }
    None
}

/// The healthy replicas, the one the pool believes leads first.
fn to_ask(pool: &ReplicaPool) -> Vec<Arc<PoolReplica>> {
    let leader = pool.leader_and_term().0;
    let mut healthy: Vec<Arc<PoolReplica>> = pool
        .replicas()
        .iter()
        .filter(|r| r.is_healthy())
        .cloned()
        .collect();
    healthy.sort_by_key(|r| Some(r.id) != leader);
    healthy
}

/// The view of the replica at `addr` or, when it names another replica among its members as
/// leader, that leader's view.
async fn view_through(state: &AppState, addr: &str) -> Result<MembershipView, String> {
    let timeout = state.config.probe_timeout;
    let view = state.backend.fetch_membership(addr, timeout).await?;
    let leader = match view.leader {
        Some(leader) if leader != view.answered_by => view.member(leader),
        _ => None,
    };
    match leader {
        Some(leader) => state.backend.fetch_membership(&leader.addr, timeout).await,
        None => Ok(view),
    }
}

#[cfg(test)]
mod tests {
    use api::membership::MEMBERS_PATH;
    use api::{ClusterView, Member, MemberRole, ReplicaRole};
    use axum::http::StatusCode;

    use super::*;
    use crate::testutil::{
        config, dead_addr, get_req, post_json, send, Fake, FakeServer, ADMIN_TOKEN,
    };

    /// Catalog replicas 2, 3 and 4 serving, 4 leading in term 5, each answering its own view.
    async fn replaced_catalog() -> Vec<FakeServer> {
        let mut servers = Vec::new();
        for id in 2..=4 {
            servers.push(FakeServer::start(Fake::new("catalog", id)).await);
        }
        let members: Vec<Member> = (2..=4)
            .zip(&servers)
            .map(|(id, s)| Member {
                id,
                addr: s.addr.clone(),
                role: MemberRole::Voter,
                matched_index: None,
            })
            .collect();
        for (id, server) in (2..=4).zip(&servers) {
            let role = if id == 4 {
                ReplicaRole::Leader
            } else {
                ReplicaRole::Follower
            };
            server.fake.set_status(role, Some(4), 5);
            server.fake.set_members(MembershipView {
                group: "catalog".into(),
                answered_by: id,
                cluster_id: "c".into(),
                leader: Some(4),
                term: 5,
                last_log_index: 30,
                config_index: 30,
                changing: false,
                members: members.clone(),
            });
        }
        servers
    }

    #[tokio::test]
    async fn after_a_replace_the_frontend_serves_through_the_new_member_not_the_removed_one() {
        // Goal: after `member replace --group catalog 1 <new>`, one look at the membership makes
        // the frontend hold catalog replicas 2, 3 and 4: /cluster shows them, reads and writes
        // reach 4. Method: configured replica 1 is gone, 2 and 3 are configured, the new 4
        // leads; the pool does not hold 4, so it asks 2, which names 4, whose view it follows.
        let servers = replaced_catalog().await;
        let orders = FakeServer::start(Fake::new("orders", 1)).await;
        let gone = dead_addr().await;
        let mut config = config(
            &[&gone, &servers[0].addr, &servers[1].addr],
            &[&orders.addr],
        );
        config.cache_capacity = None;
        let state = crate::AppState::new(config).unwrap();
        crate::probe::probe_all(&state).await;
        follow_members(&state).await;
        assert_eq!(
            servers[0].fake.seen(MEMBERS_PATH).len(),
            1,
            "the healthy one asked"
        );
        assert_eq!(
            servers[2].fake.seen(MEMBERS_PATH).len(),
            1,
            "the leader it names"
        );
        crate::probe::probe_all(&state).await;
        let app = crate::router(state);
        let answer = send(&app, get_req("/cluster")).await;
        let view: ClusterView = serde_json::from_slice(&answer.body).unwrap();
        let catalog = &view.groups[0];
        let shown: Vec<(u64, bool)> = catalog.replicas.iter().map(|r| (r.id, r.healthy)).collect();
        assert_eq!(shown, [(2, true), (3, true), (4, true)]);
        assert_eq!((catalog.leader, catalog.term), (Some(4), 5));
        for _ in 0..3 {
            assert_eq!(send(&app, get_req("/books/1")).await.status, StatusCode::OK);
        }
        assert_eq!(
            servers[2].fake.seen("/books/1").len(),
            1,
            "reads rotate over 2, 3, 4"
        );
        let admin = format!("Bearer {ADMIN_TOKEN}");
        let restock = post_json(
            "/admin/books/1",
            r#"{"stock_delta": 1}"#,
            &[("authorization", &admin)],
        );
        assert_eq!(send(&app, restock).await.status, StatusCode::OK);
        assert_eq!(
            servers[2].fake.seen("/admin/books/1").len(),
            1,
            "writes go to the leader"
        );
    }

    #[tokio::test]
    async fn a_removed_replica_campaigning_in_higher_terms_does_not_keep_the_pool_from_the_leader()
    {
        // Goal: the removed replica 1, still running, hears from no leader and campaigns in
        // ever higher terms, so the pool believes no replica leads; the look goes on to the
        // other replicas, reaches the leader through them, and drops 1, after which the pool
        // knows the leader again. Method: 1 is a candidate in term 9 whose view names no leader.
        let servers = replaced_catalog().await;
        let removed = FakeServer::start(Fake::new("catalog", 1)).await;
        removed.fake.set_status(ReplicaRole::Candidate, None, 9);
        removed.fake.set_members(MembershipView {
            answered_by: 1,
            leader: None,
            term: 9,
            ..servers[0].fake.members().unwrap()
        });
        let orders = FakeServer::start(Fake::new("orders", 1)).await;
        let catalog = [&removed.addr, &servers[0].addr, &servers[1].addr];
        let state =
            crate::AppState::new(config(&catalog.map(String::as_str), &[&orders.addr])).unwrap();
        crate::probe::probe_all(&state).await;
        assert_eq!(state.catalog.leader_and_term(), (None, 9));
        follow_members(&state).await;
        assert_eq!(removed.fake.seen(MEMBERS_PATH).len(), 1);
        let ids: Vec<u64> = state.catalog.replicas().iter().map(|r| r.id).collect();
        assert_eq!(ids, [2, 3, 4]);
        assert_eq!(state.catalog.leader_and_term(), (Some(4), 5));
    }
}
