//! The cache through the frontend's router, over fake replicas: hits only under a lease,
//! notices, the stale-insert race made deterministic, and the bound on entries.

use std::convert::Infallible;
use std::sync::Arc;

use api::coherence::{CacheNotice, LeaseGrant, Slot, WriteId, WriteNotice};
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, ETAG};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::{CacheLayer, ReadCache};
use crate::testutil::{get_req, send, Answer, Harness};

fn grant(applied_index: u64) -> LeaseGrant {
    LeaseGrant {
        term: 1,
        session: 1,
        // A day: a slow run (the million-key test under load) must not outlive its lease.
        lease_ms: 86_400_000,
        applied_index,
        in_flight: Vec::new(),
        next_seq: 1,
    }
}

fn write_on_book_1(seq: u64) -> WriteNotice {
    WriteNotice {
        write: WriteId { term: 1, seq },
        slots: vec![Slot::Book(1), Slot::AllBooks, Slot::Topic("ds".into())],
    }
}

fn cache_of(h: &Harness) -> Arc<ReadCache> {
    Arc::clone(
        h.state
            .cache
            .as_ref()
            .expect("the default config has a cache"),
    )
}

fn served_by(answer: &Answer) -> &str {
    answer.header("x-pygmy-cache").unwrap_or("none")
}

#[tokio::test]
async fn hits_need_a_lease_and_stop_while_a_write_is_in_flight() {
    // Goal: no lease, no hit; under a lease the second read hits; a Begin turns hits off for
    // the written book (and its lists) until Done, after which a fresh read is cached again.
    let h = Harness::start().await;
    let cache = cache_of(&h);
    h.catalog.fake.set_read_index(5);
    for _ in 0..2 {
        assert_eq!(served_by(&send(&h.app, get_req("/books/1")).await), "miss");
    }
    cache.apply_grant(&grant(5), Instant::now()).await;
    assert_eq!(served_by(&send(&h.app, get_req("/books/1")).await), "miss");
    let hit = send(&h.app, get_req("/books/1")).await;
    assert_eq!(
        (served_by(&hit), hit.header("etag")),
        ("hit", Some("\"c5\""))
    );
    assert_eq!(served_by(&send(&h.app, get_req("/books/2")).await), "miss");
    cache
        .apply_notice(&CacheNotice::Begin(write_on_book_1(1)))
        .await;
    assert_eq!(served_by(&send(&h.app, get_req("/books/1")).await), "miss");
    assert_eq!(
        served_by(&send(&h.app, get_req("/books/2")).await),
        "hit",
        "another book"
    );
    h.catalog.fake.set_stock(1, 4);
    h.catalog.fake.set_read_index(6);
    let done = CacheNotice::Done {
        notice: write_on_book_1(1),
        index: 6,
    };
    cache.apply_notice(&done).await;
    let fresh = send(&h.app, get_req("/books/1")).await;
    assert_eq!(
        (served_by(&fresh), fresh.json()["stock"].as_u64()),
        ("miss", Some(4))
    );
    let hit = send(&h.app, get_req("/books/1")).await;
    assert_eq!(
        (served_by(&hit), hit.json()["stock"].as_u64()),
        ("hit", Some(4))
    );
    let view = cache.view().await;
    // The read of book 1 while its write was in flight was not cached.
    assert_eq!((view.hits, view.refused_stale_inserts), (3, 1));
    assert!(view.invalidations >= 1, "{view:?}");
}

