//! A whole store under test: the catalog and order groups and one frontend, all run by the
//! `pygmy` binary (`pygmy serve catalog|order|frontend`).

use std::path::Path;
use std::time::Duration;

use crate::child::ChildGuard;
use crate::cluster_dir::ClusterDir;
use crate::poll::poll_until;
use crate::replica_set::ReplicaSet;

/// Time allowed for the store to start or settle.
pub const STORE_SETTLE: Duration = Duration::from_secs(30);

/// Catalog and order replicas plus a frontend, killed on drop.
#[derive(Debug)]
pub struct Store<'a> {
    /// The catalog group.
    pub catalog: ReplicaSet<'a>,
    /// The order group.
    pub orders: ReplicaSet<'a>,
    frontend: ChildGuard,
    dir: &'a ClusterDir,
    client: reqwest::Client,
}

impl<'a> Store<'a> {
    /// Starts every process of `dir`'s cluster with the `pygmy` binary `bin` and waits until both
    /// groups have a leader and the frontend serves the seeded catalog.
    pub async fn start(bin: &Path, dir: &'a ClusterDir) -> Store<'a> {
        let catalog = ReplicaSet::start(bin, &["serve", "catalog"], dir, "catalog");
        let orders = ReplicaSet::start(bin, &["serve", "order"], dir, "orders");
        let config = dir.config_path().to_string_lossy().into_owned();
        let args = ["serve", "frontend", "--config", config.as_str()].map(String::from);
        let frontend = ChildGuard::spawn(bin, &args, &dir.logs_dir().join("frontend.log"), &[]);
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client builds");
        let store = Store {
            catalog,
            orders,
            frontend,
            dir,
            client,
        };
        store.catalog.wait_leader(STORE_SETTLE).await;
        store.orders.wait_leader(STORE_SETTLE).await;
        store.wait_serving().await;
        store
    }

    /// Waits until the frontend answers `GET /books` with a non-empty catalog.
    pub async fn wait_serving(&self) {
        poll_until(
            STORE_SETTLE,
            "the frontend to serve the catalog",
            || async {
                let resp = self.client.get(self.url("/books")).send().await.ok()?;
                let body: serde_json::Value = resp.json().await.ok()?;
                (!body["books"].as_array()?.is_empty()).then_some(())
            },
        )
        .await;
    }

    /// `http://<frontend><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.dir.frontend_addr())
    }

    /// A client for the public API (no token, no proxy, 30 s timeout).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The admin token of the cluster.
    pub fn admin_token(&self) -> &str {
        self.dir.admin_token()
    }

    /// SIGKILLs the frontend.
    pub fn kill_frontend(&mut self) {
        self.frontend.kill();
    }

    /// Panics if any process log contains a panic.
    pub fn assert_no_panics(&self) {
        self.catalog.assert_no_panics();
        self.orders.assert_no_panics();
        let log = std::fs::read_to_string(self.frontend.log_path()).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
            panic!("the frontend panicked: {line}");
        }
    }
}
