//! `POST /buy`: one buy under its key. The leader runs it; a follower forwards it once.

use api::{ApiError, ApiJson, BuyRequest, ErrorCode, Order};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::buy::buy_as_leader;
use crate::state::{AppState, BUY_DEADLINE};

/// Header marking a buy forwarded by a follower, so it is never forwarded twice.
const FORWARDED: &str = "x-pygmy-forwarded";

/// Runs the buy (leader) or forwards it to the leader (follower).
pub async fn buy(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BuyRequest>,
) -> Result<Response, ApiError> {
    req.validate()?;
    let leadership = state.replica.leadership();
    if leadership.is_leader {
        let order: Order = buy_as_leader(&state, req).await?;
        return Ok(ApiJson(order).into_response());
    }
    let not_leader = |why: &str| {
        ApiError::new(
            ErrorCode::NoLeader,
            format!("order replica is not the leader ({why}); nothing was applied"),
        )
    };
    if headers.contains_key(FORWARDED) {
        return Err(not_leader("leadership moved while the buy was forwarded"));
    }
    let Some(addr) = leadership.leader_addr else {
        return Err(not_leader("no leader elected"));
    };
    forward(&state, &addr, &req).await
}

async fn forward(state: &AppState, addr: &str, req: &BuyRequest) -> Result<Response, ApiError> {
    let sent = state
        .http
        .post(format!("http://{addr}/buy"))
        .bearer_auth(&state.replica.spec().cluster_token)
        .header(FORWARDED, "1")
        .json(req)
        .timeout(BUY_DEADLINE)
        .send()
        .await;
    let unknown = |e: String| {
        ApiError::new(
            ErrorCode::OutcomeUnknown,
            format!(
                "forwarding the buy to the leader failed ({e}); retrying with the same key is safe"
            ),
        )
    };
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return Err(ApiError::new(
                ErrorCode::NoLeader,
                format!("order leader unreachable: {e}"),
            ))
        }
        Err(e) => return Err(unknown(e.to_string())),
    };
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let body = response.bytes().await.map_err(|e| unknown(e.to_string()))?;
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(out)
}