#[tokio::test]
async fn a_miss_that_read_before_a_write_is_never_cached_after_its_notices() {
    // Goal: the stale-insert race, made deterministic by holding the replica's answer. A miss
    // reads book 1 at index 5; meanwhile a write begins and is done at index 6; the miss then
    // returns its (old) value: it is answered but refused by the cache, and the next read
    // fetches the new stock instead of a stale hit.
    let h = Harness::start().await;
    let cache = cache_of(&h);
    cache.apply_grant(&grant(5), Instant::now()).await;
    h.catalog.fake.set_read_index(5);
    h.catalog.fake.hold_reads();
    let slow_miss = tokio::spawn({
        let app = h.app.clone();
        async move { send(&app, get_req("/lookup?item=1")).await }
    });
    h.catalog.fake.entered.notified().await;
    cache
        .apply_notice(&CacheNotice::Begin(write_on_book_1(1)))
        .await;
    h.catalog.fake.set_stock(1, 4);
    h.catalog.fake.set_read_index(6);
    let done = CacheNotice::Done {
        notice: write_on_book_1(1),
        index: 6,
    };
    cache.apply_notice(&done).await;
    h.catalog.fake.release.notify_one();
    let old = slow_miss.await.unwrap();
    assert_eq!(
        old.json()["books"][0]["stock"].as_u64(),
        Some(5),
        "read before the write"
    );
    assert_eq!(cache.view().await.refused_stale_inserts, 1);
    h.catalog.fake.release.notify_one(); // the hold stays on: let the next read through
    let next = send(&h.app, get_req("/lookup?item=1")).await;
    assert_eq!(
        (served_by(&next), next.json()["books"][0]["stock"].as_u64()),
        ("miss", Some(4))
    );
}

#[tokio::test]
async fn a_new_session_drops_every_entry() {
    // Goal: a grant of a new session (notices may have been missed) empties the cache.
    let h = Harness::start().await;
    let cache = cache_of(&h);
    cache.apply_grant(&grant(5), Instant::now()).await;
    h.catalog.fake.set_read_index(5);
    send(&h.app, get_req("/books?topic=ds")).await;
    assert_eq!(
        served_by(&send(&h.app, get_req("/books?topic=ds")).await),
        "hit"
    );
    let mut next = grant(5);
    next.session = 2;
    cache.apply_grant(&next, Instant::now()).await;
    assert_eq!(
        served_by(&send(&h.app, get_req("/books?topic=ds")).await),
        "miss"
    );
}

#[tokio::test]
async fn if_none_match_of_the_current_etag_is_304_from_cache_and_replica() {
    let h = Harness::start().await;
    h.catalog.fake.set_read_index(9);
    let conditional = || {
        Request::get("/books/1")
            .header("if-none-match", "\"c9\"")
            .body(Body::empty())
            .unwrap()
    };
    let uncached = send(&h.app, conditional()).await;
    assert_eq!(
        (uncached.status, uncached.body.len()),
        (StatusCode::NOT_MODIFIED, 0)
    );
    cache_of(&h).apply_grant(&grant(9), Instant::now()).await;
    send(&h.app, get_req("/books/1")).await;
    let cached = send(&h.app, conditional()).await;
    assert_eq!(
        (cached.status, served_by(&cached)),
        (StatusCode::NOT_MODIFIED, "hit")
    );
    h.catalog.fake.set_read_index(10);
    let stale_tag = Request::get("/books/2")
        .header("if-none-match", "\"c9\"")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, stale_tag).await.status, StatusCode::OK);
}

