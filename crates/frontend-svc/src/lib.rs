//! The Pygmy frontend: the public HTTP API of the store (DESIGN.md §4). It holds no data; it
//! routes each request to the catalog or order group over HTTP and answers with `api` types.
//!
//! Layout:
//! - [`config`]: [`FrontendConfig`] and the documented limits; [`error`]: errors, HTTP form.
//! - `state`: [`AppState`], the handle routes receive, with the backend operations.
//! - `pool`: the replicas of a group (its members, as its leader last told), their health and
//!   the order requests try them in; `probe`: the task that polls every replica's `/status`
//!   and, every few waves, each group's membership; `backend`: the shared HTTP client, answer
//!   classification, rounds with capped backoff under a deadline; `buy_queue`: buys sent to
//!   the order leader in batches.
//! - `routes`: books, orders, admin, legacy (Flask-compatible), cluster, health.
//! - `connections`: the accept loop (connection bound, header-read timeout, graceful drain);
//!   `intake`: head size checks and the body read under its own deadline, before the shedder.
//! - `layers`: the tower stack; `context`: request id and `Server-Timing` of one request.
//! - `cache`: the coherent read cache around the catalog reads, and its front ([`app`]) that
//!   answers hits before routing; `conditional`: `304`s.
//! - `ui`: the live cluster page at `/ui` and its JSON, with the recorders feeding it.
//!
//! Invariants: a buy is resent only with the same key; a write without a key (a restock) is
//! resent only when it surely was not taken; every backend call has a deadline.

mod backend;
mod buy_queue;
pub mod cache;
mod conditional;
pub mod config;
mod connections;
mod context;
pub mod error;
mod intake;
mod layers;
mod openapi;
mod pool;
mod probe;
mod routes;
mod state;
#[cfg(test)]
mod testutil;
mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use api::coherence::NOTICE_PATH;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use axum::{Extension, Router};
use runtime::auth::require_token;
use runtime::entry::{listen, FrontendArgs, Shutdown};
use runtime::telemetry::track_http;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::cache::front::CacheFront;
use crate::cache::{CacheLayer, ReadCache};
use crate::routes::{admin, books, cache_notice, cluster, health, legacy, metrics, orders};

pub use config::FrontendConfig;
pub use error::{Error, Result};
pub use state::AppState;

/// The tier name of the frontend in metrics and `Server-Timing`.
const TIER: &str = "frontend";

/// The public routes, wrapped in the frontend's tower stack; `/health` and `/ready`, and (with a
/// cache) the internal notice route, outside the load shedder, so that a busy frontend still
/// answers its probes and never delays a write. Every public route is registered with its
/// OpenAPI operation (`routes!`), so the router and `/openapi.json` list the same routes.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let admin_token: Arc<str> = config.admin_token.as_str().into();
    let (public, probes, description) = public_routes(state.cache.as_ref(), admin_token);
    let rendered = openapi::Rendered::of(&description);
    let public = public
        // Before the route layer, so that 405 answers are counted and timed too.
        .method_not_allowed_fallback(api::server::method_not_allowed)
        .route_layer(from_fn_with_state(TIER, track_http))
        .fallback(api::server::route_not_found.layer(from_fn_with_state(TIER, track_http)))
        .layer(Extension(rendered))
        .with_state(state.clone());
    let public = layers::apply_stack(public, &config, Arc::clone(&state.ui));
    // Probes answer from local state, outside the shedder and the deadline: a busy frontend
    // is alive, and says whether it is ready.
    let probes = probes
        .route_layer(from_fn_with_state(TIER, track_http))
        .with_state(state.clone());
    let public = public.merge(probes);
    match state.cache.clone() {
        Some(cache) => {
            let cluster_token: Arc<str> = config.cluster_token.as_str().into();
            let internal = Router::new()
                .route(NOTICE_PATH, post(cache_notice::notice))
                .route_layer(from_fn_with_state(cluster_token, require_token))
                .route_layer(from_fn_with_state(TIER, track_http))
                .with_state(cache);
            public.merge(internal)
        }
        None => public,
    }
}

