//! Backups (#15): a group's state copied from a live replica as a snapshot image (see
//! `replica::backup` for how a replica gives one), the manifest of a backup of both groups, its
//! check, and the replica directories of a new cluster made from it.
//!
//! A backup is a directory: `manifest.json` and one image file per group, in the snapshot image
//! encoding (`snapshot::image`). The manifest records, per group, the snapshot's last log id,
//! the image's size, SHA-256, entry count and state digest (the digest `/status` shows), so a
//! damaged or truncated file is found before anything is restored from it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use openraft::storage::SnapshotMeta;
use openraft::{BasicNode, Membership, StoredMembership, Vote};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::db::ReplicaDb;
use crate::digest::StateDigest;
use crate::error::{Error, Result};
use crate::identity::CLUSTER_ID_KEY;
use crate::log_store::{COMMITTED, LAST_PURGED, VOTE};
use crate::metrics::StoreMetrics;
use crate::snapshot::{self, read_image, ImageItem, Installing, SnapshotFiles};
use crate::state_machine::json;
use crate::types::{LogId, ReplicaId};

/// Route of a replica that answers a backup of its group (`POST`, cluster token).
pub const BACKUP_PATH: &str = "/raft/backup";
/// Header of a backup answer carrying its [`SnapshotHead`] as JSON; the body is the image.
pub const SNAPSHOT_HEAD_HEADER: &str = "x-pygmy-snapshot";
/// File name of a backup's manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the backup layout this code writes and reads.
pub const FORMAT: u32 = 1;

/// What a replica says of the image it sends for a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHead {
    /// Group name.
    pub group: String,
    /// The last log entry the image holds the effect of.
    pub last_log_id: LogId,
    /// openraft's snapshot id.
    pub snapshot_id: String,
    /// The linearizable read index the image is at or after: every write acknowledged before the
    /// backup was asked for is in it.
    pub read_index: u64,
    /// The group's members when the snapshot was taken: id -> `host:port`.
    pub members: BTreeMap<ReplicaId, String>,
}

/// One group in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBackup {
    /// What the replica said of its image.
    pub head: SnapshotHead,
    /// The image's file name in the backup directory.
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Entries in its trees.
    pub entries: u64,
    /// The state digest of its entries (as `/status` and `pygmy inspect` show digests).
    pub state_digest: String,
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The Pygmy version that wrote it.
    pub pygmy_version: String,
    /// When the backup began, Unix milliseconds.
    pub started_unix_ms: u64,
    /// When it was complete, Unix milliseconds.
    pub finished_unix_ms: u64,
    /// The id of the cluster it was taken from.
    pub cluster_id: String,
    /// The groups, in the order they were taken (orders first: see the README).
    pub groups: Vec<GroupBackup>,
}

impl Manifest {
    /// The backup of `group`, if there is one.
    pub fn group(&self, group: &str) -> Option<&GroupBackup> {
        self.groups.iter().find(|g| g.head.group == group)
    }
}

/// What an image file holds: size, SHA-256, entries, state digest, trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Entries in its trees.
    pub entries: u64,
    /// The state digest of its entries.
    pub state_digest: String,
    /// Its trees, in order.
    pub trees: Vec<String>,
}

