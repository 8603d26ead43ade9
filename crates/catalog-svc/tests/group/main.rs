//! The catalog group as real processes: elections, replication, SIGKILL crashes and restarts,
//! catch-up by log and by snapshot, exactly-once reservations, bad input.
//!
//! Every test starts its own 3-replica group of `catalog-svc` on fresh loopback ports and
//! kills it at the end (the harness's guards kill on drop, panics included).

mod metrics;

use std::path::Path;
use std::time::{Duration, Instant};

use api::{
    Book, BookList, ErrorBody, ErrorCode, ReplicaRole, ReservationState, ReserveAllItem,
    ReserveAllOutcome,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{poll_until, ClusterDir, ReplicaSet};

mod restock;

const CATALOG: &str = "catalog";
const SETTLE: Duration = Duration::from_secs(20);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_catalog-svc"))
}

/// Starts the group and waits until it has a leader and the catalog is seeded.
async fn start(dir: &ClusterDir) -> (ReplicaSet<'_>, u64) {
    test_support::init_tracing();
    let set = ReplicaSet::start(bin(), &[], dir, CATALOG);
    let leader = set.wait_leader(SETTLE).await;
    poll_until(SETTLE, "the catalog to be seeded", || async {
        let resp = set
            .client()
            .get(set.url(leader, "/books"))
            .send()
            .await
            .ok()?;
        let list: BookList = resp.json().await.ok()?;
        (list.books.len() == 7).then_some(())
    })
    .await;
    (set, leader)
}

/// A restock that may find the replica not yet listening: None then.
async fn try_restock(set: &ReplicaSet<'_>, id: u64, item: u64, delta: i64) -> Option<StatusCode> {
    let url = set.url(id, &format!("/admin/books/{item}"));
    let sent = set
        .client()
        .post(url)
        .json(&json!({ "stock_delta": delta }))
        .send()
        .await;
    sent.ok().map(|r| r.status())
}

async fn restock(set: &ReplicaSet<'_>, id: u64, item: u64, delta: i64) -> reqwest::Response {
    set.client()
        .post(set.url(id, &format!("/admin/books/{item}")))
        .json(&json!({ "stock_delta": delta }))
        .send()
        .await
        .expect("replica answers")
}

