//! What every replica's HTTP server shares: its router around the service's routes, and its
//! life: serve until the shutdown signal, then stop background work, Raft and the Db in order.

use std::future::Future;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::machine::ServiceMachine;
use crate::peer_routes::{peer_router, require_token};
use crate::replica::Replica;
use crate::telemetry::track_http;

/// A replica's whole router: the service's own `routes` behind the cluster token, the JSON
/// 404/405 fallbacks, the peer routes (Raft, `/status`, `/health`, `/metrics`), request metrics
/// and `Server-Timing` under `tier`, and a trace span per request.
pub fn replica_router<M: ServiceMachine>(
    routes: Router,
    replica: &Replica<M>,
    tier: &'static str,
) -> Router {
    let token: Arc<str> = replica.spec().cluster_token.as_str().into();
    routes
        .route_layer(from_fn_with_state(token, require_token))
        .fallback(api::server::route_not_found)
        .method_not_allowed_fallback(api::server::method_not_allowed)
        .merge(peer_router(replica.clone()))
        .route_layer(from_fn_with_state(tier, track_http))
        .layer(TraceLayer::new_for_http())
}

/// Serves `app` on `listener` until `shutdown` resolves (draining requests), then cancels
/// `cancel`, waits for `tasks`, and shuts `replica` down (Raft stopped, Db flushed).
///
/// # Errors
/// Serving failed; the replica is still shut down.
pub async fn serve_replica<M: ServiceMachine>(
    replica: &Replica<M>,
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cancel: CancellationToken,
    tasks: TaskTracker,
) -> std::io::Result<()> {
    tracing::info!(addr = replica.spec().addr(), "serving");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    replica.shutdown().await;
    tracing::info!("stopped");
    served
}
