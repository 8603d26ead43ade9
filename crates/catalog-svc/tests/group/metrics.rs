//! Replication metrics of real replica processes, read from their `/metrics` (issue #17).

use reqwest::StatusCode;
use test_support::prometheus::{scrape, Scrape};
use test_support::{poll_until, ClusterDir, ReplicaSet};

use super::{restock, start, CATALOG, SETTLE};

/// Every Raft-state series a replica publishes.
const RAFT_SERIES: [&str; 7] = [
    "pygmy_raft_term",
    "pygmy_raft_leader_id",
    "pygmy_raft_leader_changes_total",
    "pygmy_raft_last_log_index",
    "pygmy_raft_committed_index",
    "pygmy_raft_applied_index",
    "pygmy_raft_follower_lag_entries",
];

/// `/metrics` of replica `id`; None while it does not answer.
async fn metrics_of(set: &ReplicaSet<'_>, id: u64) -> Option<Scrape> {
    scrape(set.client(), &set.url(id, "/metrics")).await
}

/// The value of `name` for replica `id` in its own scrape.
fn value(scrape: &Scrape, id: u64, name: &str) -> Option<f64> {
    let replica = id.to_string();
    scrape.value(name, &[("group", CATALOG), ("replica", &replica)])
}

/// Replica `id`'s lag of each follower, by follower id, as it publishes them.
fn lags(scrape: &Scrape, id: u64) -> Vec<(u64, f64)> {
    let replica = id.to_string();
    let labels = [("group", CATALOG), ("replica", replica.as_str())];
    let mut lags: Vec<(u64, f64)> = scrape
        .samples("pygmy_raft_follower_lag_entries", &labels)
        .map(|s| (s.labels["follower"].parse().unwrap(), s.value))
        .collect();
    lags.sort_by_key(|(follower, _)| *follower);
    lags
}

#[tokio::test]
async fn after_a_leader_kill_the_new_leader_counts_the_change_and_each_follower_lag_returns_to_0() {
    // Goal: after a SIGKILL of the leader, the new leader's leader-changes counter has grown,
    // it publishes one lag series per follower (the killed one behind while it is down), every
    // lag is 0 again once the killed replica is back, and all three replicas agree on their
    // committed and applied indexes. Method: scrape each process's /metrics and read series by
    // labels; every wait is a poll with a generous deadline, nothing is timed.
    let dir = ClusterDir::new(3, 1, &[]);
    let (set, leader) = start(&dir).await;
    let others: Vec<u64> = set.ids().into_iter().filter(|id| *id != leader).collect();
    let mut changes_before = Vec::new();
    for &id in &others {
        let seen = poll_until(SETTLE, "a follower to publish the first leader", || async {
            let scrape = metrics_of(&set, id).await?;
            let knows = value(&scrape, id, "pygmy_raft_leader_id")? == leader as f64;
            knows.then(|| value(&scrape, id, "pygmy_raft_leader_changes_total"))?
        })
        .await;
        assert!(seen >= 1.0, "replica {id} counted {seen} leader changes");
        changes_before.push((id, seen));
    }

    set.kill(leader);
    let new_leader = set.wait_leader(SETTLE).await;
    assert_eq!(
        restock(&set, new_leader, 1, 1).await.status(),
        StatusCode::OK
    );
    let scrape = poll_until(
        SETTLE,
        "the new leader to publish the killed one's lag",
        || async {
            let scrape = metrics_of(&set, new_leader).await?;
            let behind = lags(&scrape, new_leader)
                .iter()
                .any(|&(follower, lag)| follower == leader && lag > 0.0);
            behind.then_some(scrape)
        },
    )
    .await;
    let (_, before) = changes_before
        .iter()
        .find(|(id, _)| *id == new_leader)
        .unwrap();
    let after = value(&scrape, new_leader, "pygmy_raft_leader_changes_total").unwrap();
    assert!(
        after > *before,
        "leader changes on the new leader: {before} then {after}"
    );
    assert_eq!(
        value(&scrape, new_leader, "pygmy_raft_leader_id"),
        Some(new_leader as f64)
    );
    let followers: Vec<u64> = lags(&scrape, new_leader).iter().map(|l| l.0).collect();
    let expected: Vec<u64> = set
        .ids()
        .into_iter()
        .filter(|id| *id != new_leader)
        .collect();
    assert_eq!(followers, expected, "one lag series per follower");
    for name in RAFT_SERIES {
        assert!(scrape.help(name).is_some(), "{name} has no HELP");
    }

    set.restart(leader);
    poll_until(SETTLE, "every follower's lag back to 0", || async {
        let scrape = metrics_of(&set, new_leader).await?;
        let lags = lags(&scrape, new_leader);
        (lags.len() == 2 && lags.iter().all(|l| l.1 == 0.0)).then_some(())
    })
    .await;
    poll_until(SETTLE, "equal committed and applied indexes", || async {
        let mut positions = Vec::new();
        for id in set.ids() {
            let scrape = metrics_of(&set, id).await?;
            let committed = value(&scrape, id, "pygmy_raft_committed_index")?;
            let applied = value(&scrape, id, "pygmy_raft_applied_index")?;
            positions.push((committed, applied));
        }
        let first = positions[0];
        let agreed = first.0 > 0.0 && positions.iter().all(|p| *p == (first.0, first.0));
        agreed.then_some(())
    })
    .await;
    set.assert_no_panics();
}
