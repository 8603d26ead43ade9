//! A cluster's identity: a random id made when the cluster is bootstrapped, recorded in every
//! replica directory, carried on every peer request, and checked with the peers before Raft
//! starts.
//!
//! Why: a replica started on an emptied directory (or on another cluster's) would otherwise
//! initialize or join a group as if nothing had happened, although Raft forbids a voter
//! forgetting its vote and log: two wiped replicas of three elected a new group whose
//! acknowledged orders later vanished. So:
//! - a group is created only by an explicit bootstrap (`pygmy up` on a data directory without
//!   replica directories or with `--fresh`, or `pygmy serve ... --bootstrap`), which records the
//!   cluster id (from `<data_dir>/cluster_id`) in each new replica directory;
//! - a replica started without bootstrap refuses an empty or missing directory
//!   ([`crate::admission`]), and any start refuses a directory of another cluster;
//! - peers refuse Raft traffic carrying another cluster id ([`CLUSTER_ID_HEADER`], checked by
//!   `peer_routes`);
//! - before Raft starts, a replica greets its reachable peers (`admission`) and refuses to
//!   start if one rejects its token or cluster id. openraft 0.9 has no pre-vote, so a replica
//!   that cannot authenticate would otherwise campaign alone, raise its term, and force a
//!   re-election once it is let in.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Header carrying the sender's cluster id on every peer request.
pub const CLUSTER_ID_HEADER: &str = "x-pygmy-cluster";
/// File of the data directory holding the id a bootstrap records in new replica directories.
pub const CLUSTER_ID_FILE: &str = "cluster_id";
/// `raft_meta` key under which a replica directory records its cluster id (a JSON string).
pub(crate) const CLUSTER_ID_KEY: &[u8] = b"cluster_id";
/// Random bytes of a cluster id (128 bits, 32 hex characters).
const CLUSTER_ID_BYTES: usize = 16;
/// Longest cluster id accepted from a file (a header value must stay short).
const CLUSTER_ID_CHARS_MAX: usize = 64;

/// A new random cluster id.
pub fn new_cluster_id() -> String {
    runtime::tokens::random_hex(CLUSTER_ID_BYTES)
}

/// Whether `id` can be a cluster id: 1 to 64 ASCII letters, digits, `-` or `_`.
fn is_valid_id(id: &str) -> bool {
    (1..=CLUSTER_ID_CHARS_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn id_file_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Config(format!("cluster id file {}: {reason}", path.display()))
}

/// The id in `<data_dir>/cluster_id`, if that file exists.
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or holds no valid id.
pub fn read_id_file(data_dir: &Path) -> Result<Option<String>> {
    let path = data_dir.join(CLUSTER_ID_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(id_file_error(&path, e)),
    };
    let id = text.trim();
    if !is_valid_id(id) {
        return Err(id_file_error(
            &path,
            "holds no cluster id (1 to 64 letters, digits, - or _); `pygmy up --fresh` writes a new one",
        ));
    }
    Ok(Some(id.to_string()))
}

/// Writes a new random id into `<data_dir>/cluster_id` (mode 0600), replacing any; creates the
/// data directory (mode 0700) if needed. Returns the id.
///
/// # Errors
/// [`Error::Config`] if the directory or the file cannot be written.
pub fn write_new_id_file(data_dir: &Path) -> Result<String> {
    let id = new_cluster_id();
    let written = write_temporary(data_dir, &id)?;
    let path = data_dir.join(CLUSTER_ID_FILE);
    std::fs::rename(&written, &path).map_err(|e| id_file_error(&path, e))?;
    Ok(id)
}

/// The id in `<data_dir>/cluster_id`, which is created with a new random id if missing. Replicas
/// bootstrapping at once on one machine all get the first id written: the file appears whole
/// (a hard link of a complete temporary file), or not at all.
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or written.
pub fn ensure_id_file(data_dir: &Path) -> Result<String> {
    if let Some(id) = read_id_file(data_dir)? {
        return Ok(id);
    }
    let id = new_cluster_id();
    let written = write_temporary(data_dir, &id)?;
    let path = data_dir.join(CLUSTER_ID_FILE);
    let linked = std::fs::hard_link(&written, &path);
    let _ = std::fs::remove_file(&written);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_id_file(data_dir)?
            .ok_or_else(|| id_file_error(&path, "vanished while being created")),
        Err(e) => Err(id_file_error(&path, e)),
    }
}

/// Writes `id` into a new temporary file (mode 0600) of `data_dir`; its path.
fn write_temporary(data_dir: &Path, id: &str) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| id_file_error(&data_dir.join(CLUSTER_ID_FILE), e))?;
    let temporary = data_dir.join(format!(".{CLUSTER_ID_FILE}.{}.tmp", new_cluster_id()));
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| id_file_error(&temporary, e))?;
    file.write_all(format!("{id}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| id_file_error(&temporary, e))?;
    Ok(temporary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_file_is_created_once_and_replaced_only_on_purpose() {
        // Goal: ensure_id_file keeps an existing id (every bootstrapping replica gets the same),
        // write_new_id_file replaces it; both 0600; junk in the file is a clear error.
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        assert_eq!(read_id_file(&data).unwrap(), None);
        let first = ensure_id_file(&data).unwrap();
        assert_eq!(first.len(), 2 * CLUSTER_ID_BYTES);
        assert_eq!(ensure_id_file(&data).unwrap(), first);
        let second = write_new_id_file(&data).unwrap();
        assert_ne!(second, first);
        assert_eq!(read_id_file(&data).unwrap(), Some(second));
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
                & 0o777
        };
        assert_eq!(mode(&data.join(CLUSTER_ID_FILE)), 0o600);
        assert_eq!(mode(&data), 0o700);
        let leftovers = std::fs::read_dir(&data).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left");
        std::fs::write(data.join(CLUSTER_ID_FILE), "not an id!\n").unwrap();
        let e = read_id_file(&data).unwrap_err().to_string();
        assert!(e.contains("holds no cluster id"), "{e}");
    }
}
