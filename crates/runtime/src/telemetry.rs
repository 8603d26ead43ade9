//! HTTP metrics and per-tier timing shared by every server: request counts and latency histograms
//! by route and status in Prometheus text format, and a `Server-Timing` entry per tier.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The `Server-Timing` header (not among `http`'s constants).
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Buckets of `http_request_duration_seconds`, from 100 µs to 10 s.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use.
///
/// # Panics
/// If another metrics recorder was installed in this process first.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS_SECONDS,
            )
            .expect("bucket list is not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// `GET /metrics`: every metric of this process in Prometheus text format.
pub async fn render_metrics() -> String {
    metrics_handle().render()
}

/// Counts and times one answer in `http_requests_total` and `http_request_duration_seconds`,
/// by method, route and status: what [`track_http`] does, for answers given outside it (a
/// shed request, a deadline passed).
pub fn record_request(method: String, route: String, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// Middleware (`route_layer`, so the matched route is known): counts and times each request by
/// method, route and status, and appends `<tier>;dur=<ms>` to its `Server-Timing` header.
pub async fn track_http(State(tier): State<&'static str>, req: Request, next: Next) -> Response {
    let _ = metrics_handle();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let mut response = next.run(req).await;
    let elapsed = started.elapsed();
    record_request(method, route, response.status().as_u16(), elapsed);
    let entry = format!("{tier};dur={:.3}", elapsed.as_secs_f64() * 1000.0);
    if let Ok(value) = HeaderValue::from_str(&entry) {
        response.headers_mut().append(SERVER_TIMING, value);
    }
    response
}
