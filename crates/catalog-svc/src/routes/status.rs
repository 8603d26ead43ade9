//! `GET /status` (role, leader, term, positions, digest) and `GET /health` (liveness).

use api::ReplicaStatus;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// What this replica reports about itself.
pub async fn status(State(state): State<AppState>) -> Json<ReplicaStatus> {
    Json(state.replica.status())
}

/// Liveness: answers as long as the process serves HTTP.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let spec = state.replica.spec();
    Json(json!({"status": "ok", "group": spec.group.as_str(), "id": spec.id}))
}