/// The whole frontend service: [`router`], behind the look into the cache that answers hits
/// before routing ([`cache::front`]).
pub fn app(state: AppState) -> CacheFront {
    let limits = intake::IntakeLimits::of(&state.config);
    let (cache, recorders) = (state.cache.clone(), Arc::clone(&state.ui));
    CacheFront::new(router(state), cache, limits, recorders)
}

/// The public API's OpenAPI description, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    public_routes(None, "".into()).2
}

/// The public routes (inside the stack), the probes (outside it) and their description.
fn public_routes(
    cache: Option<&Arc<ReadCache>>,
    admin_token: Arc<str>,
) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    // Every catalog read: conditional GET outside, the cache (if any) inside.
    let read = |(schemas, mut paths, handler): UtoipaMethodRouter<AppState>| {
        openapi::describe_catalog_read(&mut paths);
        let handler = match cache {
            Some(cache) => handler.layer(CacheLayer::new(Arc::clone(cache))),
            None => handler,
        };
        let handler = handler.layer(axum::middleware::from_fn(conditional::conditional_get));
        (schemas, paths, handler)
    };
    let (schemas, paths, update_book) = routes!(admin::update_book);
    let update_book = (
        schemas,
        paths,
        update_book.route_layer(from_fn_with_state(admin_token, require_token)),
    );
    let (schemas, paths, buy) = routes!(legacy::buy);
    // axum answers HEAD with the GET handler; a HEAD must never buy (issue #11 item 4).
    let buy = (schemas, paths, buy.head(api::server::method_not_allowed));
    let (public, public_api) = OpenApiRouter::with_openapi(openapi::head())
        .routes(read(routes!(books::list)))
        .routes(read(routes!(books::get)))
        .routes(routes!(orders::create))
        .routes(routes!(orders::get))
        .routes(update_book)
        .routes(read(routes!(legacy::search)))
        .routes(read(routes!(legacy::lookup)))
        .routes(buy)
        .routes(routes!(cluster::cluster))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::document))
        .routes(routes!(ui::page))
        .routes(routes!(ui::state))
        .split_for_parts();
    let (probes, probes_api) = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .split_for_parts();
    let mut openapi = public_api;
    openapi.merge(probes_api);
    (public, probes, openapi::finish(openapi))
}

/// Serves the frontend for `config` on `listener` until `shutdown` resolves, with the health
/// probes running in the background; then drains requests and stops the probes. Connections
/// are bounded and timed out as [`FrontendConfig`] says (`connections_max`,
/// `header_read_timeout`).
///
/// # Errors
/// [`Error::Config`] if `config` is invalid, or serving failed.
pub async fn serve(
    config: FrontendConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    config.validate()?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the frontend's listening address: {e}")))?;
    // Checked before anything starts: a cache whose notices cannot arrive must not run.
    let notice_base = match config.cache_capacity {
        Some(_) => notice_base(local, config.advertise_addr.as_deref())?,
        None => String::new(),
    };
    // Installed before the probes record their first gauge, not on the first request.
    runtime::telemetry::metrics_handle();
    let state = AppState::new(config)?;
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(probe::run_probes(state.clone(), cancel.child_token()).in_current_span());
    if let Some(cache) = &state.cache {
        let lease = cache::hold_lease(
            state.clone(),
            Arc::clone(cache),
            notice_base,
            state.config.cache_lease,
            cancel.child_token(),
        );
        tasks.spawn(lease.in_current_span());
    }
    tracing::info!(addr = %local, "serving");
    let config = Arc::clone(&state.config);
    connections::serve_connections(listener, app(state), &config, shutdown).await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!("stopped");
    Ok(())
}

/// The base URL the catalog leader sends cache notices to: `advertise` if given, else the
/// listener's own address `local`, which must then name a host (not `0.0.0.0` or `::`).
fn notice_base(local: SocketAddr, advertise: Option<&str>) -> Result<String> {
    if let Some(advertise) = advertise {
        return Ok(format!("http://{advertise}"));
    }
    if local.ip().is_unspecified() {
        return Err(Error::Config(format!(
            "the frontend listens on {local}, which the catalog leader cannot send cache notices \
             to: give the address it reaches this frontend at with --advertise HOST:PORT or \
             [frontend] advertise (or run with --no-cache)"
        )));
    }
    Ok(format!("http://{local}"))
}

