//! A temporary cluster directory: `cluster.toml`, `data/` and `logs/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::ports::{free_port, free_port_pair};

/// Cluster token written into every test `cluster.toml`.
pub const CLUSTER_TOKEN: &str = "test-cluster-token";
/// Admin token written into every test `cluster.toml`.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// `[storage] sled_cache_bytes` of test clusters (8 MiB).
const SLED_CACHE_BYTES: u64 = 8_388_608;

/// A temporary cluster directory: a cluster.toml with fresh loopback ports, tokens, data dir and logs dir.
///
/// Deleted on drop, except while the thread is panicking: then it is kept and its path is
/// printed to stderr so the failure can be inspected.
#[derive(Debug)]
pub struct ClusterDir {
    /// `None` once dropped.
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    config_path: PathBuf,
    catalog: Vec<String>,
    orders: Vec<String>,
    frontend: String,
}

impl ClusterDir {
    /// Writes cluster.toml with `catalog` catalog replicas and `orders` order replicas (each >= 1), a frontend, `data_dir = <dir>/data`,
    /// `cluster_token = "test-cluster-token"`, `admin_token = "test-admin-token"`, and the given extra TOML lines
    /// written verbatim into the `[raft]` table. Every other setting is the embedded default
    /// (the repository's `cluster.toml`), which the services merge under this file.
    /// `[storage] sled_cache_bytes = 8388608`.
    pub fn new(catalog: usize, orders: usize, raft_overrides: &[&str]) -> ClusterDir {
        assert!(
            catalog >= 1 && orders >= 1,
            "ClusterDir::new needs at least one replica per group (got catalog = {catalog}, orders = {orders})"
        );
        let dir = tempfile::Builder::new()
            .prefix("pygmy-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary cluster directory: {e}"));
        let root = dir.path().to_path_buf();
        for sub in ["data", "logs"] {
            let path = root.join(sub);
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        }
        let addrs = |n: usize| -> Vec<String> {
            (0..n)
                .map(|_| format!("127.0.0.1:{}", free_port()))
                .collect()
        };
        let this = ClusterDir {
            config_path: root.join("cluster.toml"),
            catalog: addrs(catalog),
            orders: addrs(orders),
            // The next port too: `pygmy up --frontends 2` takes it for the second frontend.
            frontend: format!("127.0.0.1:{}", free_port_pair()),
            root,
            dir: Some(dir),
        };
        let text = this.render(raft_overrides);
        std::fs::write(&this.config_path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", this.config_path.display()));
        this
    }

    /// The text of `cluster.toml`.
    fn render(&self, raft_overrides: &[&str]) -> String {
        let mut t = String::new();
        let data_dir = self.data_dir().to_string_lossy().into_owned();
        let _ = writeln!(t, "data_dir = {}", toml_str(&data_dir));
        let _ = writeln!(t, "cluster_token = {}", toml_str(CLUSTER_TOKEN));
        let _ = writeln!(t, "admin_token = {}", toml_str(ADMIN_TOKEN));
        let _ = writeln!(t, "\n[frontend]\naddr = {}", toml_str(&self.frontend));
        for (group, addrs) in [("catalog", &self.catalog), ("orders", &self.orders)] {
            let list: Vec<String> = addrs.iter().map(|a| toml_str(a)).collect();
            let _ = writeln!(t, "\n[{group}]\nreplicas = [{}]", list.join(", "));
        }
        t.push_str("\n[raft]\n");
        for line in raft_overrides {
            let _ = writeln!(t, "{line}");
        }
        let _ = writeln!(t, "\n[storage]\nsled_cache_bytes = {SLED_CACHE_BYTES}");
        t
    }

    /// Path of `cluster.toml`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temporary directory's root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<root>/data`, the cluster's `data_dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `<root>/logs`, where replica logs go.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The cluster token (`test-cluster-token`).
    pub fn token(&self) -> &str {
        CLUSTER_TOKEN
    }

    /// The admin token (`test-admin-token`).
    pub fn admin_token(&self) -> &str {
        ADMIN_TOKEN
    }

    /// `127.0.0.1:PORT` of every replica of `group` (`catalog` or `orders`); id = index + 1.
    pub fn addrs(&self, group: &str) -> &[String] {
        match group {
            "catalog" => &self.catalog,
            "orders" => &self.orders,
            other => panic!("unknown group {other:?}: expected \"catalog\" or \"orders\""),
        }
    }

    /// `127.0.0.1:PORT` of the frontend.
    pub fn frontend_addr(&self) -> &str {
        &self.frontend
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if std::thread::panicking() {
            let kept = dir.keep();
            eprintln!(
                "test-support: test failed; cluster directory kept at {}",
                kept.display()
            );
        }
    }
}

/// A TOML basic string (JSON string escapes are valid TOML ones).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_has_every_address_and_the_overrides() {
        let dir = ClusterDir::new(
            3,
            2,
            &["snapshot_logs_since_last = 20", "snapshot_logs_kept = 0"],
        );
        let text = std::fs::read_to_string(dir.config_path()).unwrap();
        assert_eq!(dir.addrs("catalog").len(), 3);
        assert_eq!(dir.addrs("orders").len(), 2);
        let all: Vec<&String> = dir
            .addrs("catalog")
            .iter()
            .chain(dir.addrs("orders"))
            .collect();
        for addr in all.iter().copied().chain([&dir.frontend]) {
            assert!(addr.starts_with("127.0.0.1:"), "{addr}");
            assert_eq!(text.matches(addr.as_str()).count(), 1, "{addr} in\n{text}");
        }
        assert_eq!(
            text.matches("snapshot_logs_since_last").count(),
            1,
            "{text}"
        );
        assert!(text.contains("snapshot_logs_since_last = 20"), "{text}");
        assert!(text.contains("snapshot_logs_kept = 0\n"), "{text}");
        assert!(
            text.contains("cluster_token = \"test-cluster-token\""),
            "{text}"
        );
        assert!(dir.data_dir().is_dir() && dir.logs_dir().is_dir());
    }

    #[test]
    fn directory_is_deleted_on_drop() {
        let dir = ClusterDir::new(1, 1, &[]);
        let root = dir.path().to_path_buf();
        assert!(root.join("cluster.toml").is_file());
        drop(dir);
        assert!(!root.exists());
    }

    #[test]
    fn directory_is_kept_when_panicking() {
        let root = std::sync::Mutex::new(PathBuf::new());
        let result = std::panic::catch_unwind(|| {
            let dir = ClusterDir::new(1, 1, &[]);
            *root.lock().unwrap() = dir.path().to_path_buf();
            panic!("deliberate");
        });
        assert!(result.is_err());
        let root = root.into_inner().unwrap();
        assert!(root.join("cluster.toml").is_file());
        std::fs::remove_dir_all(root).unwrap();
    }
}
