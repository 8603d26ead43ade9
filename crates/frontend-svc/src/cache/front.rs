//! The frontend's outermost service: a cache hit is answered before routing.
//!
//! Through the router, a hit paid for the whole tower stack (request span, deadline timer,
//! intake, the concurrency limit, the timing and metrics middleware, a clone of each route's
//! stack) around a lookup that is a small part of it: 9 of the 17 us of CPU a cached lookup
//! cost the process (#13). Here a plain `GET` of a cacheable read (no body, no
//! `If-None-Match`, a head within the intake limits) is looked up first, and a servable entry
//! is answered at once, with what the stack would have added: the request id, the frontend's
//! `Server-Timing` entry, its count in `/metrics` and in the traffic of `/ui`. Every other
//! request, misses included, goes to the router as it came.
//!
//! A hit holds no slot of the concurrency limit and is never shed: it costs less than the
//! refusal would.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Bytes, HttpBody};
use axum::http::header::IF_NONE_MATCH;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::{BoxError, Router};
use futures::future::BoxFuture;
use runtime::telemetry::{timing_entry, AnswerMetrics, SERVER_TIMING};
use tower::{Service, ServiceExt};
use tower_http::request_id::{MakeRequestId, MakeRequestUuid};

use super::key::CacheKey;
use super::ReadCache;
use crate::context::X_REQUEST_ID;
use crate::intake::{check_head, IntakeLimits};
use crate::ui::Recorders;

/// The router, behind a look into the cache (none with `--no-cache`).
#[derive(Debug, Clone)]
pub struct CacheFront {
    router: Router,
    hits: Option<Arc<HitAnswers>>,
}

/// What answering a hit needs.
#[derive(Debug)]
struct HitAnswers {
    cache: Arc<ReadCache>,
    limits: IntakeLimits,
    recorders: Arc<Recorders>,
    /// The series of a `200` on each cacheable route, registered once.
    metrics: Vec<(&'static str, AnswerMetrics)>,
}

impl CacheFront {
    /// `router`, with hits of `cache` answered in front of it (the same `limits` and
    /// `recorders` as its stack).
    pub(crate) fn new(
        router: Router,
        cache: Option<Arc<ReadCache>>,
        limits: IntakeLimits,
        recorders: Arc<Recorders>,
    ) -> Self {
        let hits = cache.map(|cache| {
            let metrics = CacheKey::ROUTES
                .into_iter()
                .map(|route| (route, AnswerMetrics::new("GET", route, 200)))
                .collect();
            Arc::new(HitAnswers {
                cache,
                limits,
                recorders,
                metrics,
            })
        });
        Self { router, hits }
    }
}

impl HitAnswers {
    /// Whether `req` could be a hit answered here: anything the stack would refuse, read a
    /// body of, or answer otherwise (`304`, `HEAD`) goes to the router.
    fn may_answer<B: HttpBody>(&self, req: &Request<B>) -> bool {
        req.method() == Method::GET
            && req.body().size_hint().exact() == Some(0)
            && !req.headers().contains_key(IF_NONE_MATCH)
            && check_head(&self.limits, req).is_ok()
    }

    /// Adds to `hit`, answering `req` on `route` since `started`, what the router's stack
    /// adds to an answer, and counts it where the stack would.
    fn stamp<B>(&self, req: &Request<B>, route: &str, hit: &mut Response, started: Instant) {
        // As `SetRequestIdLayer` and `PropagateRequestIdLayer` do: the client's id, else one.
        let request_id = match req.headers().get(X_REQUEST_ID) {
            Some(id) => Some(id.clone()),
            None => MakeRequestUuid
                .make_request_id(req)
                .map(|id| id.header_value().clone()),
        };
        let elapsed = started.elapsed();
        let headers = hit.headers_mut();
        if let Some(id) = request_id {
            headers.insert(X_REQUEST_ID, id);
        }
        if let Some(entry) = timing_entry(crate::TIER, elapsed) {
            headers.append(SERVER_TIMING, entry);
        }
        if let Some((_, metrics)) = self.metrics.iter().find(|(r, _)| *r == route) {
            metrics.record(elapsed);
        }
        self.recorders
            .traffic
            .record(hit.status().as_u16(), elapsed);
    }
}

impl<B> Service<Request<B>> for CacheFront
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready; each request gets its own clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let router = self.router.clone();
        let Some(hits) = self.hits.clone().filter(|h| h.may_answer(&req)) else {
            return Box::pin(router.oneshot(req));
        };
        Box::pin(async move {
            let started = Instant::now();
            match hits.cache.serve_read(req.uri()).await {
                Some((route, mut hit)) => {
                    hits.stamp(&req, route, &mut hit, started);
                    Ok(hit)
                }
                None => router.oneshot(req).await,
            }
        })
    }
}

#[cfg(test)]
mod tests;
