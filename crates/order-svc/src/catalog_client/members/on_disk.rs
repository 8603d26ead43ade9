//! The catalog addresses on disk, so that an order replica still finds the catalog group after
//! a restart when every configured address is gone (`pygmy member replace` moved all three):
//! - `<order replica dir>/catalog-members.json`: the catalog leader's view the client last
//!   followed, rewritten whenever the followed addresses change;
//! - the catalog replicas' own `members.json` records, when they share the order replica's data
//!   directory (the processes of `pygmy up` or chaos on one machine): what a brand-new order
//!   replica, which has no view kept yet, can ask.
//!
//! Both are hints, never the truth (that is the catalog's Raft log): an address read here is
//! asked for the leader's view like any other, and the kept view's `(term, config_index)` still
//! refuses a view ordered before it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use runtime::GroupName;
use serde::{Deserialize, Serialize};
use storage::{members_file, whole_file};

use super::CatalogAddrs;
use crate::catalog_client::CatalogClient;
use crate::error::{Error, Result};

/// The kept view's file name in the order replica directory.
const VIEW_FILE: &str = "catalog-members.json";

/// Where the catalog client keeps its view and finds the catalog replicas' records.
#[derive(Debug, Clone)]
pub struct CatalogDirs {
    /// The order replica's own directory: where the followed view is kept.
    pub replica_dir: PathBuf,
    /// The cluster's data directory: where catalog replicas started on this machine keep their
    /// records (`catalog-<id>/members.json`).
    pub data_dir: PathBuf,
}

/// A followed view as kept: where it comes from and its members' addresses, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeptView {
    /// Term of the catalog leader whose view it is.
    pub(super) term: u64,
    /// Log index of the membership entry it shows.
    pub(super) config_index: u64,
    /// Its members' `host:port`.
    pub(super) addrs: Vec<String>,
}

impl KeptView {
    /// `(term, config_index)`: how views are ordered.
    pub(super) fn source(&self) -> (u64, u64) {
        (self.term, self.config_index)
    }
}

/// The view kept in `replica_dir`, if there is one.
///
/// # Errors
/// [`Error::CatalogViewUnreadable`]: it cannot be read, does not decode or names no member.
pub(super) fn read(replica_dir: &Path) -> Result<Option<KeptView>> {
    let path = replica_dir.join(VIEW_FILE);
    let unreadable = |reason: String| Error::CatalogViewUnreadable {
        path: path.clone(),
        reason,
    };
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    let view: KeptView =
        serde_json::from_slice(&raw).map_err(|e| unreadable(format!("it does not decode: {e}")))?;
    if view.addrs.is_empty() {
        return Err(unreadable("it names no member".into()));
    }
    Ok(Some(view))
}

/// The view kept in `replica_dir`; `None` when there is none, or when it cannot be used: the
/// replica then starts from the configured addresses, as one without a kept view does.
pub(super) fn load(replica_dir: &Path) -> Option<KeptView> {
    match read(replica_dir) {
        Ok(Some(view)) => {
            let (term, config_index, addrs) = (view.term, view.config_index, view.addrs.join(", "));
            tracing::info!(
                term,
                config_index,
                addrs,
                "calling the catalog members kept from the last run"
            );
            Some(view)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "kept catalog view not used; calling the configured replicas");
            None
        }
    }
}

/// Writes the followed view into the replica directory: one write at a time, never a view
/// over a newer one.
#[derive(Debug)]
pub(super) struct ViewKeeper {
    replica_dir: PathBuf,
    /// Source of the view in the file. A std lock held through the write, on a blocking thread:
    /// two writes at once would share the temporary file, and the later may be the older view.
    written: Mutex<Option<(u64, u64)>>,
}

impl ViewKeeper {
    /// A keeper of the view in `replica_dir`, where the view of source `written` is (if any).
    pub(super) fn new(replica_dir: PathBuf, written: Option<(u64, u64)>) -> Self {
        Self {
            replica_dir,
            written: Mutex::new(written),
        }
    }

    /// Writes `view` unless the file holds one not ordered before it; returns whether it wrote.
    /// Blocks on the disk: call it on a blocking thread.
    ///
    /// # Errors
    /// The file cannot be written (the one there, if any, stays whole).
    pub(super) fn keep(&self, view: &KeptView) -> std::io::Result<bool> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.is_some_and(|w| w >= view.source()) {
            return Ok(false);
        }
        let bytes = serde_json::to_vec_pretty(view).expect("a kept view serializes");
        whole_file::write(&self.replica_dir, VIEW_FILE, &bytes)?;
        *written = Some(view.source());
        Ok(true)
    }
}

