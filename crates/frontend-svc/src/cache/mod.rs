//! The frontend's read cache (DESIGN.md section 6): a tower layer around the catalog read
//! routes, backed by a bounded moka cache, kept coherent by the catalog leader.
//!
//! - `key`: what an answer is filed under and the catalog slot it shows.
//! - `coherence`: whether an entry may be served or a value cached (leases, notices, floors).
//! - `lease`: the task that keeps the lease renewed; `stats`: counters and metrics.
//! - [`front`]: the service in front of the router that answers hits before routing.
//!
//! An answer is cached with the catalog index it was read at (from its `ETag`); it is served
//! only while [`coherence::Coherence::may_serve`] says so, whatever moka still holds.

mod coherence;
pub mod front;
mod key;
mod lease;
mod stats;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use api::coherence::{parse_etag, CacheNotice, LeaseGrant};
use api::CacheView;
use axum::body::HttpBody as _;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, ETAG};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures::future::BoxFuture;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use tokio::time::Instant;
use tower::{Layer, Service};

use coherence::{Coherence, Invalidate, Refusal};
use key::CacheKey;
use stats::CacheStats;

pub(crate) use lease::hold_lease;

/// Header telling whether an answer came from the cache (`hit`) or a replica (`miss`).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-pygmy-cache");

/// Largest answer body cached, in bytes; larger answers are served uncached.
pub const ENTRY_BYTES_MAX: u64 = 64 * 1024;
/// Bytes an entry is charged beyond its key and body: moka's node and deque links, the `Arc`,
/// the content type. An estimate on the high side, so the weighted size bounds real memory.
pub const ENTRY_OVERHEAD_BYTES: u64 = 256;

/// One cached answer.
#[derive(Debug)]
struct CachedAnswer {
    /// Catalog log index it was read at.
    index: u64,
    /// Cache epoch it was read in.
    epoch: u64,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl CachedAnswer {
    /// What this answer filed under `key` costs in memory, estimated.
    fn weight_bytes(&self, key: &CacheKey) -> u64 {
        let content_type = self.content_type.as_ref().map_or(0, HeaderValue::len);
        let owned = key.heap_bytes() + self.body.len() + content_type;
        u64::try_from(owned)
            .unwrap_or(u64::MAX)
            .saturating_add(ENTRY_OVERHEAD_BYTES)
    }

    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        let headers = response.headers_mut();
        if let Some(ct) = &self.content_type {
            headers.insert(CONTENT_TYPE, ct.clone());
        }
        if let Ok(etag) = HeaderValue::from_str(&api::coherence::etag(self.index)) {
            headers.insert(ETAG, etag);
        }
        headers.insert(X_CACHE, HeaderValue::from_static("hit"));
        response
    }
}

/// The cache of one frontend: entries, coherence state and counters.
#[derive(Debug)]
pub struct ReadCache {
    entries: Cache<CacheKey, Arc<CachedAnswer>>,
    coherence: Coherence,
    stats: Arc<CacheStats>,
    capacity: u64,
    capacity_bytes: u64,
    /// This frontend process, as the catalog leader knows it.
    frontend: String,
}

impl ReadCache {
    /// An empty cache of at most `capacity` entries and the default
    /// [`crate::config::CACHE_CAPACITY_BYTES`], holding no lease.
    pub fn new(capacity: u64) -> Self {
        Self::bounded(capacity, crate::config::CACHE_CAPACITY_BYTES)
    }

    /// An empty cache of at most `capacity` entries and `capacity_bytes` bytes, holding no lease.
    ///
    /// One weighted bound enforces both: an entry weighs its key, body and
    /// [`ENTRY_OVERHEAD_BYTES`], but at least `capacity_bytes / capacity`, so no more than
    /// `capacity` entries ever fit.
    pub fn bounded(capacity: u64, capacity_bytes: u64) -> Self {
        let stats = Arc::new(CacheStats::default());
        let counted = Arc::clone(&stats);
        let weight_min = (capacity_bytes / capacity.max(1)).max(1);
        let entries = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(move |key: &CacheKey, answer: &Arc<CachedAnswer>| -> u32 {
                let weight = answer.weight_bytes(key).max(weight_min);
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |_key, _value, cause| match cause {
                RemovalCause::Size => counted.evictions.add(1),
                RemovalCause::Explicit => counted.invalidations.add(1),
                RemovalCause::Replaced | RemovalCause::Expired => {}
            })
            .build();
        Self {
            entries,
            coherence: Coherence::default(),
            stats,
            capacity,
            capacity_bytes,
            frontend: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Whether a lease from the catalog leader is held now (hits may be served).
    pub(crate) fn lease_held(&self) -> bool {
        self.coherence.lease_held()
    }

    /// The cached answer of `key`, if there is one and it may be served now; counted as a hit.
    async fn serve(&self, key: &CacheKey) -> Option<Response> {
        let entry = self.entries.get(key).await?;
        let servable = self
            .coherence
            .may_serve(&key.slot(), entry.index, entry.epoch);
        servable.then(|| {
            self.stats.hits.add(1);
            entry.response()
        })
    }

    /// The answer of the cacheable read `GET uri` from the cache, and its route, if it is
    /// cached and may be served now (see [`front`]).
    pub(crate) async fn serve_read(&self, uri: &Uri) -> Option<(&'static str, Response)> {
        let key = CacheKey::of(&Method::GET, uri)?;
        let hit = self.serve(&key).await?;
        Some((key.route(), hit))
    }

    /// Offers `response`, read from a replica by a request that began in `epoch`, to the cache;
    /// gives it back to be sent (re-assembled if its body was read).
    async fn fill(&self, key: CacheKey, epoch: u64, response: Response) -> Response {
        let index = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_etag);
        let small = response
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n <= ENTRY_BYTES_MAX);
        let (Some(index), true, StatusCode::OK) = (index, small, response.status()) else {
            return response;
        };
        match self.coherence.may_insert(&key.slot(), index, epoch) {
            Ok(()) => {}
            Err(Refusal::Stale) => {
                self.stats.refused_stale_inserts.add(1);
                return response;
            }
            Err(Refusal::NoLease) => return response,
        }
        let (parts, body) = response.into_parts();
        let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
            return Response::from_parts(parts, Body::empty());
        };
        let answer = Arc::new(CachedAnswer {
            index,
            epoch,
            content_type: parts.headers.get(CONTENT_TYPE).cloned(),
            body: body.clone(),
        });
        // Versioned insert: never replace a value read later in the same epoch.
        self.entries
            .entry(key)
            .and_compute_with(|current| {
                let newer = current.is_none_or(|c| {
                    let c = c.value();
                    (c.epoch, c.index) < (answer.epoch, answer.index)
                });
                std::future::ready(if newer { Op::Put(answer) } else { Op::Nop })
            })
            .await;
        Response::from_parts(parts, Body::from(body))
    }

