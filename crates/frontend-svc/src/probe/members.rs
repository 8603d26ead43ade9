//! Each pool follows its group's membership, which lives in the group's Raft log. The replica
//! the pool believes leads (else any healthy one) is asked for its view; one that names another
//! leader is followed one hop, so that a leader the pool does not hold yet (a new member that
//! took over) is still found. Only the leader's view changes the pool (`pool::membership`).

use std::sync::Arc;

use api::MembershipView;

use crate::pool::{PoolReplica, Reconciled, ReplicaPool};
use crate::state::AppState;

/// Asks both groups for their membership, at once, and makes each pool follow its leader's
/// view. Each request is bounded by `probe_timeout`; a group's look makes two at most.
pub(crate) async fn follow_members(state: &AppState) {
    futures::join!(follow(state, &state.catalog), follow(state, &state.orders));
}

/// One group's look: whom to ask, the leader's view, the pool reconciled with it.
async fn follow(state: &AppState, pool: &ReplicaPool) {
    let group = pool.group();
    let Some(asked) = whom_to_ask(pool) else {
        tracing::debug!(group, "no healthy replica to ask for the membership");
        return;
    };
    let view = match leader_view(state, &asked.addr).await {
        Ok(view) => view,
        Err(reason) => {
            tracing::debug!(group, replica_id = asked.id, %reason, "membership not learned");
            return;
        }
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

/// The replica the pool believes leads, if healthy; else the first healthy one.
fn whom_to_ask(pool: &ReplicaPool) -> Option<Arc<PoolReplica>> {
    let replicas = pool.replicas();
    let leader = pool.leader_and_term().0;
    let healthy = || replicas.iter().filter(|r| r.is_healthy());
    let chosen = healthy()
        .find(|r| Some(r.id) == leader)
        .or_else(|| healthy().next());
    chosen.cloned()
}

/// The view of the replica at `addr` or, when it names another replica among its members as
/// leader, that leader's view.
async fn leader_view(state: &AppState, addr: &str) -> Result<MembershipView, String> {
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
}
