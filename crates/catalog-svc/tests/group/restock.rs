//! Timed restocks (`[catalog.restock]`, #16) on a real group: a sold-out book comes back at
//! `to` on every replica within `every_s` plus one election timeout, across a leader SIGKILL,
//! and no period restocks twice.

use std::io::Write as _;
use std::time::{Duration, Instant};

use catalog_svc::routes::restocks::RestockLedger;
use test_support::{poll_until, ClusterDir, ReplicaSet};

use super::{book, refusal, reserve, start, SETTLE};

/// The policy under test: every 2 s, books with no copy left go back to 5.
const EVERY: Duration = Duration::from_secs(2);
const TO: u64 = 5;
/// `election_timeout_ms_max` of the default configuration the test group runs with.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(750);
/// Sell-outs of book 1 in a row, several of them right after a round, inside its period.
const SELL_OUTS: u64 = 3;

fn with_restock_policy(dir: &ClusterDir) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.config_path())
        .unwrap();
    let policy = format!(
        "\n[catalog.restock]\nevery_s = {}\nbelow = 1\nto = {TO}\n",
        EVERY.as_secs()
    );
    file.write_all(policy.as_bytes()).unwrap();
}

/// Takes every copy of `item` under `key`, through replica `id`.
async fn sell_out(set: &ReplicaSet<'_>, id: u64, key: &str, item: u64) {
    let left = book(set, id, item).await.stock;
    let reserved = reserve(set, id, key, item, left).await;
    // Not followed by a read of 0 copies: a round may restock it in between.
    assert_eq!(
        refusal(&reserved),
        None,
        "reserve {left} of book {item}: {reserved:?}"
    );
}

/// Waits until every running replica holds `TO` copies of `item`; how long after `from`.
async fn restocked_everywhere(set: &ReplicaSet<'_>, item: u64, from: Instant) -> Duration {
    poll_until(
        SETTLE,
        "the book to be restocked on every replica",
        || async {
            for id in set.running_ids() {
                let resp = set
                    .client()
                    .get(set.url(id, &format!("/books/{item}")))
                    .send();
                let book: api::Book = resp.await.ok()?.json().await.ok()?;
                (book.stock == TO).then_some(())?;
            }
            Some(())
        },
    )
    .await;
    from.elapsed()
}

async fn ledger(set: &ReplicaSet<'_>, id: u64) -> RestockLedger {
    let resp = set.client().get(set.url(id, "/restocks")).send().await;
    resp.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn timed_restocks_refill_sold_out_books_on_every_replica_once_per_period_across_a_leader_kill(
) {
    // Goal: with `every_s = 2, below = 1, to = 5`, a sold-out book is back at 5 on every
    // replica within every_s + one election timeout, also once the leader was SIGKILLed, and
    // a period never restocks twice. Method: sell book 1 out three times in a row (each time
    // as soon as it is back, so mostly inside the period of the round that refilled it: the
    // next round must wait for the next period); sell book 2 out through the leader and
    // SIGKILL it at once; restart it. Then every
    // replica lists the same rounds, one per period: book 1 in exactly three (a period that
    // restocked twice would have overwritten its first round), book 2 in one. Times count from
    // the sale's answer, the kill coming right after it.
    let dir = ClusterDir::new(3, 1, &[]);
    with_restock_policy(&dir);
    let (set, leader) = start(&dir).await;
    let bound = EVERY + ELECTION_TIMEOUT;
    for n in 0..SELL_OUTS {
        sell_out(&set, leader, &format!("book1-{n}"), 1).await;
        let took = restocked_everywhere(&set, 1, Instant::now()).await;
        eprintln!("sell-out {n} of book 1: back at {TO} on every replica after {took:?}");
        assert!(
            took <= bound,
            "book 1 back after {took:?}, more than {bound:?}"
        );
    }
    // Sold out by the leader, which is killed at once: a new leader must restock it.
    sell_out(&set, leader, "book2", 2).await;
    let sold = Instant::now();
    set.kill(leader);
    let took = restocked_everywhere(&set, 2, sold).await;
    eprintln!("book 2 back at {TO} on the survivors {took:?} after its sale and the leader's kill");
    assert!(
        took <= bound,
        "book 2 back after {took:?}, more than {bound:?}"
    );
    set.restart(leader);
    set.wait_converged(SETTLE).await;
    assert_eq!(
        book(&set, leader, 2).await.stock,
        TO,
        "on the restarted replica too"
    );
    let first = ledger(&set, 1).await;
    for id in set.ids() {
        assert_eq!(
            ledger(&set, id).await,
            first,
            "replica {id} lists other rounds"
        );
    }
    let periods: Vec<u64> = first.rounds.iter().map(|r| r.period).collect();
    assert!(periods.windows(2).all(|w| w[0] < w[1]), "{periods:?}");
    let of = |item: u64| first.rounds.iter().filter(|r| r.added(item) > 0).count() as u64;
    assert_eq!((of(1), of(2)), (SELL_OUTS, 1), "{first:?}");
    set.assert_no_panics();
}
