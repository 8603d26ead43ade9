//! What one public request carries into its backend calls: its request id (forwarded to the
//! replicas as `x-request-id`) and the `Server-Timing` entries of the replicas' answers (copied
//! onto the public answer by the `server_timing` middleware of `layers.rs`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use runtime::telemetry::SERVER_TIMING;

/// The request id header, set by the stack (`layers.rs`) and forwarded to replicas.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Backend `Server-Timing` entries kept per request; a request touches a few replicas, so more
/// means a bug or a hostile replica, and the rest are dropped.
const TIER_TIMINGS_MAX: usize = 32;

/// The `Server-Timing` values of the backend answers one request used.
#[derive(Debug, Clone, Default)]
pub(crate) struct TierTimings(Arc<Mutex<Vec<HeaderValue>>>);

impl TierTimings {
    /// Keeps every `Server-Timing` value of a backend answer's headers.
    pub(crate) fn record(&self, headers: &HeaderMap) {
        // A std mutex: held for a push, never across an await.
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for value in headers.get_all(SERVER_TIMING) {
            if entries.len() < TIER_TIMINGS_MAX {
                entries.push(value.clone());
            }
        }
    }

    /// Adds `other`'s entries (a batch's tier times, to each request in the batch).
    pub(crate) fn extend(&self, other: &TierTimings) {
        let added = other.entries();
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = TIER_TIMINGS_MAX.saturating_sub(entries.len());
        entries.extend(added.into_iter().take(room));
    }

    /// The values recorded so far.
    pub(crate) fn entries(&self) -> Vec<HeaderValue> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The catalog log index a request's catalog read was served at (0: none yet).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadIndex(Arc<AtomicU64>);

impl ReadIndex {
    /// Keeps the `x-pygmy-read-index` of a backend answer's headers, if it has one.
    pub(crate) fn record(&self, headers: &HeaderMap) {
        let index = headers
            .get(api::coherence::X_READ_INDEX)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(index) = index {
            self.0.store(index, Ordering::Relaxed);
        }
    }

    /// The index recorded, if any.
    pub(crate) fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|i| *i > 0)
    }
}

/// Extractor: the request id and the timing collector of the current request.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestContext {
    /// `x-request-id` of the public request, if set.
    pub(crate) request_id: Option<HeaderValue>,
    /// Where backend `Server-Timing` entries go.
    pub(crate) timings: TierTimings,
    /// The index the request's catalog read was served at (its `ETag`).
    pub(crate) read_index: ReadIndex,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            request_id: parts.headers.get(X_REQUEST_ID).cloned(),
            // Outside the stack (a bare handler test) the entries are simply not copied.
            timings: parts
                .extensions
                .get::<TierTimings>()
                .cloned()
                .unwrap_or_default(),
            read_index: ReadIndex::default(),
        })
    }
}