/// Resident set size of this process, in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Held by each test that measures the process's resident set, so that no other such test
/// allocates into its measurement (the tests of one binary run in parallel threads).
static RESIDENT_SET_MEASURED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_million_distinct_keys_leave_the_cache_at_its_capacity() {
    // Goal: the entry count never passes the configured capacity, however many distinct keys
    // are asked for, and memory stays bounded: past a warm-up, 800k more keys add little to the
    // resident set (an unbounded cache would grow by hundreds of MiB).
    const CAPACITY: u64 = 1_000;
    const KEYS: u64 = 1_000_000;
    const WARM_UP: u64 = 200_000;
    let _measuring = RESIDENT_SET_MEASURED.lock().await;
    let cache = Arc::new(ReadCache::new(CAPACITY));
    // A lease that outlasts the test: a debug build on a busy machine takes over a minute
    // here, and past a 60 s lease nothing more is inserted (nor evicted).
    let mut long_lease = grant(7);
    long_lease.lease_ms = 3_600_000;
    cache.apply_grant(&long_lease, Instant::now()).await;
    let replica = tower::service_fn(|_req: Request| async {
        let mut response = Response::new(Body::from(r#"{"books":[]}"#));
        let headers = response.headers_mut();
        headers.insert(ETAG, "\"c7\"".parse().unwrap());
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let mut service = CacheLayer::new(Arc::clone(&cache)).layer(replica);
    let mut rss_warm = 0;
    for i in 0..KEYS {
        if i == WARM_UP {
            cache.entries.run_pending_tasks().await;
            rss_warm = rss_bytes();
        }
        let req = get_req(&format!("/books?topic=t{i}"));
        let response = service.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if i % 100_000 == 0 {
            cache.entries.run_pending_tasks().await;
            assert!(cache.entries.entry_count() <= CAPACITY);
        }
    }
    let view = cache.view().await;
    let grown = rss_bytes().saturating_sub(rss_warm);
    eprintln!(
        "{KEYS} keys: {view:?}, resident set grew {} KiB",
        grown / 1024
    );
    assert!(view.entries <= CAPACITY, "{view:?}");
    assert_eq!(view.misses, KEYS);
    assert!(view.evictions >= KEYS - CAPACITY * 2, "{view:?}");
    assert!(grown < 32 << 20, "resident set grew {grown} bytes");
}

#[tokio::test]
async fn many_unique_large_answers_keep_the_cache_under_its_byte_bound() {
    // Goal: issue #11 item 7: 12,000 unique 60 KB topics grew the frontend by 660 MB because
    // the cache was bounded by entries only. With the longest topic the frontend takes and
    // answers just under ENTRY_BYTES_MAX, the weighted size stays under its byte bound (the
    // entry bound alone would allow 10,000 x 60 KB = 600 MB), and the resident set with it.
    const CAPACITY: u64 = 10_000;
    const CAPACITY_BYTES: u64 = 2 << 20;
    const KEYS: usize = 4_000;
    const BODY_BYTES: usize = 60_000;
    let _measuring = RESIDENT_SET_MEASURED.lock().await;
    let cache = Arc::new(ReadCache::bounded(CAPACITY, CAPACITY_BYTES));
    cache.apply_grant(&grant(7), Instant::now()).await;
    let replica = tower::service_fn(|_req: Request| async {
        // A fresh allocation per answer, as a replica's answer would be.
        let mut response = Response::new(Body::from(vec![b'x'; BODY_BYTES]));
        response
            .headers_mut()
            .insert(ETAG, "\"c7\"".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let mut service = CacheLayer::new(Arc::clone(&cache)).layer(replica);
    let rss_before = rss_bytes();
    let padding = "t".repeat(api::book::TOPIC_BYTES_MAX - 8);
    let mut weighted_max = 0;
    for i in 0..KEYS {
        let req = get_req(&format!("/books?topic={padding}{i:08}"));
        let response = service.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if i % 500 == 499 {
            let (weighted, bound) = cache.weighted_bytes().await;
            assert!(weighted <= bound, "{weighted} > {bound} after {i} keys");
            weighted_max = weighted_max.max(weighted);
        }
    }
    let (weighted, bound) = cache.weighted_bytes().await;
    let grown = rss_bytes().saturating_sub(rss_before);
    let view = cache.view().await;
    eprintln!(
        "{KEYS} keys of {BODY_BYTES} B: {} entries, {weighted} of {bound} weighted bytes \
         (max seen {weighted_max}), resident set grew {} KiB",
        view.entries,
        grown / 1024
    );
    assert!(weighted <= bound && view.entries > 0, "{view:?}");
    // Each entry weighs over 60 KB, so about 2 MiB / 60 KB of them fit.
    assert!(
        view.entries <= CAPACITY_BYTES / BODY_BYTES as u64,
        "{view:?}"
    );
    // Generous: the unbounded cache held 240 MB here.
    assert!(grown < 64 << 20, "resident set grew {grown} bytes");
}
