//! `GET /metrics`: this process's metrics in Prometheus text format.

/// Request counts and latencies by route and status, cache and connection figures.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format",
               body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics() -> String {
    runtime::telemetry::render_metrics().await
}
