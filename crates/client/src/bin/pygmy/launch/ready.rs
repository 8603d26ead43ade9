//! Waiting until a launched cluster can serve: both groups have a leader, every frontend says
//! it is ready and the catalog's books are seeded; a child that exits meanwhile ends the wait.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use client::PygmyClient;
use runtime::GroupName;

use super::children::Children;
use super::data_dir;
use super::leader::group_leader;
use super::start::Started;

/// How long the cluster gets to elect both leaders and bring the frontend up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Interval between two readiness checks.
const READY_POLL: Duration = Duration::from_millis(250);
/// Timeout of one `/status` or `/health` request while waiting.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Polls until both groups report a leader, every frontend answers `/health` and the catalog's
/// books are seeded; the leaders.
///
/// # Errors
/// A child exited, or [`READY_TIMEOUT`] passed.
pub(crate) async fn wait_ready(started: &Started, children: &mut Children) -> Result<(u64, u64)> {
    let (cluster, frontends) = (&started.cluster, &started.frontends);
    // The replicas started, which after `pygmy member` changes need not be the configured ones.
    let catalog_addrs = started.replica_addrs(GroupName::Catalog);
    let order_addrs = started.replica_addrs(GroupName::Orders);
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(PROBE_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")?;
    let frontends = frontends
        .iter()
        .map(|addr| PygmyClient::with_timeout(addr, PROBE_TIMEOUT))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut shown = String::new();
    loop {
        if let Some((name, status, log)) = children.newly_exited().into_iter().next() {
            let said = children
                .last_words(&name)
                .map_or_else(String::new, |words| format!(": {words}"));
            bail!(
                "{name} exited while the cluster was starting ({status}){said}; see its log {}",
                log.display()
            );
        }
        let token = &cluster.cluster_token;
        let catalog = group_leader(&http, token, &catalog_addrs).await;
        let orders = group_leader(&http, token, &order_addrs).await;
        // Ready: both leaders known and, when caching, a lease held.
        let mut frontend_up = true;
        for frontend in &frontends {
            frontend_up &= frontend.ready().await.is_ok_and(|r| r.ready);
        }
        // A new catalog leader seeds the books through the log after its quiet period: until
        // then every lookup would be a 404.
        let seeded = match (catalog, frontends.first()) {
            (Some(_), Some(first)) if frontend_up => first
                .search(None)
                .await
                .is_ok_and(|books| !books.is_empty()),
            _ => false,
        };
        let show = |l: Option<u64>| l.map_or("none yet".into(), |id| id.to_string());
        let state = if frontend_up { "ready" } else { "starting" };
        let books = if seeded { "seeded" } else { "not yet" };
        let progress = format!(
            "catalog leader: {}, orders leader: {}, frontend: {state}, books: {books}",
            show(catalog),
            show(orders)
        );
        if progress != shown {
            eprintln!("pygmy up: {progress}");
            shown = progress;
        }
        if let (Some(c), Some(o), true) = (catalog, orders, seeded) {
            return Ok((c, o));
        }
        if tokio::time::Instant::now() >= deadline {
            let logs = data_dir::logs(&cluster.data_dir);
            bail!(
                "the cluster was not ready within {READY_TIMEOUT:?} ({shown}); see the logs in {}",
                logs.display()
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
