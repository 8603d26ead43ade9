//! `GET /health`: liveness of the frontend process itself (replicas are in `/cluster`), and
//! `GET /ready`: whether it can serve now. Both sit outside the load shedder and the request
//! deadline, so that an orchestrator gets an answer from a busy frontend.

use api::Readiness;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// Answers as long as the frontend serves HTTP.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\", \"service\": \"frontend\"}`",
               body = Object))
)]
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "service": "frontend"}))
}

/// Ready once both groups' leaders are known and, with a cache, a lease is held (503 with
/// the reasons otherwise). Local state only: it answers at once.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready, with the reasons", body = Readiness),
    )
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Readiness {
    let mut reasons = Vec::new();
    for pool in [&state.catalog, &state.orders] {
        if pool.leader_and_term().0.is_none() {
            reasons.push(format!("no {} leader known", pool.group()));
        }
    }
    if let Some(cache) = &state.cache {
        if !cache.lease_held() {
            reasons.push("no cache lease held from the catalog leader".to_string());
        }
    }
    Readiness::of("frontend", reasons)
}

#[cfg(test)]
mod tests {
    use api::{ReplicaRole, ReplicaStatus};
    use axum::http::StatusCode;

    use crate::testutil::{get_req, send, Harness};

    fn leading(group: &str) -> ReplicaStatus {
        ReplicaStatus {
            group: group.into(),
            id: 1,
            role: ReplicaRole::Leader,
            leader: Some(1),
            term: 2,
            last_log_index: 0,
            last_applied: 0,
            snapshot_index: 0,
            last_purged: 0,
            digest: String::new(),
        }
    }

    #[tokio::test]
    async fn ready_says_what_is_missing_until_both_leaders_are_known() {
        // Goal: `/ready` is 503 naming each missing leader and the missing cache lease, then
        // 200 once the probes saw both leaders and a lease was granted.
        let h = Harness::start().await;
        let answer = send(&h.app, get_req("/ready")).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        let reasons = answer.json()["reasons"].to_string();
        assert!(
            reasons.contains("no catalog leader known")
                && reasons.contains("no orders leader known")
                && reasons.contains("no cache lease"),
            "{reasons}"
        );
        h.state.catalog.replica(1).record_status(leading("catalog"));
        h.state.orders.replica(1).record_status(leading("orders"));
        let grant = api::coherence::LeaseGrant {
            term: 2,
            session: 1,
            lease_ms: 86_400_000,
            applied_index: 0,
            in_flight: Vec::new(),
            next_seq: 1,
        };
        let cache = h.state.cache().expect("the test frontend caches");
        cache.apply_grant(&grant, tokio::time::Instant::now()).await;
        let answer = send(&h.app, get_req("/ready")).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.json()["ready"], true);
    }
}
