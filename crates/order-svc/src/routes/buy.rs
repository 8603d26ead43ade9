//! `POST /buy`: one buy under its key; `POST /buy-all`: many, each run as `/buy` runs it alone.
//! The leader runs them; a follower forwards the request once.

use api::{
    ApiError, ApiJson, BuyAllItem, BuyAllOutcome, BuyAllRequest, BuyRequest, ErrorCode, Order,
    BUY_ALL_PATH,
};
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
    forward_to_leader(&state, &headers, "/buy", &req).await
}

/// Runs every buy of the batch together (leader), each as [`buy`] runs it alone: one failing
/// buy fails alone. A follower forwards the whole batch to the leader.
pub async fn buy_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BuyAllRequest>,
) -> Result<Response, ApiError> {
    req.validate()?;
    if !state.replica.leadership().is_leader {
        return forward_to_leader(&state, &headers, BUY_ALL_PATH, &req).await;
    }
    let buys = req.buys.into_iter().map(|buy| buy_as_leader(&state, buy));
    let items = futures::future::join_all(buys)
        .await
        .into_iter()
        .map(|ended| match ended {
            Ok(order) => BuyAllItem::Ordered(order),
            Err(e) => BuyAllItem::Failed(e.body()),
        })
        .collect();
    Ok(ApiJson(BuyAllOutcome { items }).into_response())
}

/// Forwards `body` to the leader's `path`, unless it was forwarded here already.
async fn forward_to_leader(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<Response, ApiError> {
    let not_leader = |why: &str| {
        ApiError::new(
            ErrorCode::NoLeader,
            format!("order replica is not the leader ({why}); nothing was applied"),
        )
    };
    if headers.contains_key(FORWARDED) {
        return Err(not_leader("leadership moved while the buy was forwarded"));
    }
    let Some(addr) = state.replica.leadership().leader_addr else {
        return Err(not_leader("no leader elected"));
    };
    forward(state, &addr, path, body).await
}

async fn forward(
    state: &AppState,
    addr: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<Response, ApiError> {
    let sent = state
        .http
        .post(format!("http://{addr}{path}"))
        .bearer_auth(&state.replica.spec().cluster_token)
        .header(FORWARDED, "1")
        .json(body)
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