/// The member addresses of the newest catalog record in `data_dir`, in id order; none when no
/// catalog replica keeps its directory there. An unreadable one is skipped (logged at debug:
/// every look reads them, and a look has other addresses to ask).
pub(super) fn recorded_addrs_in(data_dir: &Path) -> Vec<String> {
    match members_file::latest(data_dir, GroupName::Catalog) {
        Ok(Some(record)) => record.members.into_values().collect(),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "catalog membership records not read");
            Vec::new()
        }
    }
}

impl CatalogAddrs {
    /// The view followed now, as the keeper writes it, with the keeper; `None` when the
    /// client keeps no view or follows none.
    pub(super) fn to_keep(&self) -> Option<(Arc<ViewKeeper>, KeptView)> {
        let keeper = Arc::clone(self.keeper.as_ref()?);
        let followed = self.followed.read().unwrap_or_else(PoisonError::into_inner);
        let (term, config_index) = followed.source?;
        let addrs = followed.addrs.to_vec();
        let view = KeptView {
            term,
            config_index,
            addrs,
        };
        Some((keeper, view))
    }
}

impl CatalogClient {
    /// The member addresses the catalog replicas sharing this replica's data directory record;
    /// read on a blocking thread (a directory listing and a few small files).
    pub(super) async fn recorded_addrs(&self) -> Vec<String> {
        let Some(data_dir) = self.addrs.data_dir.clone() else {
            return Vec::new();
        };
        tokio::task::spawn_blocking(move || recorded_addrs_in(&data_dir))
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, "the catalog membership records reader failed");
                Vec::new()
            })
    }

    /// Writes the view followed now into the replica directory, on a blocking thread (it
    /// syncs the file); a failure is logged, and the view is still followed in memory.
    pub(super) async fn keep_view(&self) {
        let Some((keeper, view)) = self.addrs.to_keep() else {
            return;
        };
        match tokio::task::spawn_blocking(move || keeper.keep(&view)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write {}", VIEW_FILE),
            Err(e) => tracing::warn!(error = %e, "the {} writer failed", VIEW_FILE),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use storage::members_file::{MembersRecord, MEMBERS_FILE};
    use tokio::time::Instant;

    use super::*;
    use crate::catalog_client::ReserveAnswer;
    use crate::testutil::{catalog_view, dead_addr, reserve, FakeCatalog};

    fn kept(term: u64, addrs: &[&str]) -> KeptView {
        KeptView {
            term,
            config_index: term * 10,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The directories of order replica 1 in a fresh data directory.
    fn dirs(data: &tempfile::TempDir) -> CatalogDirs {
        let replica_dir = data.path().join("orders-1");
        std::fs::create_dir(&replica_dir).unwrap();
        CatalogDirs {
            replica_dir,
            data_dir: data.path().to_path_buf(),
        }
    }

    #[test]
    fn a_kept_view_reads_back_and_is_never_overwritten_by_an_older_one() {
        // Goal: what the keeper writes is what a restart reads; a view ordered before (or
        // equal to) the one in the file is not written, a newer one is.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let keeper = ViewKeeper::new(dir.path().to_path_buf(), None);
        assert!(keeper.keep(&kept(5, &["a:1", "b:4"])).unwrap());
        assert_eq!(read(dir.path()).unwrap(), Some(kept(5, &["a:1", "b:4"])));
        assert!(!keeper.keep(&kept(4, &["a:1", "a:2"])).unwrap());
        assert!(!keeper.keep(&kept(5, &["a:1", "b:4"])).unwrap());
        assert_eq!(read(dir.path()).unwrap(), Some(kept(5, &["a:1", "b:4"])));
        let restarted = ViewKeeper::new(dir.path().to_path_buf(), Some((5, 50)));
        assert!(!restarted.keep(&kept(5, &["a:1", "b:4"])).unwrap());
        assert!(restarted.keep(&kept(6, &["b:4", "b:5"])).unwrap());
        assert_eq!(read(dir.path()).unwrap(), Some(kept(6, &["b:4", "b:5"])));
    }

    #[test]
    fn an_unusable_kept_view_is_an_error_and_is_not_loaded() {
        // Goal: a file that does not decode, or names no member, is refused by `read` and
        // gives no view to `load` (the replica starts from its configured addresses).
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            &b"{\"term\": 5"[..],
            br#"{"term":5,"config_index":50,"addrs":[]}"#,
        ] {
            std::fs::write(dir.path().join(VIEW_FILE), bad).unwrap();
            let error = read(dir.path()).unwrap_err();
            assert!(
                matches!(error, Error::CatalogViewUnreadable { .. }),
                "{error}"
            );
            assert_eq!(load(dir.path()), None);
        }
    }

    #[tokio::test]
    async fn a_restarted_client_calls_the_kept_members_first_and_refuses_an_older_view() {
        // Goal: the view a client followed survives a restart: a client built anew from the
        // same directory, configured only with a dead address, calls the followed member and
        // still refuses a view ordered before the one kept. Method: the first client learns
        // replica 6's view through a look; the second never looks before its reservation.
        let data = tempfile::tempdir().unwrap();
        let new = FakeCatalog::start().await;
        new.set_view(catalog_view(6, Some(6), 6, &[(6, new.addr.as_str())]));
        let gone = dead_addr().await;
        let configured = vec![gone.clone(), new.addr.clone()];
        let dirs = dirs(&data);
        let first = CatalogClient::with_dirs(configured, "token".into(), dirs.clone());
        first.look(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(&*first.addrs.current(), [new.addr.as_str()]);
        drop(first);

        let second = Arc::new(CatalogClient::with_dirs(
            vec![gone.clone()],
            "token".into(),
            dirs,
        ));
        assert_eq!(&*second.addrs.current(), [new.addr.as_str()]);
        assert_eq!(second.addrs.to_ask(&[]), [new.addr.clone(), gone.clone()]);
        let older = catalog_view(1, Some(1), 5, &[(1, gone.as_str())]);
        assert!(second.addrs.follow(&older).is_err());
        let answer = reserve(&second).await;
        assert!(matches!(answer, ReserveAnswer::Held(_)), "{answer:?}");
        assert_eq!(new.reserves(), 1);
    }

    #[tokio::test]
    async fn a_corrupt_kept_view_leaves_the_configured_addresses_and_is_replaced() {
        // Goal: a kept view that does not decode does not stop the client: it calls the
        // configured addresses, and the first view it follows replaces the file, even one
        // naming just those addresses.
        let data = tempfile::tempdir().unwrap();
        let dirs = dirs(&data);
        std::fs::write(dirs.replica_dir.join(VIEW_FILE), b"\0 not json").unwrap();
        let catalog = FakeCatalog::start().await;
        let gone = dead_addr().await;
        let members = [(1, gone.as_str()), (2, catalog.addr.as_str())];
        catalog.set_view(catalog_view(2, Some(2), 7, &members));
        let configured = vec![gone.clone(), catalog.addr.clone()];
        let replica_dir = dirs.replica_dir.clone();
        let client = CatalogClient::with_dirs(configured.clone(), "token".into(), dirs);
        assert_eq!(&*client.addrs.current(), configured.as_slice());
        client.look(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(
            read(&replica_dir).unwrap(),
            Some(kept(7, &[gone.as_str(), catalog.addr.as_str()]))
        );
    }

    #[tokio::test]
    async fn a_restarted_client_whose_configured_replicas_are_all_gone_reserves_at_the_kept_ones() {
        // Goal: the defect this file fixes: every configured catalog replica is gone (moved by
        // `member replace`), and the replica restarted; its reservation is held at the member
        // its kept view names. Method: the live catalog answers no view, so only the kept
        // address can reach it.
        let data = tempfile::tempdir().unwrap();
        let dirs = dirs(&data);
        let catalog = FakeCatalog::start().await;
        let keeper = ViewKeeper::new(dirs.replica_dir.clone(), None);
        keeper.keep(&kept(9, &[catalog.addr.as_str()])).unwrap();
        let configured = vec![dead_addr().await, dead_addr().await, dead_addr().await];
        let client = Arc::new(CatalogClient::with_dirs(configured, "token".into(), dirs));
        let answer = reserve(&client).await;
        assert!(matches!(answer, ReserveAnswer::Held(_)), "{answer:?}");
        assert_eq!(catalog.reserves(), 1);
    }

    #[tokio::test]
    async fn a_new_client_asks_the_catalog_replicas_recorded_in_its_data_directory() {
        // Goal: a brand-new order replica (no kept view) whose configured catalog replicas are
        // all gone learns the members from a catalog replica's `members.json` in the shared
        // data directory, holds its reservation there, and keeps the view it followed.
        let data = tempfile::tempdir().unwrap();
        let dirs = dirs(&data);
        let catalog = FakeCatalog::start().await;
        catalog.set_view(catalog_view(6, Some(6), 6, &[(6, catalog.addr.as_str())]));
        let record = MembersRecord {
            group: "catalog".into(),
            config_index: 60,
            members: BTreeMap::from([(6, catalog.addr.clone())]),
            voters: vec![6],
        };
        let catalog_dir = data.path().join("catalog-6");
        std::fs::create_dir(&catalog_dir).unwrap();
        let bytes = serde_json::to_vec(&record).unwrap();
        whole_file::write(&catalog_dir, MEMBERS_FILE, &bytes).unwrap();
        let replica_dir = dirs.replica_dir.clone();
        let configured = vec![dead_addr().await, dead_addr().await];
        let client = Arc::new(CatalogClient::with_dirs(configured, "token".into(), dirs));
        let answer = reserve(&client).await;
        assert!(matches!(answer, ReserveAnswer::Held(_)), "{answer:?}");
        assert_eq!(catalog.reserves(), 1);
        assert_eq!(
            read(&replica_dir).unwrap(),
            Some(kept(6, &[catalog.addr.as_str()]))
        );
    }
}
