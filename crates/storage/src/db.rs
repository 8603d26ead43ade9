//! One replica's sled database: the Raft trees, the state trees, the flusher, the digest, and
//! the metric handles its storage records into.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use crate::digest::{StateDigest, STATE_DIGEST};
use crate::error::{Error, Result};
use crate::flusher::Flusher;
use crate::metrics::StoreMetrics;

/// Raft log: log index (u64 big-endian) -> serialized entry.
pub const RAFT_LOG: &str = "raft_log";
/// Raft metadata: `vote`, `committed`, `last_purged`.
pub const RAFT_META: &str = "raft_meta";
/// State-machine metadata: `last_applied`, `membership`, snapshot.
pub const SM_META: &str = "sm_meta";

/// Runs `f`, turning a panic inside it into `Err(message)`: sled may panic rather than fail on a
/// damaged directory, and that must be a clear error, not a dead process.
///
/// # Errors
/// `f` panicked; the panic's message.
pub fn guard_sled<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    runtime::process::catch_panic(f)
        .map_err(|why| why.unwrap_or_else(|| "sled panicked while recovering the directory".into()))
}

/// A replica's sled `Db` with its trees opened, its group-commit flusher and its metrics.
#[derive(Clone, Debug)]
pub struct ReplicaDb {
    pub(crate) db: sled::Db,
    pub(crate) raft_log: sled::Tree,
    pub(crate) raft_meta: sled::Tree,
    pub(crate) sm_meta: sled::Tree,
    pub(crate) state_names: &'static [&'static str],
    pub(crate) state: Vec<sled::Tree>,
    pub(crate) flusher: Flusher,
    pub(crate) metrics: StoreMetrics,
    path: PathBuf,
}

impl ReplicaDb {
    /// Opens (creating if needed) the replica directory `path` with these state trees; its
    /// flushes, applies and snapshots record into `metrics`.
    ///
    /// Must run inside a tokio runtime (it spawns the flusher).
    ///
    /// # Errors
    /// [`Error::DataDirLocked`] if another process has it open, [`Error::DataDirUnreadable`] if
    /// sled cannot recover it.
    pub fn open(
        path: &Path,
        cache_bytes: u64,
        state_names: &'static [&'static str],
        metrics: StoreMetrics,
    ) -> Result<Self> {
        let unreadable = |reason: String| Error::DataDirUnreadable {
            path: path.to_path_buf(),
            reason,
        };
        // Private whatever the umask: the directory holds customer data, and sled would create
        // it with the default mode.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| unreadable(format!("cannot create it: {e}")))?;
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500));
        let opened = guard_sled(|| config.open());
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
                return Err(Error::DataDirLocked {
                    path: path.to_path_buf(),
                })
            }
            Ok(Err(e)) => return Err(unreadable(e.to_string())),
            Err(panic) => return Err(unreadable(panic)),
        };
        let open_tree = |name: &str| db.open_tree(name).map_err(|e| unreadable(e.to_string()));
        let opened = Self {
            raft_log: open_tree(RAFT_LOG)?,
            raft_meta: open_tree(RAFT_META)?,
            sm_meta: open_tree(SM_META)?,
            state: state_names
                .iter()
                .map(|n| open_tree(n))
                .collect::<Result<_>>()?,
            state_names,
            flusher: Flusher::spawn(db.clone(), metrics.flush.clone()),
            metrics,
            db,
            path: path.to_path_buf(),
        };
        opened.store_digest_if_missing()?;
        Ok(opened)
    }

    /// Stores the state digest by a scan if none is stored: a new directory (empty state), or
    /// one written before the digest was kept by each apply. Not flushed: it is derived from
    /// the state, and written again with every apply.
    fn store_digest_if_missing(&self) -> Result<()> {
        if self.sm_meta.get(STATE_DIGEST)?.is_some() {
            return Ok(());
        }
        let named = self
            .state_names
            .iter()
            .copied()
            .zip(self.state.iter().map(Some));
        let digest = StateDigest::scan(named)?;
        self.sm_meta.insert(STATE_DIGEST, &digest.to_bytes()[..])?;
        Ok(())
    }

    /// The replica directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns once every earlier write is on disk (group commit).
    ///
    /// # Errors
    /// The flush failed.
    pub async fn flush(&self) -> Result<()> {
        Ok(self.flusher.flush().await?)
    }

    /// The state digest as the last apply left it (see [`crate::digest`]): O(1).
    ///
    /// # Panics
    /// If sled cannot read it, or what is stored is not a digest: the directory is corrupt.
    pub fn digest(&self) -> String {
        let raw = self
            .sm_meta
            .get(STATE_DIGEST)
            .unwrap_or_else(|e| panic!("reading the state digest: {e}"));
        raw.as_deref()
            .and_then(StateDigest::from_bytes)
            .expect("the state digest is stored when the Db opens")
            .hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_open_reports_the_lock() {
        // Goal: a directory in use gives DataDirLocked, not a panic or a generic error.
        let dir = tempfile::tempdir().unwrap();
        let _first =
            ReplicaDb::open(dir.path(), 1 << 20, &["books"], StoreMetrics::unrecorded()).unwrap();
        let second = ReplicaDb::open(dir.path(), 1 << 20, &["books"], StoreMetrics::unrecorded());
        assert!(
            matches!(second, Err(Error::DataDirLocked { .. })),
            "{second:?}"
        );
    }

    #[tokio::test]
    async fn garbage_directory_is_unreadable_not_a_panic() {
        // Goal: random bytes where sled expects its files give a clear error.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("conf"), b"\x00\x01garbage\xff").unwrap();
        std::fs::write(dir.path().join("db"), vec![0xAB; 4096]).unwrap();
        let opened = ReplicaDb::open(dir.path(), 1 << 20, &["books"], StoreMetrics::unrecorded());
        assert!(
            matches!(opened, Err(Error::DataDirUnreadable { .. })),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn a_directory_without_a_stored_digest_gets_the_digest_of_its_state() {
        // Goal: a directory written before digests were kept (state, no digest) opens with the
        // digest of its state, equal to a scan, and only state trees count.
        let dir = tempfile::tempdir().unwrap();
        let db =
            ReplicaDb::open(dir.path(), 1 << 20, &["books"], StoreMetrics::unrecorded()).unwrap();
        let empty = db.digest();
        db.state[0].insert(b"k", b"v").unwrap();
        db.raft_log.insert(b"x", b"y").unwrap();
        // As `open` finds such a directory (reopening here would race the flusher's lock).
        db.sm_meta.remove(STATE_DIGEST).unwrap();
        db.store_digest_if_missing().unwrap();
        let mut expected = StateDigest::default();
        expected.add("books", b"k", b"v");
        assert_eq!(db.digest(), expected.hex());
        assert_ne!(db.digest(), empty);
    }
}
