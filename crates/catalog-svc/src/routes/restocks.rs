//! `GET /restocks`: the timed restock rounds this catalog has applied (linearizable), so that
//! `pygmy chaos` can count them in its conservation check and tests can count them per period.

use api::ApiError;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::read_barrier;
use crate::command::{RestockRound, RESTOCKS, RESTOCK_LAST, RESTOCK_LAST_KEY};
use crate::state::AppState;

/// The timed restocks applied: the last period and every round, in period order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockLedger {
    /// The last period applied, if any.
    pub last_period: Option<u64>,
    /// Every round applied, in period order (one per period at most).
    pub rounds: Vec<RestockRound>,
}

/// Every round applied, read at a linearizable point.
pub async fn list(State(state): State<AppState>) -> Result<Json<RestockLedger>, ApiError> {
    read_barrier(&state).await?;
    let view = state.replica.view();
    let rounds = view
        .scan::<RestockRound>(RESTOCKS)
        .into_iter()
        .map(|(_, round)| round)
        .collect();
    let last_period = view.get(RESTOCK_LAST, RESTOCK_LAST_KEY);
    Ok(Json(RestockLedger {
        last_period,
        rounds,
    }))
}
