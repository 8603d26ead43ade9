//! The Pygmy order log and the exactly-once buy protocol, replicated by a Raft group.
//!
//! Layout:
//! - [`command`]: the replicated commands (one file each); [`machine`] plugs them into `storage`.
//! - [`buy`]: the buy protocol run by the leader; [`unfinished`] the buys it has not seen end,
//!   which [`resolver`] finishes (with those a crashed leader left held at the catalog);
//!   `pending_gauge` counts them in `/metrics`; [`completions`] commits their orders in batches.
//! - [`catalog_client`]: reserve and confirm at the catalog group, by buy key, at the members
//!   its leader names; [`confirmations`] batches the confirmations of committed orders.
//! - [`routes`]: the HTTP API (buy, orders); [`state`] the shared handle.
//! - [`config`], [`error`].
//! - [`inspect`]: offline inspection of an order replica, and its checks against the catalog's
//!   reservations (`pygmy inspect`).

pub mod buy;
pub mod catalog_client;
pub mod command;
pub mod completions;
pub mod config;
pub mod confirmations;
pub mod error;
pub mod inspect;
pub mod machine;
mod pending_gauge;
pub mod reservations;
mod resolver;
pub mod routes;
pub mod state;
#[cfg(test)]
mod testutil;
pub mod unfinished;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use runtime::entry::{ReplicaArgs, Shutdown};
use runtime::GroupName;
use storage::serving::{bind_replica, replica_router, serve_replica};
use storage::Replica;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::catalog_client::{CatalogClient, CatalogDirs};
use crate::completions::Completions;
use crate::confirmations::Confirmations;
use crate::reservations::Reservations;
use crate::unfinished::UnfinishedBuys;
pub use command::{OrderCommand, OrderResponse};
pub use config::OrderConfig;
pub use error::{Error, Result};
pub use machine::OrderMachine;
pub use state::AppState;

/// The order routes: the service's routes inside the shared replica router.
pub fn router(state: AppState) -> Router {
    let replica = state.replica.clone();
    let routes = Router::new()
        .route("/buy", post(routes::buy::buy))
        .route(api::BUY_ALL_PATH, post(routes::buy::buy_all))
        .route("/orders", get(routes::orders::list))
        .route("/orders/{number}", get(routes::orders::get))
        .route("/pending", get(routes::orders::pending))
        .with_state(state);
    replica_router(routes, &replica, "orders")
}

/// Runs order replica `config` on `listener` until `shutdown` resolves, then stops cleanly.
///
/// # Errors
/// The replica cannot start (directory locked or damaged, Raft refused) or serving failed.
pub async fn serve(
    config: OrderConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let replica = Replica::<OrderMachine>::start(config.replica.clone()).await?;
    let token = config.replica.cluster_token.clone();
    let (resolved_tx, resolved_rx) = watch::channel(0);
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let dirs = CatalogDirs {
        replica_dir: config.replica.data_dir.clone(),
        data_dir: config.data_dir,
    };
    let catalog = Arc::new(CatalogClient::with_dirs(config.catalog, token, dirs));
    let (confirmations, sender) = Confirmations::new(
        Arc::clone(&catalog),
        confirmations::LINGER,
        cancel.child_token(),
    );
    tasks.spawn(sender.in_current_span());
    let (completions, sender) =
        Completions::new(replica.clone(), confirmations.clone(), cancel.child_token());
    tasks.spawn(sender.in_current_span());
    let leading = {
        let replica = replica.clone();
        move || {
            let leadership = replica.leadership();
            leadership.is_leader.then_some(leadership.term)
        }
    };
    let (reservations, sender) =
        Reservations::new(Arc::clone(&catalog), leading, cancel.child_token());
    tasks.spawn(sender.in_current_span());
    let follow = Arc::clone(&catalog).follow_members(cancel.child_token());
    tasks.spawn(follow.in_current_span());
    let state = AppState {
        replica: replica.clone(),
        catalog,
        reservations,
        confirmations,
        completions,
        unfinished: UnfinishedBuys::default(),
        resolved_term: resolved_rx,
        http: runtime::internal_http::client_builder()
            .build()
            .expect("reqwest client builds with static settings"),
    };
    tasks.spawn(resolver::run(state.clone(), resolved_tx, cancel.child_token()).in_current_span());
    let gauge = pending_gauge::run(
        replica.clone(),
        state.unfinished.clone(),
        cancel.child_token(),
    );
    tasks.spawn(gauge.in_current_span());
    let app = router(state);
    Ok(serve_replica(&replica, app, listener, shutdown, cancel, tasks).await?)
}

/// Runs replica `args.id` of the order group until `shutdown` resolves: what `order-svc` and `pygmy
/// serve order` both run (see [`storage::serving::bind_replica`]).
///
/// # Errors
/// Invalid configuration, address in use, or as [`serve`].
pub async fn run(args: ReplicaArgs, shutdown: Shutdown) -> Result<()> {
    let bound = bind_replica(GroupName::Orders, &args).await?;
    let config = OrderConfig::new(&bound.cluster, bound.spec);
    serve(config, bound.listener, shutdown)
        .instrument(bound.span)
        .await
}
