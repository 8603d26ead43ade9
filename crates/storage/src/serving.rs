//! What every replica's HTTP server shares: its router around the service's routes, and its
//! life: serve until the shutdown signal, then stop background work, Raft and the Db in order.

use std::future::Future;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::Router;
use runtime::auth::require_token;
use runtime::entry::{listen, ReplicaArgs};
use runtime::telemetry::track_http;
use runtime::{Cluster, GroupName};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

use crate::error::{Error, Result};
use crate::identity;
use crate::machine::ServiceMachine;
use crate::peer_routes::peer_router;
use crate::replica::Replica;
use crate::spec::ReplicaSpec;

/// A replica process before its service starts: its configuration, its spec and its bound
/// address.
#[derive(Debug)]
pub struct BoundReplica {
    /// The whole cluster configuration (the service takes its own settings from it).
    pub cluster: Cluster,
    /// What the replica needs to start.
    pub spec: ReplicaSpec,
    /// Its address, bound.
    pub listener: TcpListener,
    /// The span its whole life runs in.
    pub span: tracing::Span,
}

/// Loads the configuration `args` name and binds replica `args.id` of `group`: what every
/// replica process does first. With `--bootstrap` (a new cluster) the replica may create its
/// directory, recording the id of `<data_dir>/cluster_id` (created if missing); with `--join`
/// (a replica added by `pygmy member add`) it may create it to join a running group; otherwise
/// an empty or missing directory is refused when it starts.
///
/// # Errors
/// Invalid configuration or tokens file, no such replica, or its address in use.
pub async fn bind_replica(group: GroupName, args: &ReplicaArgs) -> Result<BoundReplica> {
    let cluster = args.cluster()?;
    if args.bootstrap {
        identity::ensure_id_file(&cluster.data_dir)?;
    }
    let mut spec = ReplicaSpec::of(&cluster, group, args.id, args.addr.as_deref())?;
    spec.bootstrap = args.bootstrap;
    spec.join = args.join;
    let listener = listen(spec.addr()).await?;
    let span = tracing::info_span!("replica", group = group.as_str(), replica_id = args.id);
    Ok(BoundReplica {
        cluster,
        spec,
        listener,
        span,
    })
}

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
        .layer(TraceLayer::new(runtime::telemetry::trace_failures()))
}

/// Serves `app` on `listener` until `shutdown` resolves or the replica retires (draining
/// requests), then cancels `cancel`, waits for `tasks`, and shuts `replica` down (Raft stopped,
/// Db flushed).
///
/// # Errors
/// [`runtime::Error::Serve`]: serving failed; [`Error::Retired`]: the group removed the replica.
/// The replica is shut down either way.
pub async fn serve_replica<M: ServiceMachine>(
    replica: &Replica<M>,
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cancel: CancellationToken,
    tasks: TaskTracker,
) -> Result<()> {
    tracing::info!(addr = replica.spec().addr(), "serving");
    let retiring = replica.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = retiring.retired() => {}
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    replica.shutdown().await;
    tracing::info!("stopped");
    served.map_err(runtime::Error::Serve)?;
    match replica.retirement() {
        Some(reason) => Err(Error::Retired { reason }),
        None => Ok(()),
    }
}
