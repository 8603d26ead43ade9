//! A whole store under test: the catalog and order groups and one frontend (or more), all run
//! by the `pygmy` binary (`pygmy serve catalog|order|frontend`).

use std::path::Path;
use std::time::Duration;

use crate::child::ChildGuard;
use crate::cluster_dir::ClusterDir;
use crate::poll::poll_until;
use crate::ports::free_port;
use crate::replica_set::ReplicaSet;

/// Time allowed for the store to start or settle.
pub const STORE_SETTLE: Duration = Duration::from_secs(30);

/// Catalog and order replicas plus frontends, killed on drop.
#[derive(Debug)]
pub struct Store<'a> {
    /// The catalog group.
    pub catalog: ReplicaSet<'a>,
    /// The order group.
    pub orders: ReplicaSet<'a>,
    /// Each frontend and its address; the first on `[frontend] addr`.
    frontends: Vec<(ChildGuard, String)>,
    dir: &'a ClusterDir,
    client: reqwest::Client,
}

impl<'a> Store<'a> {
    /// Starts every process of `dir`'s cluster with the `pygmy` binary `bin` and waits until both
    /// groups have a leader and the frontend serves the seeded catalog.
    pub async fn start(bin: &Path, dir: &'a ClusterDir) -> Store<'a> {
        Self::start_with_frontends(bin, dir, 1, &[]).await
    }

    /// As [`Store::start`] with `count` frontends (the others on free ports), each started
    /// with `frontend_args` added (e.g. `--no-cache`).
    pub async fn start_with_frontends(
        bin: &Path,
        dir: &'a ClusterDir,
        count: usize,
        frontend_args: &[&str],
    ) -> Store<'a> {
        let catalog = ReplicaSet::start(bin, &["serve", "catalog"], dir, "catalog");
        let orders = ReplicaSet::start(bin, &["serve", "order"], dir, "orders");
        let config = dir.config_path().to_string_lossy().into_owned();
        let frontends = (0..count)
            .map(|k| {
                let addr = match k {
                    0 => dir.frontend_addr().to_string(),
                    _ => format!("127.0.0.1:{}", free_port()),
                };
                let mut args = ["serve", "frontend", "--config", &config, "--addr", &addr]
                    .map(String::from)
                    .to_vec();
                args.extend(frontend_args.iter().map(|a| a.to_string()));
                let log = dir.logs_dir().join(format!("frontend-{}.log", k + 1));
                (ChildGuard::spawn(bin, &args, &log, &[]), addr)
            })
            .collect();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client builds");
        let store = Store {
            catalog,
            orders,
            frontends,
            dir,
            client,
        };
        store.catalog.wait_leader(STORE_SETTLE).await;
        store.orders.wait_leader(STORE_SETTLE).await;
        store.wait_serving().await;
        store
    }

    /// Waits until every frontend is ready (`/ready`: leaders known, cache lease held) and
    /// answers `GET /books` with a non-empty catalog (seeded after the catalog leader's quiet
    /// period).
    pub async fn wait_serving(&self) {
        for k in 0..self.frontends.len() {
            poll_until(
                STORE_SETTLE,
                "the frontend to be ready and serve the catalog",
                || async {
                    let ready = self.client.get(self.frontend_url(k, "/ready")).send().await;
                    if ready.ok()?.status() != reqwest::StatusCode::OK {
                        return None;
                    }
                    let url = self.frontend_url(k, "/books");
                    let resp = self.client.get(url).send().await.ok()?;
                    let body: serde_json::Value = resp.json().await.ok()?;
                    (!body["books"].as_array()?.is_empty()).then_some(())
                },
            )
            .await;
        }
    }

    /// `http://<first frontend><path>`.
    pub fn url(&self, path: &str) -> String {
        self.frontend_url(0, path)
    }

    /// `http://<frontend k><path>`, from 0.
    pub fn frontend_url(&self, k: usize, path: &str) -> String {
        format!("http://{}{path}", self.frontends[k].1)
    }

    /// SIGSTOPs frontend `k`.
    pub fn pause_frontend(&self, k: usize) {
        self.frontends[k].0.pause();
    }

    /// SIGCONTs frontend `k`.
    pub fn resume_frontend(&self, k: usize) {
        self.frontends[k].0.resume();
    }

    /// A client for the public API (no token, no proxy, 30 s timeout).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The admin token of the cluster.
    pub fn admin_token(&self) -> &str {
        self.dir.admin_token()
    }

    /// SIGKILLs the first frontend.
    pub fn kill_frontend(&mut self) {
        self.frontends[0].0.kill();
    }

    /// Panics if any process log contains a panic.
    pub fn assert_no_panics(&self) {
        self.catalog.assert_no_panics();
        self.orders.assert_no_panics();
        for (frontend, addr) in &self.frontends {
            let log = std::fs::read_to_string(frontend.log_path()).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
                panic!("the frontend on {addr} panicked: {line}");
            }
        }
    }
}
