//! The order leader's calls to the catalog group: reserve and confirm, by buy key, and fence
//! out the order leaders of earlier terms, at the
//! catalog's current members (`members`: the addresses, following the catalog's membership and
//! keeping the view followed across restarts).

mod members;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use api::{
    ApiError, ConfirmAllOutcome, ConfirmAllRequest, ErrorBody, FenceOrdersOutcome,
    FenceOrdersRequest, ReserveAllItem, ReserveAllOutcome, ReserveAllRequest, ReserveOutcome,
    ReserveRequest, WriteOutcome, CONFIRM_ALL_PATH, FENCE_ORDERS_PATH, RESERVE_ALL_PATH,
};
use serde::Serialize;
use tokio::time::Instant;

use members::CatalogAddrs;
pub use members::CatalogDirs;

/// Time allowed for one call to a catalog replica.
const CALL_TIMEOUT: Duration = Duration::from_secs(6);
/// Time allowed for opening a connection to a catalog replica: a dead or cut-off host fails
/// fast instead of holding a call for [`CALL_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The catalog's answer to a reservation.
#[derive(Debug)]
pub enum ReserveAnswer {
    /// The stock is held (or was already held or confirmed) under the key.
    Held(ReserveOutcome),
    /// A definitive refusal (out of stock, unknown book, key conflict, ...): never retried.
    Refused(ApiError),
    /// No definitive answer before the deadline; the key may or may not hold stock.
    Unknown(String),
}

/// Client of the catalog replicas (any replica forwards writes to its leader).
#[derive(Debug)]
pub struct CatalogClient {
    http: reqwest::Client,
    /// The catalog replicas' addresses: the configured ones until the leader's view is known.
    addrs: CatalogAddrs,
    token: String,
    // Position in the current addresses of the replica that last answered (or of the leader
    // whose view was followed); tried first.
    preferred: AtomicUsize,
}

impl CatalogClient {
    /// A client of the catalog group configured at `replicas`, authenticating with `token`;
    /// run [`CatalogClient::follow_members`] beside it to follow the group's membership. What
    /// it follows is kept in memory only.
    pub fn new(replicas: Vec<String>, token: String) -> Self {
        Self::build(replicas, token, None)
    }

    /// As [`CatalogClient::new`], but starting from the view kept in `dirs.replica_dir` by the
    /// last run (if there is a usable one), keeping the view it follows there, and asking the
    /// catalog replicas that record their membership in `dirs.data_dir` too.
    pub fn with_dirs(replicas: Vec<String>, token: String, dirs: CatalogDirs) -> Self {
        Self::build(replicas, token, Some(&dirs))
    }

    fn build(replicas: Vec<String>, token: String, dirs: Option<&CatalogDirs>) -> Self {
        let http = runtime::internal_http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .expect("reqwest client builds with static settings");
        Self {
            http,
            addrs: CatalogAddrs::new(replicas, dirs),
            token,
            preferred: AtomicUsize::new(0),
        }
    }

    /// Reserves each of `reservations` in one catalog entry, in order, for the order leader of
    /// `order_term` (refused, as `no_leader`, once a later term fenced), trying each replica
    /// once (the caller sends again what is not answered for good): each one's answer, or why
    /// none came.
    pub async fn reserve_all(
        &self,
        reservations: Vec<ReserveRequest>,
        order_term: u64,
        deadline: Instant,
    ) -> Result<Vec<ReserveAllItem>, String> {
        let body = ReserveAllRequest {
            reservations,
            order_term,
        };
        match self
            .post::<_, ReserveAllOutcome>(RESERVE_ALL_PATH, &body, deadline)
            .await
        {
            Ok(outcome) => Ok(outcome.items),
            // The batch as a whole applied nothing (each item is judged on its own), so no buy
            // may be abandoned on it: it is sent again until its deadline.
            Err(Attempt::Definitive(e)) => {
                tracing::error!(error = %e.message, "the catalog refused a whole batch of reservations");
                Err(e.message)
            }
            Err(Attempt::Retry(reason)) => Err(reason),
        }
    }

    /// Refuses, from now on, the reservations of order leaders of terms before `order_term`:
    /// every reservation held once that applied, or why there is no answer (a later term
    /// fenced, no catalog leader, ...).
    pub async fn fence_orders(
        &self,
        order_term: u64,
        deadline: Instant,
    ) -> Result<Vec<ReserveOutcome>, String> {
        let body = FenceOrdersRequest { order_term };
        match self
            .post::<_, FenceOrdersOutcome>(FENCE_ORDERS_PATH, &body, deadline)
            .await
        {
            Ok(outcome) => Ok(outcome.held),
            Err(Attempt::Definitive(e)) => Err(e.message),
            Err(Attempt::Retry(reason)) => Err(reason),
        }
    }

