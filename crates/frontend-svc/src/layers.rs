//! The tower stack around every route, in one function (outermost first): request id, trace
//! span, request id echoed on the answer, `Server-Timing` (and the count in `/metrics` of every
//! answer `track_http` did not see), intake (head limits, the body read under its own
//! deadline), error answers of the layers below, request deadline, body limit, load shedding
//! over a global concurrency limit.
//!
//! The stack goes on with `Router::layer`, which wraps each route after routing, so the span
//! knows the matched path; the concurrency limit is therefore a *global* one (one semaphore
//! shared by every route's copy of the stack).

use std::sync::Arc;
use std::time::Instant;

use api::{ApiError, ErrorCode};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{BoxError, Router};
use runtime::telemetry::SERVER_TIMING;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::config::FrontendConfig;
use crate::context::{TierTimings, X_REQUEST_ID};
use crate::intake::{read_request, IntakeLimits};
use crate::ui::{Recorders, PAGE_ROUTES};
use runtime::throttle::LogThrottle;

/// Wraps every route of `router` (fallbacks included) in the frontend's stack.
pub(crate) fn apply_stack(
    router: Router,
    config: &FrontendConfig,
    recorders: Arc<Recorders>,
) -> Router {
    let stack = ServiceBuilder::new()
        // Set outside the trace layer so that the request span can carry it.
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new(runtime::telemetry::trace_failures()).make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(middleware::from_fn_with_state(recorders, server_timing))
        // Before the shedder and the deadline: a slow body holds no slot and eats no deadline.
        .layer(middleware::from_fn_with_state(
            IntakeLimits::of(config),
            read_request,
        ))
        .layer(HandleErrorLayer::new(stack_error))
        .layer(TimeoutLayer::new(config.request_timeout))
        .layer(DefaultBodyLimit::max(config.body_bytes_max))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(
            config.inflight_requests_max,
        ));
    router.layer(stack)
}

/// `request{method, matched_path, request_id}`.
fn request_span(req: &Request) -> Span {
    let matched_path = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    tracing::info_span!("request", method = %req.method(), matched_path, request_id)
}

/// Gives the request a collector for the replicas' `Server-Timing` entries and copies them
/// onto the answer, after the frontend's own entry. When `track_http` did not run (a shed
/// request, a passed deadline, a refused head or body), the entry is added here and the answer
/// is counted in `/metrics` here, so that every answer is counted once, by route. Every answer
/// passes here once, so here it is also counted for the chart of `/ui` (but for the page's
/// own requests).
async fn server_timing(
    State(recorders): State<Arc<Recorders>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let timings = TierTimings::default();
    req.extensions_mut().insert(timings.clone());
    // Cheap to clone (an `Arc` for the path); made into label strings only when counted here.
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    if !PAGE_ROUTES.contains(&route) {
        recorders.traffic.record(status, started.elapsed());
    }
    let headers = response.headers_mut();
    let timed = headers
        .get_all(SERVER_TIMING)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"frontend;"));
    if !timed {
        let elapsed = started.elapsed();
        runtime::telemetry::record_request(method.to_string(), route.to_string(), status, elapsed);
        if let Some(value) = runtime::telemetry::timing_entry(crate::TIER, elapsed) {
            headers.append(SERVER_TIMING, value);
        }
    }
    for entry in timings.entries() {
        headers.append(SERVER_TIMING, entry);
    }
    response
}

