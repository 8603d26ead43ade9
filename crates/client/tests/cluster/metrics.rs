//! What a whole store publishes in `/metrics` beyond the Raft state (issue #17): the
//! frontend's lease renewals, and the buys the order group has begun and not finished.

use serde_json::json;
use test_support::prometheus::{scrape, Scrape};
use test_support::{poll_until, ClusterDir, ReplicaSet, Store};

use super::bin;

/// Time allowed for each step to show in the metrics.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// `pygmy_orders_pending_buys` of every order replica, in id order; None until all answer.
async fn pending_buys(orders: &ReplicaSet<'_>) -> Option<Vec<f64>> {
    let mut pending = Vec::new();
    for id in orders.ids() {
        let scrape = scrape(orders.client(), &orders.url(id, "/metrics")).await?;
        let replica = id.to_string();
        let labels = [("group", "orders"), ("replica", replica.as_str())];
        pending.push(scrape.value("pygmy_orders_pending_buys", &labels)?);
    }
    Some(pending)
}

/// The frontend's renewals with `outcome` and how many of them were timed.
fn renewals(scrape: &Scrape, outcome: &str) -> Option<(f64, f64)> {
    let labels = [("outcome", outcome)];
    let counted = scrape.value("pygmy_frontend_cache_lease_renewals_total", &labels)?;
    let timed = "pygmy_frontend_cache_lease_renewal_duration_seconds_count";
    Some((counted, scrape.value(timed, &labels)?))
}

#[tokio::test]
async fn lease_renewals_are_counted_by_outcome_and_an_unfinished_buy_shows_on_the_order_leader() {
    // Goal: the frontend counts and times its lease renewals, granted while the catalog has a
    // leader and failed while it has none; a buy whose catalog step cannot finish (the catalog
    // without a quorum) shows as 1 unfinished buy on the order leader (0 on the followers, which
    // do not know it), and as 0 once the catalog is back and the leader's resolver finished it. Method: scrape /metrics of
    // the frontend and of each order replica; every wait is a poll with a generous deadline.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let frontend = store.url("/metrics");
    let granted = poll_until(SETTLE, "a granted and timed lease renewal", || async {
        let scrape = scrape(store.client(), &frontend).await?;
        let (counted, timed) = renewals(&scrape, "granted")?;
        (counted >= 1.0 && timed == counted).then_some(scrape)
    })
    .await;
    assert!(granted
        .help("pygmy_frontend_cache_lease_renewals_total")
        .is_some());
    // One buy through first: an order leader takes buys once its resolver has fenced the
    // catalog, and one elected just before the catalog loses its quorum would otherwise hold
    // the buy below before it begins, never showing it as unfinished.
    let warm_up = store
        .client()
        .post(store.url("/orders"))
        .header("Idempotency-Key", "metrics-warm-up")
        .json(&json!({ "item": 2, "quantity": 1 }))
        .send()
        .await
        .expect("the frontend answers");
    assert_eq!(warm_up.status(), reqwest::StatusCode::CREATED);
    let idle = poll_until(SETTLE, "no pending buy", || async {
        let pending = pending_buys(&store.orders).await?;
        pending.iter().all(|p| *p == 0.0).then_some(pending)
    })
    .await;
    assert_eq!(idle.len(), 3);

    store.catalog.kill(1);
    store.catalog.kill(2);
    let (client, url) = (store.client().clone(), store.url("/orders"));
    // Its answer does not matter (an unknown outcome, once the order leader gives up).
    let buy = tokio::spawn(async move {
        let body = json!({ "item": 1, "quantity": 1 });
        let request = client
            .post(url)
            .header("Idempotency-Key", "metrics-pending-1");
        request.json(&body).send().await
    });
    poll_until(SETTLE, "the buy unfinished on the order leader", || async {
        let pending = pending_buys(&store.orders).await?;
        let shown: Vec<&f64> = pending.iter().filter(|p| **p != 0.0).collect();
        (shown == [&1.0]).then_some(())
    })
    .await;
    poll_until(SETTLE, "a failed and timed lease renewal", || async {
        let scrape = scrape(store.client(), &frontend).await?;
        let (counted, timed) = renewals(&scrape, "failed")?;
        (counted >= 1.0 && timed == counted).then_some(())
    })
    .await;

    store.catalog.restart(1);
    store.catalog.restart(2);
    poll_until(
        SETTLE,
        "the buy finished on every order replica",
        || async {
            let pending = pending_buys(&store.orders).await?;
            pending.iter().all(|p| *p == 0.0).then_some(())
        },
    )
    .await;
    let _ = buy.await;
    store.assert_no_panics();
}
