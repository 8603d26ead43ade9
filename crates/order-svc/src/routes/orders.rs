//! `GET /orders/{number}` and `GET /orders?from=N&limit=M`: linearizable reads of the order log.

use std::collections::HashMap;

use api::{ApiError, ApiJson, ErrorCode, Order, OrderList};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};

use crate::command::ORDERS;
use crate::error::Error;
use crate::state::AppState;

/// Orders returned by one page at most.
pub const PAGE_ORDERS_MAX: u64 = 1000;

/// One order by number.
pub async fn get(
    State(state): State<AppState>,
    number: Result<Path<String>, PathRejection>,
) -> Result<ApiJson<Order>, ApiError> {
    let Path(raw) = number.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let number = api::parse_id("order number", &raw)?;
    state
        .replica
        .linearizable_read()
        .await
        .map_err(Error::from)?;
    state
        .replica
        .view()
        .get(ORDERS, &storage::keys::u64_key(number))
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found(format!("no order number {number}")))
}

/// A page of the order log: numbers `from` (default 1) onwards, at most `limit` (default 100).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<ApiJson<OrderList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let from = query
        .get("from")
        .map_or(Ok(1), |v| api::parse_id("from", v))?;
    let limit = query
        .get("limit")
        .map_or(Ok(100), |v| api::parse_id("limit", v))?;
    if limit > PAGE_ORDERS_MAX {
        return Err(ApiError::bad_request(format!(
            "limit is at most {PAGE_ORDERS_MAX}"
        )));
    }
    state
        .replica
        .linearizable_read()
        .await
        .map_err(Error::from)?;
    let orders = (from..from.saturating_add(limit))
        .map_while(|n| {
            state
                .replica
                .view()
                .get::<Order>(ORDERS, &storage::keys::u64_key(n))
        })
        .collect();
    Ok(ApiJson(OrderList { orders }))
}

/// `GET /pending`, at the order leader: how many buys it began and has not seen end (their
/// stock may be held without an order); 0 once a recovered group's leader has finished them.
/// 503 `no_leader` at a follower (only the leader knows), or at a leader still finishing its
/// predecessors' buys.
pub async fn pending(
    State(state): State<AppState>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let leadership = state.replica.leadership();
    if !leadership.is_leader {
        return Err(ApiError::new(
            ErrorCode::NoLeader,
            "not the order leader: only the leader knows its unfinished buys",
        ));
    }
    if *state.resolved_term.borrow() < leadership.term {
        return Err(ApiError::new(
            ErrorCode::NoLeader,
            "the order leader is still finishing the buys its predecessors left unfinished",
        ));
    }
    Ok(ApiJson(
        serde_json::json!({ "pending": state.unfinished.len() }),
    ))
}
