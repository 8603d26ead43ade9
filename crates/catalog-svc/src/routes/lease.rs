//! `POST /cache/lease`: a frontend registers or renews its cache lease with the leader.

use api::coherence::{LeaseGrant, LeaseRequest};
use api::{ApiError, ApiJson, ErrorCode};
use axum::extract::State;
use storage::replica::LeaderReply;
use tokio::time::Instant;

use crate::state::AppState;

/// Longest frontend id accepted.
const FRONTEND_ID_BYTES_MAX: usize = 128;

/// Registers the frontend as of now, confirms leadership with a quorum, and grants a lease with
/// the writes in flight; a follower answers 503 `no_leader` (the frontend tries the others).
pub async fn lease(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> Result<ApiJson<LeaseGrant>, ApiError> {
    let received = Instant::now();
    let Some(fence) = &state.fence else {
        return Err(ApiError::not_found(
            "this catalog runs without cache coherence ([cache] enabled = false)",
        ));
    };
    check(&req)?;
    let leadership = state.replica.leadership();
    if !leadership.is_leader {
        return Err(not_leader(leadership.leader));
    }
    let session = fence.register(&req.frontend, &req.notify_url, received);
    let wait = state.replica.spec().raft.read_timeout;
    match state.replica.confirm_leadership(wait).await {
        LeaderReply::Done(term) => {
            let (applied, last_log) = (
                state.replica.applied_index(),
                state.replica.last_log_index(),
            );
            Ok(ApiJson(fence.grant(term, session, applied, last_log)))
        }
        LeaderReply::NotLeader(leader) => Err(not_leader(leader)),
        LeaderReply::Unavailable(reason) | LeaderReply::Unknown(reason) => {
            Err(ApiError::new(ErrorCode::NoLeader, reason))
        }
    }
}

fn check(req: &LeaseRequest) -> Result<(), ApiError> {
    if req.frontend.is_empty() || req.frontend.len() > FRONTEND_ID_BYTES_MAX {
        return Err(ApiError::bad_request(format!(
            "frontend must be 1 to {FRONTEND_ID_BYTES_MAX} bytes"
        )));
    }
    if !is_http_host_port(&req.notify_url) {
        return Err(ApiError::bad_request("notify_url must be http://host:port"));
    }
    Ok(())
}

/// Whether `url` is `http://host:port` with nothing after it.
fn is_http_host_port(url: &str) -> bool {
    let Some((host, port)) = url.strip_prefix("http://").and_then(|r| r.rsplit_once(':')) else {
        return false;
    };
    !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
}

fn not_leader(leader: Option<u64>) -> ApiError {
    let hint = leader.map_or("no leader is known".to_string(), |id| {
        format!("replica {id} leads")
    });
    ApiError::new(
        ErrorCode::NoLeader,
        format!("not the catalog leader; {hint}"),
    )
}