    /// Applies a notice of the catalog leader; the highest catalog term this frontend knows.
    pub async fn apply_notice(&self, notice: &CacheNotice) -> u64 {
        let (term, invalidate) = self.coherence.apply_notice(notice);
        self.invalidate(invalidate).await;
        term
    }

    /// Applies a lease grant answering a request sent at `sent`.
    pub async fn apply_grant(&self, grant: &LeaseGrant, sent: Instant) {
        let invalidate = self.coherence.apply_grant(grant, sent);
        self.invalidate(invalidate).await;
    }

    async fn invalidate(&self, invalidate: Invalidate) {
        match invalidate {
            Invalidate::Nothing => {}
            Invalidate::All => self.entries.invalidate_all(),
            Invalidate::Slots(slots) => {
                if slots.contains(&api::coherence::Slot::Everything) {
                    self.entries.invalidate_all();
                    return;
                }
                for key in slots.iter().flat_map(CacheKey::showing) {
                    self.entries.invalidate(&key).await;
                }
            }
        }
    }

    /// The cache's weighted size in bytes (after moka's pending housekeeping) and its bound.
    pub async fn weighted_bytes(&self) -> (u64, u64) {
        self.entries.run_pending_tasks().await;
        (self.entries.weighted_size(), self.capacity_bytes)
    }

    /// Counters and lease state, for `/cluster` (and the gauges of `/metrics`), after moka's
    /// pending housekeeping so that the entry count is current.
    pub async fn view(&self) -> CacheView {
        self.entries.run_pending_tasks().await;
        let (term, session) = self.coherence.registration();
        let lease_held = self.coherence.lease_held();
        let entries = self.entries.entry_count();
        stats::record_lease(lease_held);
        stats::record_entries(entries);
        stats::record_weighted_bytes(self.entries.weighted_size());
        CacheView {
            capacity: self.capacity,
            entries,
            hits: self.stats.hits.get(),
            misses: self.stats.misses.get(),
            invalidations: self.stats.invalidations.get(),
            evictions: self.stats.evictions.get(),
            refused_stale_inserts: self.stats.refused_stale_inserts.get(),
            lease_held,
            term,
            session,
        }
    }
}

/// Layer putting a [`ReadCache`] in front of read routes.
#[derive(Debug, Clone)]
pub struct CacheLayer {
    cache: Arc<ReadCache>,
}

impl CacheLayer {
    /// A layer serving from and filling `cache`.
    pub fn new(cache: Arc<ReadCache>) -> Self {
        Self { cache }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            cache: Arc::clone(&self.cache),
        }
    }
}

/// The service of [`CacheLayer`]: hits answered here, misses passed on and offered back.
#[derive(Debug, Clone)]
pub struct CacheService<S> {
    inner: S,
    cache: Arc<ReadCache>,
}

impl<S> Service<Request> for CacheService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The polled (ready) service goes into the future; a fresh clone stays for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cache = Arc::clone(&self.cache);
        Box::pin(async move {
            let Some(key) = CacheKey::of(req.method(), req.uri()) else {
                return inner.call(req).await;
            };
            if let Some(hit) = cache.serve(&key).await {
                return Ok(hit);
            }
            cache.stats.misses.add(1);
            let epoch = cache.coherence.epoch();
            let response = inner.call(req).await?;
            let mut response = cache.fill(key, epoch, response).await;
            response
                .headers_mut()
                .insert(X_CACHE, HeaderValue::from_static("miss"));
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests;
