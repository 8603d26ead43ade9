//! The cost of a cache hit inside the frontend, with no socket: through the `CacheLayer` alone,
//! through the whole public router (tower stack, routing, conditional GET, cache), and through
//! the service `serve` runs (the cache's front, which answers a hit before routing).
//! `cargo bench -p frontend-svc --bench cache_hit`.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use api::coherence::{LeaseGrant, X_READ_INDEX};
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, ETAG};
use axum::response::Response;
use criterion::{criterion_group, criterion_main, Criterion};
use frontend_svc::cache::{CacheLayer, ReadCache};
use frontend_svc::{app, router, AppState, FrontendConfig};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

const BOOK: &str = r#"{"id":1,"title":"How to get a good grade in 677 in 20 minutes a day","topic":"ds","cost":100,"stock":5}"#;

/// A lease that outlasts the benchmark.
fn long_lease() -> LeaseGrant {
    LeaseGrant {
        term: 1,
        session: 1,
        lease_ms: 3_600_000,
        applied_index: 7,
        in_flight: Vec::new(),
        next_seq: 1,
    }
}

fn get(uri: &str) -> Request {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn layer_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Arc::new(ReadCache::new(10_000));
    let replica = tower::service_fn(|_req: Request| async {
        let mut response = Response::new(Body::from(BOOK));
        response
            .headers_mut()
            .insert(ETAG, "\"c7\"".parse().unwrap());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, "application/json".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let service = CacheLayer::new(Arc::clone(&cache)).layer(replica);
    rt.block_on(async {
        cache.apply_grant(&long_lease(), Instant::now()).await;
        service.clone().oneshot(get("/books/1")).await.unwrap();
    });
    c.bench_function("cache_layer_hit", |b| {
        b.to_async(&rt).iter(|| {
            let mut service = service.clone();
            async move {
                let response = service.ready().await.unwrap().call(get("/books/1")).await;
                assert_eq!(response.unwrap().headers()["x-pygmy-cache"], "hit");
            }
        });
    });
}

fn router_hit(c: &mut Criterion) {
    stack_hit(c, "frontend_router_hit", router);
}

fn app_hit(c: &mut Criterion) {
    stack_hit(c, "frontend_app_hit", app);
}

/// A hit through `build(state)`, named `name`.
fn stack_hit<S>(c: &mut Criterion, name: &str, build: fn(AppState) -> S)
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A stand-in catalog replica on loopback: it answers the first (missing) read only.
    let catalog = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let replica = axum::Router::new().route(
            "/books/{id}",
            axum::routing::get(|| async {
                (
                    [("content-type", "application/json"), (X_READ_INDEX, "7")],
                    BOOK,
                )
            }),
        );
        tokio::spawn(async move { axum::serve(listener, replica).await });
        addr
    });
    let replicas = vec![catalog];
    let config = FrontendConfig::new("127.0.0.1:0", replicas.clone(), replicas, "c", "a");
    let state = AppState::new(config).unwrap();
    let cache = state.cache().expect("the default config caches");
    let app = build(state);
    rt.block_on(async {
        cache.apply_grant(&long_lease(), Instant::now()).await;
        let first = app.clone().oneshot(get("/books/1")).await.unwrap();
        assert_eq!(first.headers()["x-pygmy-cache"], "miss");
    });
    c.bench_function(name, |b| {
        b.to_async(&rt).iter(|| {
            let app = app.clone();
            async move {
                let response = app.oneshot(get("/books/1")).await.unwrap();
                assert_eq!(response.headers()["x-pygmy-cache"], "hit");
            }
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = layer_hit, router_hit, app_hit
}
criterion_main!(benches);