async fn book(set: &ReplicaSet<'_>, id: u64, item: u64) -> Book {
    let resp = set
        .client()
        .get(set.url(id, &format!("/books/{item}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "GET /books/{item} on replica {id}"
    );
    resp.json().await.unwrap()
}

/// Reserves `qty` of `item` under `key` through replica `id`, as order leader of term 1 (no
/// order leader has fenced in these groups): how that one reservation ended.
async fn reserve(set: &ReplicaSet<'_>, id: u64, key: &str, item: u64, qty: u64) -> ReserveAllItem {
    let resp = set
        .client()
        .post(set.url(id, api::RESERVE_ALL_PATH))
        .json(&json!({
            "reservations": [{ "key": key, "item": item, "quantity": qty }],
            "order_term": 1,
        }))
        .send()
        .await
        .expect("replica answers");
    assert_eq!(resp.status(), StatusCode::OK, "reserve-all on replica {id}");
    let mut outcome: ReserveAllOutcome = resp.json().await.expect("reserve-all outcome");
    assert_eq!(outcome.items.len(), 1, "{outcome:?}");
    outcome.items.remove(0)
}

/// The state of a reservation that holds stock; panics on a refusal.
fn held_state(item: &ReserveAllItem) -> ReservationState {
    match item {
        ReserveAllItem::Held(outcome) => outcome.reservation.state,
        ReserveAllItem::Refused(body) => panic!("refused: {body:?}"),
    }
}

/// The code of a refused reservation, None if it holds stock.
fn refusal(item: &ReserveAllItem) -> Option<ErrorCode> {
    match item {
        ReserveAllItem::Held(_) => None,
        ReserveAllItem::Refused(body) => Some(body.error.code),
    }
}

fn follower_of(set: &ReplicaSet<'_>, leader: u64) -> u64 {
    set.ids()
        .into_iter()
        .find(|id| *id != leader && set.is_running(*id))
        .unwrap()
}

async fn error_code(resp: reqwest::Response) -> ErrorCode {
    let body: ErrorBody = resp.json().await.expect("JSON error body");
    body.error.code
}

#[tokio::test]
async fn fresh_group_elects_a_leader_and_every_replica_serves_the_default_catalog() {
    // Goal: a brand-new group forms and seeds the default catalog once, on every replica.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, _leader) = start(&dir).await;
    for id in set.ids() {
        let books: BookList = poll_until(SETTLE, "seeded catalog", || async {
            let resp = set.client().get(set.url(id, "/books")).send().await.ok()?;
            let list: BookList = resp.json().await.ok()?;
            (list.books.len() == 7).then_some(list)
        })
        .await;
        assert_eq!(
            books.books[0].title,
            "How to get a good grade in 677 in 20 minutes a day"
        );
        assert!(books.books.iter().all(|b| b.stock == 5));
        let ds: BookList = set
            .client()
            .get(set.url(id, "/books?topic=ds"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ds.books.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 2, 5]);
    }
    set.wait_converged(SETTLE).await;
    set.assert_no_panics();
}

#[tokio::test]
async fn restock_sent_to_a_follower_is_applied_on_every_replica() {
    // Goal: a write to a follower reaches the leader; all replicas end with the same state.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let follower = follower_of(&set, leader);
    let resp = restock(&set, follower, 3, 4).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Book>().await.unwrap().stock, 9);
    let status = set.wait_converged(SETTLE).await;
    for id in set.ids() {
        // Reads are linearizable on followers too: the acknowledged restock is visible at once.
        assert_eq!(book(&set, id, 3).await.stock, 9);
        assert_eq!(set.status(id).await.unwrap().digest, status.digest);
    }
    set.assert_no_panics();
}

#[tokio::test]
async fn killed_leader_is_replaced_and_writes_go_on() {
    // Goal: SIGKILL of the leader; a survivor accepts a write once a new leader is elected.
    // Method: retry a restock on a survivor until it succeeds; print the time it took.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    assert_eq!(restock(&set, leader, 1, 1).await.status(), StatusCode::OK);
    set.kill(leader);
    let killed_at = Instant::now();
    let survivor = follower_of(&set, leader);
    poll_until(SETTLE, "a write after the leader was killed", || async {
        (try_restock(&set, survivor, 1, 1).await? == StatusCode::OK).then_some(())
    })
    .await;
    eprintln!(
        "leader kill to first successful write: {} ms",
        killed_at.elapsed().as_millis()
    );
    let new_leader = set.wait_leader(SETTLE).await;
    assert_ne!(new_leader, leader);
    set.restart(leader);
    set.wait_converged(SETTLE).await;
    assert_eq!(book(&set, leader, 1).await.stock, 7);
    set.assert_no_panics();
}

/// Raft vote `request` sent to replica `to`, as a peer of its cluster would; its answer.
async fn vote(dir: &ClusterDir, set: &ReplicaSet<'_>, to: u64, request: &Value) -> Value {
    let cluster_id = std::fs::read_to_string(dir.data_dir().join("cluster_id")).unwrap();
    set.client()
        .post(set.url(to, "/raft/vote"))
        .header("x-pygmy-cluster", cluster_id.trim())
        .json(request)
        .send()
        .await
        .expect("replica answers")
        .json()
        .await
        .expect("a vote answer")
}

/// A vote request for `candidate` in `term`, with a log longer than anyone's, sent to `to`;
/// whether it was granted.
async fn vote_granted(
    dir: &ClusterDir,
    set: &ReplicaSet<'_>,
    to: u64,
    candidate: u64,
    term: u64,
) -> bool {
    let leader_id = json!({ "term": term, "node_id": candidate });
    let request = json!({
        "vote": { "leader_id": leader_id, "committed": false },
        "last_log_id": { "leader_id": leader_id, "index": 1_000_000 },
    });
    let answer = vote(dir, set, to, &request).await;
    answer["Ok"]["vote_granted"]
        .as_bool()
        .unwrap_or_else(|| panic!("not a vote answer: {answer}"))
}

/// A vote request of non-member 99 in `term`, with an empty log, sent to `to`: refused (for
/// the log, once `to` no longer hears from a leader, or for the leader's lease before).
async fn refuse_empty_log_vote(dir: &ClusterDir, set: &ReplicaSet<'_>, to: u64, term: u64) {
    let request = json!({
        "vote": { "leader_id": { "term": term, "node_id": 99 }, "committed": false },
        "last_log_id": null,
    });
    let answer = vote(dir, set, to, &request).await;
    assert_eq!(answer["Ok"]["vote_granted"], json!(false), "{answer}");
}

#[tokio::test]
async fn a_follower_that_refused_a_shorter_log_stands_in_a_term_above_it() {
    // Goal: (vendored openraft, `PATCHED.md`, third change) a node that refused a candidate
    // for its shorter log stands, when its own timeout comes, in a term above that candidate's,
    // so that the two cannot split a vote in one term. Method: kill the leader; until the
    // survivors elect one, send both, every 50 ms, a vote request in term T + 5 with an empty
    // log (refused for the log from the end of the old leader's lease, at least 500 ms before
    // a survivor's own timeout); the new leader's term is then above T + 5 (T + 1 without it).
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let term = set.status(leader).await.unwrap().term;
    set.kill(leader);
    let survivors: Vec<u64> = set.ids().into_iter().filter(|id| *id != leader).collect();
    let refused_term = term + 5;
    let elected = poll_until(SETTLE, "a new leader", || async {
        for &to in &survivors {
            refuse_empty_log_vote(&dir, &set, to, refused_term).await;
        }
        let statuses = set.statuses().await;
        let leader = statuses
            .into_iter()
            .filter_map(|(_, s)| s)
            .find(|s| s.role == ReplicaRole::Leader);
        if leader.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        leader
    })
    .await;
    assert!(
        elected.term > refused_term,
        "elected in term {}, not above the refused candidate's {refused_term} (the old leader's: {term})",
        elected.term
    );
    set.assert_no_panics();
}

#[tokio::test]
async fn a_leader_refuses_votes_while_a_cache_lease_it_granted_may_run() {
    // Goal: a new catalog leader serves at once after its election (#13), which is safe only if
    // the old leader cannot help elect it while a frontend may still serve under its lease.
    // Method: grant a lease, then ask the leader to vote for a candidate with a longer log: it
    // refuses while the lease may run, and grants the same request once it has run out (so
    // the refusal was the lease's); the group then elects a leader and takes writes again.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    // Not a member: a request in a member's name would make it see a vote it never cast.
    let candidate = 99;
    let term = set.status(leader).await.unwrap().term + 10;
    let lease = Duration::from_millis(750);
    let mut refused_within_lease = 0;
    for _ in 0..5 {
        let asked = Instant::now();
        let grant = set
            .client()
            .post(set.url(leader, "/cache/lease"))
            .json(&json!({ "frontend": "test", "notify_url": "http://127.0.0.1:9" }))
            .send()
            .await
            .unwrap();
        assert_eq!(grant.status(), StatusCode::OK);
        let granted = vote_granted(&dir, &set, leader, candidate, term).await;
        // Answered within the lease counted from before the grant: the refusal must hold.
        if asked.elapsed() < lease {
            assert!(!granted, "the leader voted while a lease it granted ran");
            refused_within_lease += 1;
        }
    }
    assert!(
        refused_within_lease > 0,
        "no vote request was answered within the lease"
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    // The leader, unless a loaded machine had the group elect another since (a follower
    // refuses votes while it hears from a leader, whatever its leases).
    poll_until(
        SETTLE,
        "the leader to vote once the lease ran out",
        || async {
            let leader = set.wait_leader(SETTLE).await;
            vote_granted(&dir, &set, leader, candidate, term)
                .await
                .then_some(())
        },
    )
    .await;
    poll_until(
        SETTLE,
        "a write after the leader voted itself out",
        || async {
            let leader = set.wait_leader(SETTLE).await;
            (try_restock(&set, leader, 1, 1).await? == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert!(set
        .log(leader)
        .contains("refused a vote while leases granted here may still be held"));
    set.assert_no_panics();
}

#[tokio::test]
async fn downed_replica_catches_up_from_the_log() {
    // Goal: writes go on with one replica down; restarted, it catches up with no operator action.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let down = follower_of(&set, leader);
    set.kill(down);
    for _ in 0..10 {
        assert_eq!(restock(&set, leader, 2, 1).await.status(), StatusCode::OK);
    }
    set.restart(down);
    set.wait_converged(SETTLE).await;
    assert_eq!(book(&set, down, 2).await.stock, 15);
    set.assert_no_panics();
}

#[tokio::test]
async fn downed_replica_catches_up_by_snapshot_after_compaction() {
    // Goal: the leader compacts its log past what a downed replica has; restarted, the replica
    // must be sent a snapshot. Method: snapshot every 10 entries, keep none behind it, then check
    // the leader's purge point passed the downed replica's last entry before it returned.
    let dir = ClusterDir::new(
        3,
        1,
        &["snapshot_logs_since_last = 10", "snapshot_logs_kept = 0"],
    );
    let (set, leader) = start(&dir).await;
    let down = follower_of(&set, leader);
    let before = set.wait_converged(SETTLE).await;
    set.kill(down);
    for _ in 0..40 {
        assert_eq!(restock(&set, leader, 4, 1).await.status(), StatusCode::OK);
    }
    let purged = poll_until(SETTLE, "leader log compaction", || async {
        let s = set.status(leader).await?;
        (s.last_purged > before.last_applied).then_some(s.last_purged)
    })
    .await;
    set.restart(down);
    let after = set.wait_converged(SETTLE).await;
    assert!(after.last_applied >= purged);
    let status = set.status(down).await.unwrap();
    assert!(status.snapshot_index > before.last_applied, "{status:?}");
    assert_eq!(book(&set, down, 4).await.stock, 45);
    set.assert_no_panics();
}

#[tokio::test]
async fn two_of_three_down_refuses_writes_within_the_deadline_then_recovers() {
    // Goal: without a quorum a write answers 503 (no leader, or unknown outcome) within its
    // deadline instead of hanging; once a replica returns, writes succeed and nothing acked is lost.
    let dir = ClusterDir::new(3, 1, &["write_timeout_ms = 2000", "read_timeout_ms = 2000"]);
    let (set, leader) = start(&dir).await;
    for _ in 0..3 {
        assert_eq!(restock(&set, leader, 5, 2).await.status(), StatusCode::OK);
    }
    let others: Vec<u64> = set.ids().into_iter().filter(|id| *id != leader).collect();
    for id in &others {
        set.kill(*id);
    }
    let started = Instant::now();
    let resp = restock(&set, leader, 5, 100).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let code = error_code(resp).await;
    assert!(
        matches!(code, ErrorCode::NoLeader | ErrorCode::OutcomeUnknown),
        "{code:?}"
    );
    // A hang would fail on the test client's own timeout; the time is reported, not asserted
    // (a noisy machine).
    eprintln!(
        "a write without quorum answered after {:?}",
        started.elapsed()
    );
    set.restart(others[0]);
    poll_until(SETTLE, "a write after a replica returned", || async {
        (try_restock(&set, others[0], 5, 1).await? == StatusCode::OK).then_some(())
    })
    .await;
    set.restart(others[1]);
    set.wait_converged(SETTLE).await;
    let stock = book(&set, others[1], 5).await.stock;
    // 5 + 3*2 acknowledged + 1 acknowledged, plus 100 if the unknown write committed later.
    assert!(stock == 12 || stock == 112, "stock {stock}");
    set.assert_no_panics();
}

/// `GET /ready` of replica `id`: its status code and reasons.
async fn readiness(set: &ReplicaSet<'_>, id: u64) -> Option<(StatusCode, Vec<String>)> {
    let resp = set.client().get(set.url(id, "/ready")).send().await.ok()?;
    let status = resp.status();
    let body: api::Readiness = resp.json().await.ok()?;
    Some((status, body.reasons))
}

#[tokio::test]
async fn ready_says_why_a_replica_without_a_leader_cannot_serve_and_comes_back() {
    // Goal (#10): `/ready` is 200 on every replica of a healthy group; a replica left alone
    // (its leader and the other follower killed) answers 503 "no leader known"; once the
    // others return, it is ready again.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    for id in set.ids() {
        poll_until(SETTLE, "every replica ready", || async {
            (readiness(&set, id).await?.0 == StatusCode::OK).then_some(())
        })
        .await;
    }
    let alone = follower_of(&set, leader);
    let others: Vec<u64> = set.ids().into_iter().filter(|id| *id != alone).collect();
    for id in &others {
        set.kill(*id);
    }
    let reasons = poll_until(
        SETTLE,
        "the lone replica to say it is not ready",
        || async {
            let (status, reasons) = readiness(&set, alone).await?;
            (status == StatusCode::SERVICE_UNAVAILABLE).then_some(reasons)
        },
    )
    .await;
    assert_eq!(reasons, ["no leader known"]);
    for id in &others {
        set.restart(*id);
    }
    for id in set.ids() {
        poll_until(SETTLE, "every replica ready again", || async {
            (readiness(&set, id).await?.0 == StatusCode::OK).then_some(())
        })
        .await;
    }
    set.assert_no_panics();
}

#[tokio::test]
async fn reservations_are_exactly_once_and_never_oversell() {
    // Goal: a key reserves once; 50 concurrent reserve-1 on stock 5 over all replicas: 5 succeed.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    for _ in 0..2 {
        let item = reserve(&set, leader, "same-key", 1, 1).await;
        assert_eq!(held_state(&item), ReservationState::Held);
    }
    assert_eq!(book(&set, leader, 1).await.stock, 4);
    let ids = set.ids();
    let attempts = (0..50).map(|i| {
        let (set, id) = (&set, ids[i % ids.len()]);
        async move { refusal(&reserve(set, id, &format!("k{i}"), 2, 1).await) }
    });
    let refusals = futures::future::join_all(attempts).await;
    let ok = refusals.iter().filter(|r| r.is_none()).count();
    let refused = refusals
        .iter()
        .filter(|r| **r == Some(ErrorCode::OutOfStock))
        .count();
    assert_eq!((ok, refused), (5, 45), "{refusals:?}");
    set.wait_converged(SETTLE).await;
    for id in set.ids() {
        assert_eq!(book(&set, id, 2).await.stock, 0);
    }
    // The order leader's batched confirmations, sent to a follower (forwarded to the leader):
    // held keys become confirmed and are counted, a refused or unknown one is left as it is.
    let follower = follower_of(&set, leader);
    let confirm = set
        .client()
        .post(set.url(follower, api::CONFIRM_ALL_PATH))
        .json(&json!({ "keys": ["same-key", "k0", "k1", "k2", "k3", "k4", "never"] }))
        .send()
        .await
        .expect("replica answers");
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirmed: api::ConfirmAllOutcome = confirm.json().await.unwrap();
    assert_eq!(
        confirmed.confirmed,
        1 + 5 - refused_among_first_five(&refusals)
    );
    let again = reserve(&set, leader, "same-key", 1, 1).await;
    assert_eq!(held_state(&again), ReservationState::Confirmed);
    let empty = set
        .client()
        .post(set.url(leader, api::CONFIRM_ALL_PATH))
        .json(&json!({ "keys": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    set.assert_no_panics();
}

/// How many of the keys `k0`..`k4` were refused (the first five of the concurrent reserves).
fn refused_among_first_five(refusals: &[Option<ErrorCode>]) -> u64 {
    refusals[..5].iter().filter(|r| r.is_some()).count() as u64
}

#[tokio::test]
async fn whole_group_restarted_keeps_its_state() {
    // Goal: all three replicas stopped (cleanly, then by SIGKILL) and restarted keep state exactly.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    restock(&set, leader, 6, 7).await;
    reserve(&set, leader, "keep-me", 6, 2).await;
    let before = set.wait_converged(SETTLE).await;
    for id in set.ids() {
        let exit = set.stop(id).expect("stopped");
        assert!(exit.success(), "replica {id} exit {exit:?}");
    }
    for id in set.ids() {
        set.restart(id);
    }
    set.wait_leader(SETTLE).await;
    let after_clean = set.wait_converged(SETTLE).await;
    assert_eq!(after_clean.digest, before.digest);
    for id in set.ids() {
        set.kill(id);
    }
    for id in set.ids() {
        set.restart(id);
    }
    let leader = set.wait_leader(SETTLE).await;
    assert_eq!(book(&set, leader, 6).await.stock, 10);
    let after_kill = set.wait_converged(SETTLE).await;
    assert_eq!(after_kill.digest, before.digest);
    set.assert_no_panics();
}

#[tokio::test]
async fn bad_input_gets_clear_json_errors() {
    // Goal: every kind of bad request gets the documented status and JSON error, never a panic.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let c = set.client();
    let get = |path: &str| c.get(set.url(leader, path)).send();
    let resp = get("/books/99").await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp).await, ErrorCode::NotFound);
    for path in ["/books/abc", "/books/0", "/books/-1"] {
        assert_eq!(
            get(path).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
    assert_eq!(get("/nope").await.unwrap().status(), StatusCode::NOT_FOUND);
    let post = |path: &str, body: &'static str| {
        c.post(set.url(leader, path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let reserve_all = api::RESERVE_ALL_PATH;
    let bad_bodies = [
        (reserve_all, "{not json"),
        (reserve_all, r#"{"reservations": []}"#),
        (
            reserve_all,
            r#"{"reservations": [{"key": "k", "item": 1, "quantity": 0}]}"#,
        ),
        (
            reserve_all,
            r#"{"reservations": [{"key": "k", "item": 1, "quantity": -2}]}"#,
        ),
        (
            reserve_all,
            r#"{"reservations": [{"key": "k", "item": 1, "quantity": 1000000000000}]}"#,
        ),
        (
            reserve_all,
            r#"{"reservations": [{"key": "", "item": 1, "quantity": 1}]}"#,
        ),
        (
            reserve_all,
            r#"{"reservations": [{"key": "k", "item": 1, "quantity": 1}], "order_term": -1}"#,
        ),
        ("/admin/books/1", r#"{}"#),
        ("/admin/books/1", r#"{"stock_delta": "lots"}"#),
    ];
    for (path, body) in bad_bodies {
        let resp = post(path, body).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(
            error_code(resp).await,
            ErrorCode::BadRequest,
            "{path} {body}"
        );
    }
    assert_eq!(
        refusal(&reserve(&set, leader, "k", 42, 1).await),
        Some(ErrorCode::NotFound)
    );
    // No route takes or gives back stock outside the order fence.
    let one = r#"{"key": "k", "item": 1, "quantity": 1}"#;
    for path in ["/reserve", "/reservations/release"] {
        let resp = post(path, one).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let resp = post("/admin/books/1", r#"{"stock_delta": -6}"#)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let anonymous = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = anonymous
        .get(set.url(leader, "/books"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(resp).await, ErrorCode::Unauthorized);
    let resp = anonymous
        .post(set.url(leader, "/raft/vote"))
        .bearer_auth("wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = anonymous
        .get(set.url(leader, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(set.status(leader).await.unwrap().role, ReplicaRole::Leader);
    set.assert_no_panics();
}

#[tokio::test]
async fn locked_or_damaged_data_dir_fails_at_start_with_a_clear_message() {
    // Goal: a directory in use by another replica, or one holding garbage, makes start-up fail
    // with a message naming the problem and a non-zero exit, not a panic.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, _) = start(&dir).await;
    // A second config with other ports but the same data directory: replica 1's dir is locked.
    let twin = ClusterDir::new(3, 1, &[]);
    let twin_config = std::fs::read_to_string(twin.config_path())
        .unwrap()
        .replace(
            &format!("{:?}", twin.data_dir().display().to_string()),
            &format!("{:?}", dir.data_dir().display().to_string()),
        );
    std::fs::write(twin.config_path(), twin_config).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "--config",
            twin.config_path().to_str().unwrap(),
            "--id",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Garbage where replica 2 of the twin cluster keeps its data.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(damaged.join("catalog-2")).unwrap();
    std::fs::write(
        damaged.join("catalog-2").join("conf"),
        b"\xffnot a sled config",
    )
    .unwrap();
    std::fs::write(damaged.join("catalog-2").join("db"), vec![0x5a; 8192]).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "--config",
            twin.config_path().to_str().unwrap(),
            "--id",
            "2",
        ])
        .args(["--data", damaged.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot be opened"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    set.assert_no_panics();
}

#[tokio::test]
async fn the_binary_takes_the_tokens_the_configuration_leaves_empty_from_tokens_toml() {
    // Goal: `catalog-svc` starts like `pygmy serve catalog` (#12): with no token in cluster.toml
    // it uses `<data_dir>/tokens.toml`, which `pygmy up` writes, and its peers and admin routes
    // accept exactly those tokens.
    let dir = ClusterDir::new(3, 1, &[]);
    let config = std::fs::read_to_string(dir.config_path()).unwrap();
    let without_tokens: String = config
        .lines()
        .filter(|l| !l.starts_with("cluster_token") && !l.starts_with("admin_token"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without_tokens, config, "the test cluster.toml sets tokens");
    std::fs::write(dir.config_path(), without_tokens).unwrap();
    std::fs::create_dir_all(dir.data_dir()).unwrap();
    std::fs::write(
        dir.data_dir().join("tokens.toml"),
        format!(
            "cluster_token = \"{}\"\nadmin_token = \"{}\"\n",
            dir.token(),
            dir.admin_token()
        ),
    )
    .unwrap();
    let (set, leader) = start(&dir).await;
    assert_eq!(restock(&set, leader, 2, 1).await.status(), StatusCode::OK);
    let wrong = set
        .client()
        .get(set.url(leader, "/books"))
        .bearer_auth("not-the-cluster-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_order_leader_fences_out_the_reservations_of_earlier_terms() {
    // Goal: `POST /reservations/fence-orders` through a follower (forwarded to the leader) answers
    // every reservation still held once it applied; afterwards a batch of an earlier order term
    // is refused item by item as `no_leader` and takes no stock, and a fence of an earlier term
    // is refused. Method: real replicas; two reservations, one confirmed, then the fence.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let follower = follower_of(&set, leader);
    let post = |path: &'static str, body: Value| {
        set.client()
            .post(set.url(follower, path))
            .json(&body)
            .send()
    };
    let batch = |key: &str, order_term: u64| {
        json!({ "order_term": order_term,
                "reservations": [{ "key": key, "item": 1, "quantity": 1 }] })
    };
    let items = |v: Value| v["items"].as_array().cloned().unwrap();
    let held = post(api::RESERVE_ALL_PATH, batch("sold", 1)).await.unwrap();
    assert!(items(held.json().await.unwrap())[0].get("held").is_some());
    post(api::RESERVE_ALL_PATH, batch("open", 1)).await.unwrap();
    let confirmed = post(api::CONFIRM_ALL_PATH, json!({ "keys": ["sold"] }))
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);

    let fenced = post(api::FENCE_ORDERS_PATH, json!({ "order_term": 2 }))
        .await
        .unwrap();
    assert_eq!(fenced.status(), StatusCode::OK);
    let fenced: api::FenceOrdersOutcome = fenced.json().await.unwrap();
    let keys: Vec<&str> = fenced
        .held
        .iter()
        .map(|h| h.reservation.key.as_str())
        .collect();
    assert_eq!(keys, ["open"]);

    let stock_before = book(&set, leader, 1).await.stock;
    let late: Value = post(api::RESERVE_ALL_PATH, batch("late", 1))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused: ErrorBody = serde_json::from_value(items(late)[0]["refused"].clone()).unwrap();
    assert_eq!(refused.error.code, ErrorCode::NoLeader, "{refused:?}");
    assert_eq!(book(&set, leader, 1).await.stock, stock_before);
    let stale = post(api::FENCE_ORDERS_PATH, json!({ "order_term": 1 }))
        .await
        .unwrap();
    assert_eq!(error_code(stale).await, ErrorCode::NoLeader);
    set.assert_no_panics();
}