/// Reads the image at `path` through, checking its encoding; what it holds.
///
/// # Errors
/// [`Error::BadBackup`] if it cannot be read or is malformed.
pub fn summarize_image(path: &Path) -> Result<ImageSummary> {
    let bad = |reason: String| Error::BadBackup {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| bad(e.to_string()))?;
    let bytes = file.metadata().map_err(|e| bad(e.to_string()))?.len();
    let mut hashing = HashingReader {
        inner: BufReader::with_capacity(1 << 16, file),
        sha: Sha256::new(),
    };
    let mut digest = StateDigest::default();
    let mut trees: Vec<String> = Vec::new();
    let mut entries = 0;
    read_image(&mut hashing, bytes, |item| {
        match item {
            ImageItem::Tree(name) => trees.push(name.to_string()),
            ImageItem::Entry(key, value) => {
                digest.add(trees.last().expect("an entry follows its tree"), key, value);
                entries += 1;
            }
        }
        Ok(())
    })
    .map_err(bad)?;
    Ok(ImageSummary {
        bytes,
        sha256: hex::encode(hashing.sha.finalize()),
        entries,
        state_digest: digest.hex(),
        trees,
    })
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the manifest of the backup in `dir` and checks every image it names against it (size,
/// SHA-256, entries, state digest) and against the trees its group has (`trees_of`).
///
/// # Errors
/// [`Error::BadBackup`] naming the first thing wrong.
pub fn verify(
    dir: &Path,
    trees_of: impl Fn(&str) -> Option<&'static [&'static str]>,
) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bad = |path: &Path, reason: String| Error::BadBackup {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(&path).map_err(|e| bad(&path, e.to_string()))?;
    let manifest: Manifest =
        serde_json::from_slice(&raw).map_err(|e| bad(&path, format!("it does not decode: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(
            &path,
            format!("format {} (this version reads {FORMAT})", manifest.format),
        ));
    }
    let names: BTreeSet<&str> = manifest
        .groups
        .iter()
        .map(|g| g.head.group.as_str())
        .collect();
    if names.len() != manifest.groups.len() || names.is_empty() {
        return Err(bad(
            &path,
            format!("its groups {names:?} repeat or are missing"),
        ));
    }
    for group in &manifest.groups {
        let file = checked_file_name(dir, &group.file).map_err(|reason| bad(&path, reason))?;
        let summary = summarize_image(&file)?;
        let expected = trees_of(&group.head.group)
            .ok_or_else(|| bad(&path, format!("unknown group {}", group.head.group)))?;
        let differs = |what: &str, found: String, recorded: String| {
            bad(
                &file,
                format!("its {what} is {found}, the manifest says {recorded}"),
            )
        };
        if summary.bytes != group.bytes {
            return Err(differs(
                "size",
                summary.bytes.to_string(),
                group.bytes.to_string(),
            ));
        }
        if summary.sha256 != group.sha256 {
            return Err(differs("SHA-256", summary.sha256, group.sha256.clone()));
        }
        if summary.entries != group.entries {
            return Err(differs(
                "entry count",
                summary.entries.to_string(),
                group.entries.to_string(),
            ));
        }
        if summary.state_digest != group.state_digest {
            return Err(differs(
                "state digest",
                summary.state_digest,
                group.state_digest.clone(),
            ));
        }
        if summary.trees != expected {
            return Err(differs(
                "tree list",
                format!("{:?}", summary.trees),
                format!("{expected:?}"),
            ));
        }
    }
    Ok(manifest)
}

/// `dir/name`, once `name` is a plain file name (a manifest must not point elsewhere).
fn checked_file_name(dir: &Path, name: &str) -> std::result::Result<PathBuf, String> {
    let plain = Path::new(name)
        .file_name()
        .is_some_and(|f| f == name && !name.starts_with('.'));
    if !plain {
        return Err(format!("image file name {name:?} is not a plain file name"));
    }
    Ok(dir.join(name))
}

/// A new replica directory `dir` (of replica `id`) of cluster `cluster_id` holding the backed-up state of `group`
/// (its image at `image`) as its snapshot, with `members` as the group's membership at the
/// snapshot's log id, and an empty log after it: started, it serves that state and elects a
/// leader with its new peers. Nothing of the source cluster's membership or identity is kept.
/// The state digest of the new directory.
///
/// # Errors
/// `dir` is not empty, or sled or a file failed.
pub fn seed_replica_dir(
    dir: &Path,
    id: ReplicaId,
    state_trees: &'static [&'static str],
    cluster_id: &str,
    group: &GroupBackup,
    image: &Path,
    members: &BTreeMap<ReplicaId, String>,
) -> Result<String> {
    let failed = |reason: String| Error::BadBackup {
        path: dir.to_path_buf(),
        reason,
    };
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| failed(e.to_string()))?
            .next()
            .is_some()
    {
        return Err(failed("it is not empty".into()));
    }
    let db = ReplicaDb::open(dir, 1 << 24, state_trees, StoreMetrics::unrecorded())?;
    let last = group.head.last_log_id;
    db.raft_meta
        .insert(CLUSTER_ID_KEY, json(&cluster_id.to_string()))?;
    db.raft_meta.insert(LAST_PURGED, json(&last))?;
    db.raft_meta.insert(COMMITTED, json(&Some(last)))?;
    // A vote of the snapshot's term: the new group's first election is for a later term, whose
    // leader openraft requires to be above the last log id's (a vote of term 0 trips it).
    db.raft_meta
        .insert(VOTE, json(&Vote::new(last.leader_id.term, id)))?;
    let files = SnapshotFiles::open(dir).map_err(|e| failed(e.to_string()))?;
    let seq = db.db.generate_id()?;
    let (part, mut out) = files.incoming(seq).map_err(|e| failed(e.to_string()))?;
    let mut src = File::open(image).map_err(|e| failed(format!("{}: {e}", image.display())))?;
    std::io::copy(&mut src, &mut out).map_err(|e| failed(e.to_string()))?;
    out.sync_all().map_err(|e| failed(e.to_string()))?;
    let name = SnapshotFiles::new_name(seq);
    files
        .adopt(&part, &name)
        .map_err(|e| failed(e.to_string()))?;
    let nodes: BTreeMap<ReplicaId, BasicNode> = members
        .iter()
        .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
        .collect();
    let voters: BTreeSet<ReplicaId> = members.keys().copied().collect();
    let installing = Installing {
        meta: SnapshotMeta {
            last_log_id: Some(last),
            last_membership: StoredMembership::new(
                Some(last),
                Membership::new(vec![voters], nodes),
            ),
            snapshot_id: format!("restored-{}", group.head.snapshot_id),
        },
        image: name,
    };
    snapshot::check_image(&files, &installing.image, state_trees).map_err(failed)?;
    snapshot::install(&db, &files, &installing).map_err(failed)?;
    db.db.flush()?;
    Ok(db.digest())
}
