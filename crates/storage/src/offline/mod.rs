//! Offline inspection of replica directories, through a private copy.
//!
//! Opening a sled Db takes an exclusive lock and runs recovery, which may write (DESIGN.md
//! section 3), so nothing here opens the directory it is given. [`ReplicaCopy::open`] probes
//! whether a running replica holds it (a non-blocking shared lock attempt on its `db` file,
//! released at once), copies it into a private temporary directory, and opens the copy, with
//! sled's panics on damaged files turned into errors ([`crate::db::guard_sled`]).
//!
//! Layout:
//! - [`copy`]: is a path a replica or a data directory; the lock probe; the copy.
//! - [`decode`](mod@decode): keys and values as a person reads them.
//! - [`summary`]: what a replica holds: trees, vote, log range, positions, snapshot, digest.
//! - [`verify`]: invariants of the log and Raft metadata, and the state replayed from the log.
//! - [`replay`]: the log replayed (from the start, or onto the last snapshot); differences
//!   between two states.
//! - [`InspectMachine`]: what a service adds: decoding its values, checking its invariants.

pub mod copy;
pub mod decode;
pub mod replay;
pub mod summary;
pub mod verify;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::TempDir;

use crate::db::{guard_sled, RAFT_LOG, RAFT_META, SM_META};
use crate::digest::StateDigest;
use crate::error::{Error, Result};
use crate::machine::ServiceMachine;
use crate::snapshot::StateImage;

pub use copy::{locate, probe_in_use, replica_dir_name, Located};
pub use decode::{decode, decode_entry, decode_json, key_kind, tree_key, Decoded, KeyKind};
pub use replay::{differences, Applied, Difference, Replay};
pub use summary::Summary;
pub use verify::{Report, Skipped};

/// sled page cache of a copy: inspection reads each page about once.
const COPY_CACHE_BYTES: u64 = 8 << 20;
/// The trees of every replica, whatever its group.
pub const RAFT_TREES: [&str; 3] = [RAFT_LOG, RAFT_META, SM_META];
/// sled's own default tree, which Pygmy does not use.
const SLED_DEFAULT_TREE: &[u8] = b"__sled__default";

/// What a service adds to offline inspection: how its keys and values read, and its invariants.
pub trait InspectMachine: ServiceMachine + Sized {
    /// Names of the invariants [`InspectMachine::check_state`] checks, for the report.
    const STATE_CHECKS: &'static [&'static str];
    /// Names of the invariants [`InspectMachine::check_replay`] checks, for the report.
    const REPLAY_CHECKS: &'static [&'static str] = &[];

    /// How the keys of state tree `tree` are encoded.
    fn key_kind(tree: &str) -> KeyKind;

    /// A value of state tree `tree`, decoded into its type and shown as JSON.
    ///
    /// # Errors
    /// The value does not decode; why.
    fn decode_value(tree: &str, value: &[u8]) -> std::result::Result<serde_json::Value, String>;

    /// One line saying what a command of the log does.
    fn describe(command: &Self::Command) -> String;

    /// The invariants of the state alone (every value decodes included).
    fn check_state(state: &StateImage) -> Vec<Violation>;

    /// The invariants relating the state to the commands that made it.
    fn check_replay(replay: &Replay<Self>, state: &StateImage) -> Vec<Violation> {
        let _ = (replay, state);
        Vec::new()
    }
}

/// A broken invariant, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant, as named in the report's list of checks.
    pub check: &'static str,
    /// The offending key, as `tree/key`.
    pub key: String,
    /// What is wrong, with the values involved.
    pub problem: String,
}

impl Violation {
    /// A violation of `check` at `key`.
    pub fn new(check: &'static str, key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            check,
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// A private, opened copy of a replica directory.
pub struct ReplicaCopy {
    // Declared before `copy`: fields drop in order, so sled closes its files before the
    // temporary directory is removed.
    db: sled::Db,
    copy: TempDir,
    source: PathBuf,
    in_use: bool,
    disk_bytes: u64,
}

impl std::fmt::Debug for ReplicaCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaCopy")
            .field("source", &self.source)
            .field("copy", &self.copy.path())
            .field("in_use", &self.in_use)
            .finish()
    }
}

