//! The metrics recorder every process installs (with the catalog of `metric_catalog`), and
//! HTTP metrics and per-tier timing shared by every server: request counts and latency
//! histograms by route and status in Prometheus text format, and a `Server-Timing` entry per
//! tier.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram, Label, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tower_http::classify::{SharedClassifier, StatusInRangeAsFailures};

use crate::metric_catalog::{self, Kind, HTTP_REQUESTS, HTTP_REQUEST_DURATION};

/// The `Server-Timing` header (not among `http`'s constants).
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// How often histogram samples are folded into their buckets when no scrape does it: samples
/// wait in a per-histogram queue until then, so without this a process nobody scrapes would
/// grow by 8 bytes per flush, apply and request.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A recorder as every process installs ([`metrics_handle`]): each histogram of the catalog
/// with its buckets, every metric described. Tests record into one of their own
/// (`metrics::with_local_recorder`) to see only what they recorded.
pub fn new_recorder() -> PrometheusRecorder {
    let mut builder = PrometheusBuilder::new();
    for metric in metric_catalog::ALL {
        if let Kind::Histogram(buckets) = metric.kind {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(metric.name.into()), buckets)
                .expect("every histogram of the catalog has buckets");
        }
    }
    let recorder = builder.build_recorder();
    // Described on this recorder itself: a description is kept only by the recorder current
    // when it is given, and this one is not global yet (or never).
    metrics::with_local_recorder(&recorder, metric_catalog::describe_all);
    recorder
}

/// The process-wide Prometheus recorder, installed on first use with every metric of
/// [`metric_catalog::ALL`] described, and its upkeep thread started.
///
/// # Panics
/// If another metrics recorder was installed in this process first, or the upkeep thread
/// cannot start.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = new_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("no other metrics recorder is installed");
        let upkeep = handle.clone();
        // Runs as long as the process: the recorder is never uninstalled.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            })
            .expect("the metrics upkeep thread starts");
        handle
    })
}

/// `GET /metrics`: every metric of this process in Prometheus text format.
pub async fn render_metrics() -> String {
    metrics_handle().render()
}

/// Counts and times one answer in `pygmy_http_requests_total` and
/// `pygmy_http_request_duration_seconds`, by method, route and status: what [`track_http`]
/// does, for answers given outside it (a shed request, a deadline passed).
pub fn record_request(method: String, route: String, status: u16, elapsed: Duration) {
    AnswerMetrics::new(method, route, status).record(elapsed);
}

/// The two series one kind of answer (method, route, status) is counted and timed in.
/// Registering them hashes and copies the labels: where one kind of answer is frequent, keep
/// this and call [`AnswerMetrics::record`].
#[derive(Clone)]
pub struct AnswerMetrics {
    count: Counter,
    latency: Histogram,
}

impl AnswerMetrics {
    /// The series of answers `status` to `method` on `route` (a route template).
    pub fn new(
        method: impl Into<SharedString>,
        route: impl Into<SharedString>,
        status: u16,
    ) -> Self {
        let labels = [
            Label::new("method", method),
            Label::new("route", route),
            Label::new("status", status.to_string()),
        ];
        Self {
            count: HTTP_REQUESTS.counter(&labels),
            latency: HTTP_REQUEST_DURATION.histogram(&labels),
        }
    }

    /// Counts one answer that took `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        self.count.increment(1);
        self.latency.record(elapsed.as_secs_f64());
    }
}

impl std::fmt::Debug for AnswerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerMetrics").finish_non_exhaustive()
    }
}

/// The `Server-Timing` entry `<tier>;dur=<ms>` of a step that took `elapsed`, in milliseconds
/// to the microsecond (integer arithmetic: this is on every answer's path).
pub fn timing_entry(tier: &str, elapsed: Duration) -> Option<HeaderValue> {
    let us = elapsed.as_micros();
    HeaderValue::from_str(&format!("{tier};dur={}.{:03}", us / 1000, us % 1000)).ok()
}

/// What a request's trace span logs as a failure (at ERROR): the statuses 500 to 502, a fault of
/// the process or of one it called. A 503 or 504 (no leader yet, a replica down, a deadline
/// passed) is what a replicated store answers while it fails over, dozens a second: counted by
/// [`track_http`] and shown in the metrics, not logged as errors.
pub fn trace_failures() -> SharedClassifier<StatusInRangeAsFailures> {
    StatusInRangeAsFailures::new(500..=502).into_make_classifier()
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
    if let Some(value) = timing_entry(tier, elapsed) {
        response.headers_mut().append(SERVER_TIMING, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_entries_are_milliseconds_to_the_microsecond() {
        for (elapsed, expected) in [
            (Duration::from_nanos(1_234_567), "frontend;dur=1.234"),
            (Duration::from_micros(7), "frontend;dur=0.007"),
            (Duration::from_secs(12), "frontend;dur=12000.000"),
        ] {
            let entry = timing_entry("frontend", elapsed).unwrap();
            assert_eq!(entry.to_str().unwrap(), expected);
        }
    }

    #[test]
    fn the_recorder_describes_every_metric_and_renders_histograms_with_buckets() {
        // Goal: what `metrics_handle` installs renders HELP for the catalog's metrics and
        // Prometheus histograms (not summaries) with the catalog's buckets. Method: the same
        // recorder, local to this test, so that other tests' metrics do not mix in.
        let recorder = new_recorder();
        metrics::with_local_recorder(&recorder, || {
            record_request("GET".into(), "/books".into(), 200, Duration::from_millis(3));
        });
        let text = recorder.handle().render();
        for expected in [
            "# HELP pygmy_http_requests_total Answers given",
            r#"pygmy_http_requests_total{method="GET",route="/books",status="200"} 1"#,
            "# TYPE pygmy_http_request_duration_seconds histogram",
            r#"pygmy_http_request_duration_seconds_bucket{method="GET",route="/books",status="200",le="0.0025"} 0"#,
            r#"pygmy_http_request_duration_seconds_bucket{method="GET",route="/books",status="200",le="0.005"} 1"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn the_trace_logs_500_to_502_as_failures_and_not_the_answers_of_a_failover() {
        // Goal: a 503 or 504 (no leader, a deadline) is not logged at ERROR by the request
        // trace; a 500, 501 or 502 still is, and so is nothing below 500.
        use tower_http::classify::{ClassifiedResponse, ClassifyResponse, MakeClassifier};
        let failed = |status: u16| {
            let classifier = trace_failures().make_classifier(&axum::http::Request::new(()));
            let response = axum::http::Response::builder()
                .status(status)
                .body(())
                .unwrap();
            match classifier.classify_response(&response) {
                ClassifiedResponse::Ready(outcome) => outcome.is_err(),
                ClassifiedResponse::RequiresEos(_) => panic!("a status is classified at once"),
            }
        };
        for status in [500, 501, 502] {
            assert!(failed(status), "{status}");
        }
        for status in [200, 201, 304, 404, 409, 429, 503, 504] {
            assert!(!failed(status), "{status}");
        }
    }
}
