//! The life of a replica process's HTTP server, the same for every service: serve until the
//! shutdown signal, then stop background work, Raft and the Db in that order.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::machine::ServiceMachine;
use crate::replica::Replica;

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
