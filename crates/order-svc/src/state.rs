//! The handle every route receives.

use std::sync::Arc;
use std::time::Duration;

use api::{ApiError, ErrorCode};
use storage::Replica;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::catalog_client::CatalogClient;
use crate::completions::Completions;
use crate::confirmations::Confirmations;
use crate::machine::OrderMachine;
use crate::reservations::Reservations;
use crate::unfinished::UnfinishedBuys;

/// Shared state of the order routes.
#[derive(Clone)]
pub struct AppState {
    /// This process's replica of the order group.
    pub replica: Replica<OrderMachine>,
    /// Client of the catalog group.
    pub catalog: Arc<CatalogClient>,
    /// Reservations of buys to send to the catalog, in batches.
    pub reservations: Reservations,
    /// Reservations of committed orders to mark sold, in batches.
    pub confirmations: Confirmations,
    /// Orders of buys whose stock is held, to commit in batches.
    pub completions: Completions,
    /// The buys this replica began as leader and has not seen end.
    pub unfinished: UnfinishedBuys,
    /// Highest term in which this replica, as leader, finished every buy left unfinished before
    /// it.
    pub resolved_term: watch::Receiver<u64>,
    /// Client for forwarding buys to the leader.
    pub http: reqwest::Client,
}

impl AppState {
    /// Waits until this leader has finished the buys its predecessors left with stock held, in
    /// the current term; that term.
    ///
    /// # Errors
    /// 503 `no_leader` if that takes past `deadline`.
    pub async fn wait_resolved(&self, deadline: Instant) -> Result<u64, ApiError> {
        let term = self.replica.leadership().term;
        let mut rx = self.resolved_term.clone();
        let wait = deadline.saturating_duration_since(Instant::now());
        let resolved = tokio::time::timeout(wait, rx.wait_for(|t| *t >= term))
            .await
            .is_ok_and(|r| r.is_ok());
        if resolved {
            return Ok(term);
        }
        Err(ApiError::new(
            ErrorCode::NoLeader,
            "the new order leader is still finishing the buys its predecessors left unfinished",
        ))
    }
}

/// Deadline of one buy at the order leader (reservation plus two commits, with retries).
pub const BUY_DEADLINE: Duration = Duration::from_secs(8);