/// The answer when a layer fails the request: 503 `timeout` past the request deadline, 429
/// `overloaded` when shed (both with `Retry-After`). Their warnings are throttled: a flood of
/// them is one line per second each, with the count held back.
async fn stack_error(error: BoxError) -> ApiError {
    static DEADLINE_LOG: LogThrottle = LogThrottle::new();
    static SHED_LOG: LogThrottle = LogThrottle::new();
    if error.is::<tower::timeout::error::Elapsed>() {
        if let Some(held_back) = DEADLINE_LOG.admit() {
            tracing::warn!(held_back, "request deadline passed");
        }
        return ApiError::new(
            ErrorCode::Timeout,
            "the request did not finish in time; a buy may still apply, and retrying it with the same Idempotency-Key is safe",
        );
    }
    if error.is::<tower::load_shed::error::Overloaded>() {
        if let Some(held_back) = SHED_LOG.admit() {
            tracing::warn!(held_back, "too many requests in flight; shed one");
        }
        return ApiError::new(
            ErrorCode::Overloaded,
            "too many requests in flight; retry later",
        );
    }
    tracing::error!(error = %error, "middleware failed");
    ApiError::new(ErrorCode::Internal, "internal error")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;

    use crate::testutil::{config, get_req, post_json, send, Answer, Harness};

    fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
        assert_eq!(
            (answer.status, answer.error_code()),
            (status, code.to_string())
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(
            answer.server_timing().contains("frontend;dur="),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn routing_and_body_errors_are_json() {
        // Goal: unknown routes, wrong methods, wrong content types, malformed and oversized
        // bodies all get the JSON error body, with the frontend's Server-Timing.
        let h = Harness::start().await;
        assert_error(
            &send(&h.app, get_req("/nope")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let delete = Request::delete("/books").body(Body::empty()).unwrap();
        assert_error(
            &send(&h.app, delete).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        for uri in ["/orders", "/admin/books/1"] {
            let answer = send(&h.app, get_req(uri)).await;
            assert_error(
                &answer,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            );
        }
        let text = Request::post("/orders")
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap();
        assert_error(
            &send(&h.app, text).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        let garbled = post_json("/orders", "{not json", &[]);
        assert_error(
            &send(&h.app, garbled).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
        let huge = format!(r#"{{"item": 1, "pad": "{}"}}"#, "x".repeat(20 * 1024));
        let answer = send(&h.app, post_json("/orders", &huge, &[])).await;
        assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert!(h.orders.fake.seen("/buy").is_empty());
    }

    #[tokio::test]
    async fn a_client_request_id_is_kept_echoed_and_forwarded() {
        // Goal: an incoming x-request-id is not replaced; the replica sees the same one.
        let h = Harness::start().await;
        let req = Request::get("/books/1")
            .header("x-request-id", "abc-123")
            .body(Body::empty())
            .unwrap();
        let answer = send(&h.app, req).await;
        assert_eq!(answer.header("x-request-id"), Some("abc-123"));
        assert_eq!(
            h.catalog.fake.seen("/books/1")[0].request_id.as_deref(),
            Some("abc-123")
        );
    }

    #[tokio::test]
    async fn requests_beyond_the_inflight_limit_are_shed_with_429() {
        // Goal: with one request in flight and a limit of one, the next is refused at once
        // with 429 overloaded and Retry-After, and the first still completes; the probes
        // (`/health`, `/ready`) sit outside the shedder and still answer (#10).
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.inflight_requests_max = 1;
        let app = crate::router(crate::AppState::new(config).unwrap());
        h.catalog.fake.hold_reads();
        let first = tokio::spawn({
            let app = app.clone();
            async move { send(&app, get_req("/books")).await }
        });
        h.catalog.fake.entered.notified().await;
        let shed = send(&app, get_req("/orders/1")).await;
        assert_error(&shed, StatusCode::TOO_MANY_REQUESTS, "overloaded");
        assert_eq!(shed.header("retry-after"), Some("1"));
        assert_eq!(send(&app, get_req("/health")).await.status, StatusCode::OK);
        let ready = send(&app, get_req("/ready")).await;
        assert_eq!(ready.json()["service"], "frontend", "{:?}", ready.body);
        h.catalog.fake.release.notify_one();
        assert_eq!(first.await.unwrap().status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_503_timeout() {
        // Goal: the request deadline answers 503 timeout (JSON, Retry-After), not an empty 408.
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.request_timeout = Duration::from_millis(100);
        let app = crate::router(crate::AppState::new(config).unwrap());
        h.catalog.fake.hold_reads();
        let answer = send(&app, get_req("/search?topic=ds")).await;
        assert_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "timeout");
        assert_eq!(answer.header("retry-after"), Some("1"));
        // Issue #11 item 8: the deadline's 503 is counted by route like any other answer.
        let metrics = send(&app, get_req("/metrics")).await.text().to_string();
        let series = r#"pygmy_http_requests_total{method="GET",route="/search",status="503"}"#;
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }

    /// A `tracing` writer into a shared buffer, to count the lines a test logs.
    #[derive(Clone, Default)]
    struct CapturedLog(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for CapturedLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl CapturedLog {
        fn lines_containing(&self, needle: &str) -> usize {
            let text = String::from_utf8_lossy(&self.0.lock().unwrap()).to_string();
            text.lines().filter(|l| l.contains(needle)).count()
        }
    }

    #[tokio::test]
    async fn a_shedding_burst_is_counted_by_route_and_logged_once_a_second() {
        // Goal: issue #11 item 8: 137k shed answers left no status="429" series in /metrics
        // and wrote one warning each. Method: with one request held in flight and a limit of
        // one, a burst of 2000 requests on two routes is shed; /metrics then has a 429 series
        // for each route, and the log has at most one "shed one" line per second of the burst
        // (plus one), not one per request.
        const BURST: usize = 2_000;
        let log = CapturedLog::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.inflight_requests_max = 1;
        let app = crate::router(crate::AppState::new(config).unwrap());
        h.catalog.fake.hold_reads();
        let held = tokio::spawn({
            let app = app.clone();
            async move { send(&app, get_req("/books")).await }
        });
        h.catalog.fake.entered.notified().await;
        let started = Instant::now();
        for i in 0..BURST {
            let uri = if i % 2 == 0 {
                "/orders/1"
            } else {
                "/buy?item=1"
            };
            let answer = send(&app, get_req(uri)).await;
            assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{uri}");
        }
        let seconds = started.elapsed().as_secs();
        h.catalog.fake.release.notify_one();
        assert_eq!(held.await.unwrap().status, StatusCode::OK);
        let metrics = send(&app, get_req("/metrics")).await.text().to_string();
        for route in ["/orders/{number}", "/buy"] {
            let series = format!(
                r#"pygmy_http_requests_total{{method="GET",route="{route}",status="429"}}"#
            );
            assert!(
                metrics.contains(&series),
                "{series} missing from\n{metrics}"
            );
        }
        let lines = log.lines_containing("shed one");
        let lines_max = usize::try_from(seconds).unwrap() + 1;
        eprintln!("{BURST} shed in {seconds} s: {lines} log lines");
        assert!(
            lines <= lines_max,
            "{lines} lines for {BURST} shed requests"
        );
        assert!(
            h.orders.fake.seen("/buy").is_empty(),
            "a shed buy is not sent on"
        );
    }
}
