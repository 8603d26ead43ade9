//! The front over fake replicas: a hit answered before routing carries what the stack adds,
//! is served while the stack is full, and every other request still takes the stack.

use std::sync::Arc;

use api::coherence::LeaseGrant;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use tokio::time::Instant;

use crate::cache::key::CacheKey;
use crate::cache::ReadCache;
use crate::testutil::{get_req, send, Answer, Harness};

/// A lease of a day at catalog index 5, the index the fake's reads are tagged with.
async fn leased(h: &Harness) -> Arc<ReadCache> {
    let cache = Arc::clone(h.state.cache.as_ref().expect("the default config caches"));
    h.catalog.fake.set_read_index(5);
    let grant = LeaseGrant {
        term: 1,
        session: 1,
        lease_ms: 86_400_000,
        applied_index: 5,
        in_flight: Vec::new(),
        next_seq: 1,
    };
    cache.apply_grant(&grant, Instant::now()).await;
    cache
}

fn served_by(answer: &Answer) -> &str {
    answer.header("x-pygmy-cache").unwrap_or("none")
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_hit_answered_in_front_carries_what_the_stack_adds_and_is_counted() {
    // Goal: a hit has the miss's body, type and ETag, the client's request id (or a new one),
    // one `Server-Timing` entry of the frontend, and is counted as a hit and in the traffic
    // of `/ui`; the replica saw one read.
    let h = Harness::start().await;
    let cache = leased(&h).await;
    let miss = send(&h.app, get_req("/books/1")).await;
    assert_eq!((miss.status, served_by(&miss)), (StatusCode::OK, "miss"));
    let traffic_before = h.state.ui.traffic.recorded();
    let hit = send(&h.app, get_with("/books/1", &[("x-request-id", "given-7")])).await;
    assert_eq!((hit.status, served_by(&hit)), (StatusCode::OK, "hit"));
    assert_eq!(hit.body, miss.body);
    for header in ["content-type", "etag"] {
        assert_eq!(hit.header(header), miss.header(header), "{header}");
    }
    assert_eq!(hit.header("x-request-id"), Some("given-7"));
    let timing = hit.server_timing();
    assert!(
        timing.starts_with("frontend;dur=") && !timing.contains(','),
        "{timing}"
    );
    let anonymous = send(&h.app, get_req("/books/1")).await;
    assert_eq!(served_by(&anonymous), "hit");
    let id = anonymous.header("x-request-id").expect("a request id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(h.state.ui.traffic.recorded(), traffic_before + 2);
    assert_eq!(cache.view().await.hits, 2);
    assert_eq!(h.catalog.fake.seen("/books/1").len(), 1);
}

#[tokio::test]
async fn hits_are_served_while_the_stack_is_full_and_other_requests_take_the_stack() {
    // Goal: with the one slot of the concurrency limit held by a slow miss, a hit is still
    // answered, while a miss is shed (429); once the slot is free, a conditional GET gets the
    // stack's 304, a HEAD its empty 200, and an oversized head the stack's 431, all on a
    // cached book.
    let h = Harness::start_with(|config| {
        config.inflight_requests_max = 1;
        config.headers_bytes_max = 1024;
    })
    .await;
    leased(&h).await;
    assert_eq!(served_by(&send(&h.app, get_req("/books/1")).await), "miss");
    h.catalog.fake.hold_reads();
    let slow = tokio::spawn({
        let app = h.app.clone();
        async move { send(&app, get_req("/books/2")).await }
    });
    h.catalog.fake.entered.notified().await;
    let hit = send(&h.app, get_req("/books/1")).await;
    assert_eq!((hit.status, served_by(&hit)), (StatusCode::OK, "hit"));
    let shed = send(&h.app, get_req("/books/3")).await;
    assert_eq!(shed.status, StatusCode::TOO_MANY_REQUESTS);
    h.catalog.fake.release.notify_one();
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.text());

    let etag = hit.header("etag").unwrap().to_string();
    let conditional = send(&h.app, get_with("/books/1", &[("if-none-match", &etag)])).await;
    assert_eq!(conditional.status, StatusCode::NOT_MODIFIED);
    assert!(conditional.body.is_empty());
    // Not cached: read from the replica, whose hold stays on; let that one read through.
    h.catalog.fake.release.notify_one();
    let head = Request::head("/books/1").body(Body::empty()).unwrap();
    let head = send(&h.app, head).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    let big = "x".repeat(2048);
    let oversized = send(&h.app, get_with("/books/1", &[("x-padding", &big)])).await;
    assert_eq!(
        oversized.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(oversized.error_code(), "headers_too_large");
}

#[test]
fn every_route_a_hit_is_counted_under_is_a_route_of_the_api() {
    // Goal: a hit's `/metrics` series has the route label a miss of the same read gets from
    // axum's matched path: the templates registered, as `/openapi.json` lists them.
    let api = crate::openapi();
    for route in CacheKey::ROUTES {
        assert!(api.paths.paths.contains_key(route), "{route}");
    }
}
