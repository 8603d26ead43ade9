//! `GET /cluster`: both groups as the probes last saw them.

use api::ClusterView;
use axum::extract::State;
use axum::Json;

use crate::state::AppState;

/// Every replica's health and last `/status`; each group's leader and term.
#[utoipa::path(
    get,
    path = "/cluster",
    operation_id = "cluster",
    tag = "operations",
    responses((status = 200, description = "Both groups and this frontend's cache", body = ClusterView))
)]
pub(crate) async fn cluster(State(state): State<AppState>) -> Json<ClusterView> {
    let cache = match &state.cache {
        Some(cache) => Some(cache.view().await),
        None => None,
    };
    Json(ClusterView {
        groups: vec![state.catalog.view(), state.orders.view()],
        cache,
    })
}

#[cfg(test)]
mod tests {
    use api::{ClusterView, ReplicaRole};

    use crate::testutil::{config, dead_addr, get_req, send, Fake, FakeServer};

    #[tokio::test]
    async fn the_view_shows_each_groups_leader_term_and_replica_health() {
        // Goal: after a probe wave, /cluster reports every replica's status and health, and
        // each group's leader and term from the replica with the highest term.
        let catalog_1 = FakeServer::start(Fake::new("catalog", 1)).await;
        let catalog_2 = FakeServer::start(Fake::new("catalog", 2)).await;
        catalog_1.fake.set_status(ReplicaRole::Follower, Some(1), 4);
        catalog_2.fake.set_status(ReplicaRole::Leader, Some(2), 5);
        let orders = FakeServer::start(Fake::new("orders", 1)).await;
        orders.fake.set_status(ReplicaRole::Leader, Some(1), 2);
        let dead = dead_addr().await;
        let state = crate::AppState::new(config(
            &[&catalog_1.addr, &catalog_2.addr, &dead],
            &[&orders.addr],
        ))
        .unwrap();
        crate::probe::probe_all(&state).await;
        let answer = send(&crate::router(state), get_req("/cluster")).await;
        let view: ClusterView = serde_json::from_slice(&answer.body).unwrap();
        let catalog = &view.groups[0];
        assert_eq!(
            (catalog.name.as_str(), catalog.leader, catalog.term),
            ("catalog", Some(2), 5)
        );
        let health: Vec<(u64, bool, Option<u64>)> = catalog
            .replicas
            .iter()
            .map(|r| (r.id, r.healthy, r.status.as_ref().map(|s| s.term)))
            .collect();
        assert_eq!(
            health,
            [(1, true, Some(4)), (2, true, Some(5)), (3, false, None)]
        );
        assert_eq!(catalog.replicas[2].addr, dead);
        let orders_view = &view.groups[1];
        assert_eq!(
            (
                orders_view.name.as_str(),
                orders_view.leader,
                orders_view.term
            ),
            ("orders", Some(1), 2)
        );
    }
}
