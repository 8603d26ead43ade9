//! One replica's sled database: the Raft trees, the state trees, the flusher and the digest.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::flusher::Flusher;

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

/// A replica's sled `Db` with its trees opened, and its group-commit flusher.
#[derive(Clone, Debug)]
pub struct ReplicaDb {
    pub(crate) db: sled::Db,
    pub(crate) raft_log: sled::Tree,
    pub(crate) raft_meta: sled::Tree,
    pub(crate) sm_meta: sled::Tree,
    pub(crate) state_names: &'static [&'static str],
    pub(crate) state: Vec<sled::Tree>,
    pub(crate) flusher: Flusher,
    path: PathBuf,
}

impl ReplicaDb {
    /// Opens (creating if needed) the replica directory `path` with these state trees.
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
        Ok(Self {
            raft_log: open_tree(RAFT_LOG)?,
            raft_meta: open_tree(RAFT_META)?,
            sm_meta: open_tree(SM_META)?,
            state: state_names
                .iter()
                .map(|n| open_tree(n))
                .collect::<Result<_>>()?,
            state_names,
            flusher: Flusher::spawn(db.clone()),
            db,
            path: path.to_path_buf(),
        })
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

    /// Hex SHA-256 (first 16 bytes) of every state tree's name, keys and values, in order.
    ///
    /// Replicas at the same applied index have equal digests exactly when their states are equal.
    pub fn digest(&self) -> String {
        let trees = self
            .state_names
            .iter()
            .copied()
            .zip(self.state.iter().map(Some));
        digest_trees(trees).unwrap_or_else(|e| panic!("reading the state trees: {e}"))
    }
}

/// The state digest of [`ReplicaDb::digest`] over `(name, tree)` pairs in state-tree order; an
/// absent tree counts as empty (a live replica creates every state tree, empty at first).
///
/// # Errors
/// A sled read failed.
pub(crate) fn digest_trees<'a>(
    trees: impl IntoIterator<Item = (&'a str, Option<&'a sled::Tree>)>,
) -> sled::Result<String> {
    let mut hasher = Sha256::new();
    for (name, tree) in trees {
        hash_chunk(&mut hasher, name.as_bytes());
        for item in tree.into_iter().flat_map(sled::Tree::iter) {
            let (k, v) = item?;
            hash_chunk(&mut hasher, &k);
            hash_chunk(&mut hasher, &v);
        }
    }
    Ok(hex::encode(&hasher.finalize()[..16]))
}

// Length-prefixed, so that ("ab","c") and ("a","bc") hash differently.
fn hash_chunk(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_open_reports_the_lock() {
        // Goal: a directory in use gives DataDirLocked, not a panic or a generic error.
        let dir = tempfile::tempdir().unwrap();
        let _first = ReplicaDb::open(dir.path(), 1 << 20, &["books"]).unwrap();
        let second = ReplicaDb::open(dir.path(), 1 << 20, &["books"]);
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
        let opened = ReplicaDb::open(dir.path(), 1 << 20, &["books"]);
        assert!(
            matches!(opened, Err(Error::DataDirUnreadable { .. })),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn digest_follows_state_only() {
        // Goal: equal state gives equal digests; a changed value changes it.
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let da = ReplicaDb::open(a.path(), 1 << 20, &["books"]).unwrap();
        let db = ReplicaDb::open(b.path(), 1 << 20, &["books"]).unwrap();
        da.state[0].insert(b"k", b"v").unwrap();
        db.state[0].insert(b"k", b"v").unwrap();
        db.raft_log.insert(b"x", b"y").unwrap();
        assert_eq!(da.digest(), db.digest());
        db.state[0].insert(b"k", b"w").unwrap();
        assert_ne!(da.digest(), db.digest());
    }
}