    /// Marks the reservations under `keys` sold, in one catalog entry; best effort (a held
    /// reservation whose order is committed is already sold as far as stock is concerned).
    pub async fn confirm_all(&self, keys: Vec<String>, deadline: Instant) {
        let count = keys.len();
        let body = ConfirmAllRequest { keys };
        if let Err(e) = self
            .post::<_, ConfirmAllOutcome>(CONFIRM_ALL_PATH, &body, deadline)
            .await
        {
            tracing::debug!(count, error = ?e, "confirmations not delivered");
        }
    }

    /// One POST, trying each replica once from the preferred one; when none answered, a look
    /// at the membership before the caller tries again.
    async fn post<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        deadline: Instant,
    ) -> Result<T, Attempt> {
        let replicas = self.addrs.current();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = Attempt::Retry("no catalog replica configured".into());
        let mut answered = false;
        for i in 0..replicas.len() {
            let at = (start + i) % replicas.len();
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(CALL_TIMEOUT);
            if wait.is_zero() {
                break;
            }
            let sent = self
                .http
                .post(format!("http://{}{path}", replicas[at]))
                .bearer_auth(&self.token)
                .json(body)
                .timeout(wait)
                .send()
                .await;
            answered |= sent.is_ok();
            match classify(sent).await {
                Ok(value) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e @ Attempt::Definitive(_)) => return Err(e),
                Err(e) => {
                    // Calls starting from now begin elsewhere: one that waited out a cut-off
                    // replica is enough.
                    let _ = self.preferred.compare_exchange(
                        at,
                        (at + 1) % replicas.len(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    last = e;
                }
            }
        }
        if !answered {
            // The members may have moved: the next attempt goes where the group is now.
            self.look(deadline).await;
        }
        Err(last)
    }
}

/// Outcome of one call that did not succeed.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A refusal for good.
    Definitive(ApiError),
    /// Nothing definitive: send it again (why).
    Retry(String),
}

async fn classify<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, Attempt> {
    let response = sent.map_err(|e| Attempt::Retry(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| Attempt::Retry(e.to_string()));
    }
    let error = match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::from(body),
        Err(e) => return Err(Attempt::Retry(format!("status {status}: {e}"))),
    };
    Err(sort(error))
}

/// Only a definite no ends a reservation: an answer that applied nothing this time (a refused
/// token, a body that timed out) may come after an attempt of unknown outcome that holds stock
/// under the key, so the buy must not be abandoned on it; resend the same key instead.
pub(crate) fn sort(error: ApiError) -> Attempt {
    match error.code.write_outcome() {
        WriteOutcome::Refused => Attempt::Definitive(error),
        WriteOutcome::NotApplied | WriteOutcome::Unknown => Attempt::Retry(error.message),
    }
}

#[cfg(test)]
mod tests {
    use api::ErrorCode;

    use super::*;

    #[test]
    fn only_a_definite_no_ends_a_reservation() {
        // Goal: `internal` (may have reserved) and not-applied answers are retried with the
        // same key; out of stock, unknown book and key conflict are final.
        for code in [
            ErrorCode::Internal,
            ErrorCode::OutcomeUnknown,
            ErrorCode::Timeout,
            ErrorCode::NoLeader,
            ErrorCode::Overloaded,
            ErrorCode::Unauthorized,
            ErrorCode::BodyTimeout,
        ] {
            let sorted = sort(ApiError::new(code, "m"));
            assert!(matches!(sorted, Attempt::Retry(_)), "{code:?}");
        }
        for code in [
            ErrorCode::OutOfStock,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
        ] {
            let sorted = sort(ApiError::new(code, "m"));
            assert!(matches!(sorted, Attempt::Definitive(_)), "{code:?}");
        }
    }

    #[tokio::test]
    async fn a_replica_that_never_answers_is_skipped_by_the_next_call() {
        // Goal: once a call waited out a catalog replica that stopped answering (a host cut
        // off mid-connection looks so), the next call starts at another replica instead of
        // waiting there again. Method: a listener that never answers, then one that refuses
        // the reservation outright.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let answering_addr = answering.local_addr().unwrap().to_string();
        let refuse = || async {
            let conflict = ApiError::new(ErrorCode::Conflict, "the key holds another buy");
            axum::Json(ReserveAllOutcome {
                items: vec![ReserveAllItem::Refused(conflict.body())],
                log_index: 3,
            })
        };
        let app = axum::Router::new().route(RESERVE_ALL_PATH, axum::routing::post(refuse));
        tokio::spawn(async move { axum::serve(answering, app).await });
        let replicas = vec![silent.local_addr().unwrap().to_string(), answering_addr];
        let client = CatalogClient::new(replicas, "token".into());
        let req = ReserveRequest {
            key: "k".into(),
            item: 1,
            quantity: 1,
        };
        let first = client
            .reserve_all(
                vec![req.clone()],
                1,
                Instant::now() + Duration::from_millis(300),
            )
            .await;
        assert!(first.is_err(), "{first:?}");
        let second = client
            .reserve_all(vec![req], 1, Instant::now() + Duration::from_secs(5))
            .await;
        assert!(
            matches!(second.as_deref(), Ok([ReserveAllItem::Refused(_)])),
            "{second:?}"
        );
    }
}