/// Binds the frontend's address and serves until `shutdown` resolves: what `frontend-svc` and
/// `pygmy serve frontend` both run.
///
/// # Errors
/// Invalid configuration (an empty token names `PYGMY_CLUSTER_TOKEN` or `PYGMY_ADMIN_TOKEN`),
/// address in use, or as [`serve`].
pub async fn run(args: FrontendArgs, shutdown: Shutdown) -> Result<()> {
    let config = FrontendConfig::from_cluster(&args.cluster()?)?;
    connections::raise_descriptor_limit();
    let listener = listen(&config.listen_addr).await?;
    serve(config, listener, shutdown)
        .instrument(tracing::info_span!("frontend"))
        .await
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tokio::sync::oneshot;

    use super::*;
    use crate::testutil::{config, get_req, send, Harness};

    #[tokio::test]
    async fn health_and_metrics_count_every_route_including_unmatched_ones() {
        // Goal: /health is live; /metrics is Prometheus text counting requests by route and
        // the frontend's backend attempts.
        let h = Harness::start().await;
        let health = send(&h.app, get_req("/health")).await;
        assert_eq!(
            (health.status, health.json()["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        send(&h.app, get_req("/books/1")).await;
        send(&h.app, get_req("/no-such-route")).await;
        let metrics = send(&h.app, get_req("/metrics")).await;
        assert_eq!(metrics.status, StatusCode::OK);
        let text = metrics.text();
        for expected in [
            r#"pygmy_http_requests_total{method="GET",route="/books/{id}",status="200"}"#,
            r#"pygmy_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            "pygmy_http_request_duration_seconds_bucket",
            r#"pygmy_frontend_backend_attempts_total{group="catalog",outcome="success"}"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[tokio::test]
    async fn serve_answers_on_a_real_socket_and_stops_on_shutdown() {
        // Goal: serve() on port 0 answers with a generated request id and both tiers' timing,
        // runs its probes, and returns Ok once the shutdown future resolves.
        let h = Harness::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        let server = tokio::spawn(serve(config, listener, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = client
            .get(format!("http://{addr}/books/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let request_id = answer.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
        let timing: Vec<&str> = answer
            .headers()
            .get_all("server-timing")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            timing[0].starts_with("frontend;dur=") && timing[1] == "catalog;dur=1.250",
            "{timing:?}"
        );
        drop(answer);
        drop(client);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn serve_refuses_a_config_without_tokens() {
        // Goal: an empty admin token stops the frontend before it serves, naming the variable.
        let mut config = config(&["127.0.0.1:1"], &["127.0.0.1:2"]);
        config.admin_token.clear();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = serve(config, listener, std::future::pending())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("PYGMY_ADMIN_TOKEN"), "{error}");
    }

    #[test]
    fn notices_go_to_the_advertised_address_and_a_wildcard_needs_one() {
        // Goal: the cache notice URL is the advertised address when one is given, else the
        // listener's; a listener on 0.0.0.0 without one is refused with a message naming the
        // flag (the leader could never reach "0.0.0.0").
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(notice_base(local, None).unwrap(), "http://127.0.0.1:8080");
        let wildcard: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let error = notice_base(wildcard, None).unwrap_err().to_string();
        assert!(error.contains("--advertise"), "{error}");
        assert_eq!(
            notice_base(wildcard, Some("frontend-1:8080")).unwrap(),
            "http://frontend-1:8080"
        );
    }

    #[tokio::test]
    async fn run_names_the_address_in_use() {
        // Goal: a frontend address already taken is a clear error, not a panic.
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        let text =
            format!("cluster_token = \"cluster-token-0123\"\nadmin_token = \"admin-token-012345\"\n[frontend]\naddr = \"{addr}\"\n");
        std::fs::write(&path, text).unwrap();
        let args = FrontendArgs {
            addr: None,
            advertise: None,
            no_cache: false,
            config: runtime::entry::ConfigArgs {
                config: Some(path),
                data: Some(dir.path().to_path_buf()),
            },
        };
        let error = run(args, Box::pin(std::future::pending()))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("cannot listen on") && message.contains(&addr.to_string()),
            "{message}"
        );
    }
}
