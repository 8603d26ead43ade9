//! The Pygmy catalog: books, stock and reservations, replicated by a Raft group.
//!
//! Layout:
//! - [`command`]: the replicated commands (one file each) and their answers; [`machine`] plugs
//!   them into the `storage` runtime.
//! - [`routes`]: the HTTP API (books, reservations, admin, timed restocks, status); [`state`]
//!   the shared handle; [`reads`] the reads of books they and the cache fence share.
//! - [`coherence`]: the leader's side of the frontends' cache coherence (leases, notices).
//! - `restock`: the leader's timed restocks (`[catalog.restock]`), proposed through the log.
//! - [`config`], [`catalog_file`]: configuration and the initial books; `bootstrap` seeds them.
//! - [`error`]: the service's errors and their HTTP form.
//! - [`inspect`]: offline inspection of a catalog replica (`pygmy inspect`); [`restore`] the
//!   repair `pygmy restore` makes to a backed-up catalog.

mod bootstrap;
pub mod catalog_file;
pub mod coherence;
pub mod command;
pub mod config;
pub mod error;
pub mod inspect;
pub mod machine;
pub mod reads;
mod restock;
pub mod restore;
pub mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use runtime::entry::{ReplicaArgs, Shutdown};
use runtime::GroupName;
use storage::serving::{bind_replica, replica_router, serve_replica};
use storage::{Replica, WriteFence};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use coherence::CacheFence;
pub use command::{CatalogCommand, CatalogResponse};
pub use config::CatalogConfig;
pub use error::{Error, Result};
pub use machine::CatalogMachine;
pub use state::AppState;

/// The catalog routes: the service's routes inside the shared replica router.
pub fn router(state: AppState) -> Router {
    let replica = state.replica.clone();
    let routes = Router::new()
        .route("/books", get(routes::books::list))
        .route("/books/{id}", get(routes::books::get))
        .route(
            api::FENCE_ORDERS_PATH,
            post(routes::reservations::fence_orders),
        )
        .route(
            api::RESERVE_ALL_PATH,
            post(routes::reservations::reserve_all),
        )
        .route(
            api::CONFIRM_ALL_PATH,
            post(routes::reservations::confirm_all),
        )
        .route("/admin/books/{id}", post(routes::admin::update_book))
        .route("/restocks", get(routes::restocks::list))
        .route(api::coherence::LEASE_PATH, post(routes::lease::lease))
        .with_state(state);
    replica_router(routes, &replica, "catalog")
}

/// Runs catalog replica `config` on `listener` until `shutdown` resolves, then stops cleanly.
///
/// # Errors
/// The replica cannot start (directory locked or damaged, Raft refused) or serving failed.
pub async fn serve(
    config: CatalogConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let fence = config
        .cache_lease
        .map(|lease| CacheFence::new(lease, &config.replica.cluster_token));
    let as_fence = fence
        .clone()
        .map(|f| Arc::new(f) as Arc<dyn WriteFence<CatalogMachine>>);
    let replica = Replica::<CatalogMachine>::start_fenced(config.replica.clone(), as_fence).await?;
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(
        bootstrap::seed_catalog(replica.clone(), config.books, cancel.child_token())
            .in_current_span(),
    );
    if let Some(policy) = config.restock {
        tracing::info!(
            every_s = policy.every.as_secs(),
            below = policy.below,
            to = policy.to,
            "timed restocks on"
        );
        tasks.spawn(
            restock::run_restocks(replica.clone(), policy, cancel.child_token()).in_current_span(),
        );
    }
    let app = router(AppState {
        replica: replica.clone(),
        fence,
    });
    Ok(serve_replica(&replica, app, listener, shutdown, cancel, tasks).await?)
}

/// Runs replica `args.id` of the catalog group until `shutdown` resolves: what `catalog-svc` and `pygmy
/// serve catalog` both run (see [`storage::serving::bind_replica`]).
///
/// # Errors
/// Invalid configuration, address in use, or as [`serve`].
pub async fn run(args: ReplicaArgs, shutdown: Shutdown) -> Result<()> {
    let bound = bind_replica(GroupName::Catalog, &args).await?;
    let config = CatalogConfig::new(&bound.cluster, bound.spec)?;
    serve(config, bound.listener, shutdown)
        .instrument(bound.span)
        .await
}
