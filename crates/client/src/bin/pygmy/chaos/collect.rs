//! After the faults: wait until the cluster has healed and settled, then read every replica's
//! final state straight from it (order logs, stock, digests) and scan the logs for panics.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use api::{BookList, Order, OrderList, ReplicaStatus};
use runtime::GroupName;

use crate::chaos::roster::Roster;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// How long the healed cluster gets to elect leaders, finish pending buys and converge.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Interval between two settle checks.
const SETTLE_POLL: Duration = Duration::from_millis(500);
/// Orders read per page.
const PAGE: u64 = 1000;

/// Every replica's final state.
#[derive(Debug, Default)]
pub(crate) struct FinalState {
    /// Each order replica's log: `(replica id, orders in log order)`.
    pub(crate) order_logs: Vec<(u64, Vec<Order>)>,
    /// Each catalog replica's stock: `(replica id, stock by book id)`.
    pub(crate) catalog_stock: Vec<(u64, BTreeMap<u64, u64>)>,
    /// Each replica's `(group, id, last applied, state digest)`.
    pub(crate) digests: Vec<(String, u64, u64, String)>,
    /// Log lines mentioning a panic, prefixed with their log's name.
    pub(crate) panics: Vec<String>,
}

/// Internal reads of the replicas, with the cluster token.
pub(crate) struct ReplicaReader {
    http: reqwest::Client,
    token: String,
}

impl ReplicaReader {
    /// A reader through `http` with the cluster token `token`.
    pub(crate) fn new(http: reqwest::Client, token: &str) -> Self {
        Self {
            http,
            token: token.to_string(),
        }
    }

    /// GET `path` of replica `addr`, decoded.
    ///
    /// # Errors
    /// No answer, an error status, or a body that does not decode.
    pub(crate) async fn get<T: DeserializeOwned>(&self, addr: &str, path: &str) -> Result<T> {
        let response = self
            .http
            .get(format!("http://{addr}{path}"))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("{addr}{path} answered {status}");
        }
        Ok(response.json().await?)
    }

    async fn statuses(&self, replicas: &[String]) -> Vec<Option<ReplicaStatus>> {
        let mut out = Vec::new();
        for addr in replicas {
            out.push(self.get(addr, "/status").await.ok());
        }
        out
    }

    /// Waits until both groups have a leader, no buy is pending and every replica of each group
    /// is at the same applied index with the same digest.
    ///
    /// # Errors
    /// Not settled within [`SETTLE_TIMEOUT`]: says what was still missing.
    pub(crate) async fn settle(&self, roster: &Roster) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut missing = String::new();
        while Instant::now() < deadline {
            match self.unsettled(roster).await {
                None => return Ok(()),
                Some(why) => missing = why,
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
        bail!("the cluster did not settle within {SETTLE_TIMEOUT:?}: {missing}")
    }

    async fn unsettled(&self, roster: &Roster) -> Option<String> {
        for group in [GroupName::Catalog, GroupName::Orders] {
            let statuses = self.statuses(&roster.addrs(group)).await;
            let Some(all) = statuses.into_iter().collect::<Option<Vec<_>>>() else {
                return Some(format!("a {} replica does not answer", group.as_str()));
            };
            if !all.iter().any(|s| s.role == api::ReplicaRole::Leader) {
                return Some(format!("{} has no leader", group.as_str()));
            }
            let first = &all[0];
            if all
                .iter()
                .any(|s| (s.last_applied, &s.digest) != (first.last_applied, &first.digest))
            {
                return Some(format!("{} replicas differ", group.as_str()));
            }
        }
        // Only the order leader knows its unfinished buys; the others answer `no_leader`.
        let mut last_error = String::from("no order replica");
        for (_, orders) in roster.replicas(GroupName::Orders) {
            match self.get::<serde_json::Value>(orders, "/pending").await {
                Ok(pending) => {
                    return (pending["pending"] != 0)
                        .then(|| format!("{} buys still unfinished", pending["pending"]));
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Some(format!("unfinished buys unknown: {last_error}"))
    }

    /// Reads every replica's final state and scans `logs` for panics.
    ///
    /// # Errors
    /// A replica cannot be read.
    pub(crate) async fn collect(&self, roster: &Roster, logs: &Path) -> Result<FinalState> {
        let mut state = FinalState::default();
        for (id, addr) in roster.replicas(GroupName::Orders) {
            state.order_logs.push((*id, self.order_log(addr).await?));
        }
        for (id, addr) in roster.replicas(GroupName::Catalog) {
            let list: BookList = self.get(addr, "/books").await?;
            state.catalog_stock.push((
                *id,
                list.books.into_iter().map(|b| (b.id, b.stock)).collect(),
            ));
        }
        for group in [GroupName::Catalog, GroupName::Orders] {
            for status in self
                .statuses(&roster.addrs(group))
                .await
                .into_iter()
                .flatten()
            {
                state
                    .digests
                    .push((status.group, status.id, status.last_applied, status.digest));
            }
        }
        state.panics = scan_panics(logs)?;
        Ok(state)
    }

    async fn order_log(&self, addr: &str) -> Result<Vec<Order>> {
        let mut orders = Vec::new();
        loop {
            let from = orders.len() as u64 + 1;
            let page: OrderList = self
                .get(addr, &format!("/orders?from={from}&limit={PAGE}"))
                .await?;
            let done = (page.orders.len() as u64) < PAGE;
            orders.extend(page.orders);
            if done {
                return Ok(orders);
            }
        }
    }

    /// How many orders the log holds, read through one order replica.
    pub(crate) async fn order_count(&self, addr: &str) -> Result<u64> {
        Ok(self.order_log(addr).await?.len() as u64)
    }

    /// The stock of every book, read through one catalog replica.
    pub(crate) async fn stock(&self, addr: &str) -> Result<BTreeMap<u64, u64>> {
        let list: BookList = self.get(addr, "/books").await?;
        Ok(list.books.into_iter().map(|b| (b.id, b.stock)).collect())
    }
}

/// Lines mentioning a panic in any `*.log` file of `logs`, prefixed with the file name.
fn scan_panics(logs: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(logs).with_context(|| format!("cannot read {}", logs.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.extend(
            text.lines()
                .filter(|l| l.contains("panicked"))
                .map(|l| format!("{name}: {l}")),
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_are_found_in_every_log_and_named_by_file() {
        // Goal: the no_panics check sees a panic line of any child's log, prefixed with the
        // log's name, and nothing else.
        let logs = tempfile::tempdir().unwrap();
        let panic_line = "thread 'tokio-runtime-worker' panicked at crates/storage/src/log.rs:9";
        std::fs::write(
            logs.path().join("catalog-2.log"),
            format!("started\n{panic_line}\n"),
        )
        .unwrap();
        std::fs::write(logs.path().join("frontend.log"), "started\nstopped\n").unwrap();
        let found = scan_panics(logs.path()).unwrap();
        assert_eq!(found, [format!("catalog-2.log: {panic_line}")]);
        assert!(scan_panics(&logs.path().join("absent")).is_err());
    }
}
