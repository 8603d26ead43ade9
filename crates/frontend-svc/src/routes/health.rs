//! `GET /health`: liveness of the frontend process itself (replicas are in `/cluster`).

use axum::Json;
use serde_json::{json, Value};

/// Answers as long as the frontend serves HTTP.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "service": "frontend"}))
}