impl ReplicaCopy {
    /// Copies the replica directory `source` privately and opens the copy; `source` itself is
    /// only read (and its lock probed with a shared lock attempt released at once).
    ///
    /// # Errors
    /// [`Error::NotAReplicaDir`] if it is no replica directory (no sled files, or no Raft trees),
    /// [`Error::CopyFailed`], or [`Error::DataDirUnreadable`] if sled cannot recover the copy.
    pub fn open(source: &Path) -> Result<Self> {
        if locate(source)? != Located::Replica(source.to_path_buf()) {
            return Err(Error::NotAReplicaDir {
                path: source.to_path_buf(),
                reason: "it is a data directory: give one of the replica directories in it".into(),
            });
        }
        let in_use = copy::probe_in_use(source);
        let (copy, disk_bytes) = copy::copy_to_temp(source)?;
        let config = sled::Config::new()
            .path(copy.path())
            .cache_capacity(COPY_CACHE_BYTES)
            // No background flusher thread: nothing is written but what recovery writes.
            .flush_every_ms(None);
        let unreadable = |reason: String| Error::DataDirUnreadable {
            path: source.to_path_buf(),
            reason,
        };
        let db = match guard_sled(|| config.open()) {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(unreadable(e.to_string())),
            Err(panic) => return Err(unreadable(format!("sled panicked: {panic}"))),
        };
        let this = Self {
            db,
            copy,
            source: source.to_path_buf(),
            in_use,
            disk_bytes,
        };
        let missing: Vec<&str> = RAFT_TREES
            .into_iter()
            .filter(|t| !this.has_tree(t))
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotAReplicaDir {
                path: this.source,
                reason: format!(
                    "its sled database has no {} tree (it is empty, truncated, or not Pygmy's)",
                    missing.join(", ")
                ),
            });
        }
        Ok(this)
    }

    /// The directory given (never opened).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Whether a running process held the directory when it was copied: the copy may then be
    /// mid-write (it is what a crash at that moment would leave).
    pub fn in_use(&self) -> bool {
        self.in_use
    }

    /// Bytes of the directory's files.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// Names of the trees in the database, sorted (sled's own default tree left out).
    pub fn tree_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .db
            .tree_names()
            .into_iter()
            .filter(|n| n.as_ref() != SLED_DEFAULT_TREE)
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .collect();
        names.sort();
        names
    }

    /// Whether the database has a tree of this name.
    pub fn has_tree(&self, name: &str) -> bool {
        self.db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == name.as_bytes())
    }

    /// Runs sled reads of the copy; sled errors and panics become [`Error::DataDirUnreadable`].
    fn read<T>(&self, f: impl FnOnce() -> sled::Result<T>) -> Result<T> {
        let reason = match guard_sled(f) {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.to_string(),
            Err(panic) => format!("sled panicked: {panic}"),
        };
        Err(Error::DataDirUnreadable {
            path: self.source.clone(),
            reason,
        })
    }

    /// The tree of this name, if the database has it (never creates one).
    fn tree(&self, name: &str) -> Result<Option<sled::Tree>> {
        if !self.has_tree(name) {
            return Ok(None);
        }
        self.read(|| self.db.open_tree(name)).map(Some)
    }

    /// The value under `key` in `tree`.
    pub(crate) fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(tree) = self.tree(tree)? else {
            return Ok(None);
        };
        self.read(|| Ok(tree.get(key)?.map(|v| v.to_vec())))
    }

    /// Up to `limit` entries of `tree` in key order, from `from` on (every one if `None`); none
    /// if there is no such tree.
    ///
    /// # Errors
    /// [`Error::DataDirUnreadable`] if sled cannot read it.
    pub fn entries(
        &self,
        tree: &str,
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let Some(tree) = self.tree(tree)? else {
            return Ok(Vec::new());
        };
        self.read(|| {
            tree.range(from.unwrap_or_default()..)
                .take(limit)
                .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect()
        })
    }

    /// Every entry of the trees `names`, in that order (an absent tree is empty).
    ///
    /// # Errors
    /// [`Error::DataDirUnreadable`] if sled cannot read them.
    pub fn image(&self, names: &[&str]) -> Result<StateImage> {
        let trees = self.trees(names)?;
        let named = names.iter().copied().zip(trees.iter().map(Option::as_ref));
        self.read(|| StateImage::capture_trees(named))
    }

    /// The state digest over the state trees `names`, by a scan: equal to the one a live
    /// replica keeps by applying and reports in `/status`, so the two can be compared.
    ///
    /// # Errors
    /// [`Error::DataDirUnreadable`] if sled cannot read them.
    pub fn digest(&self, names: &[&str]) -> Result<String> {
        let trees = self.trees(names)?;
        let named = names.iter().copied().zip(trees.iter().map(Option::as_ref));
        self.read(|| StateDigest::scan(named).map(StateDigest::hex))
    }

    fn trees(&self, names: &[&str]) -> Result<Vec<Option<sled::Tree>>> {
        names.iter().map(|n| self.tree(n)).collect()
    }
}
