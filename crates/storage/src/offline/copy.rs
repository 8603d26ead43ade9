//! Finding replica directories, probing whether a running replica holds one, and copying one
//! into a private temporary directory. Nothing here writes to the directory it is given.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::error::{Error, Result};

/// The files sled keeps in every database directory (`db` is also the one it locks).
const SLED_FILES: [&str; 2] = ["conf", "db"];
/// Deepest directory level copied below a replica directory: sled uses one (`blobs/`), so
/// anything deeper is not sled's and is not worth following.
const COPY_DEPTH_MAX: usize = 4;

/// What a path given to inspection turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// One replica directory (it holds sled's files).
    Replica(PathBuf),
    /// A data directory: the replica directories inside it, in name order.
    DataDir(Vec<PathBuf>),
}

/// Tells whether `path` is a replica directory or a data directory holding some.
///
/// # Errors
/// [`Error::NotAReplicaDir`] if it does not exist, is not a directory, or holds neither sled's
/// files nor directories that do.
pub fn locate(path: &Path) -> Result<Located> {
    let not_a_replica = |reason: String| Error::NotAReplicaDir {
        path: path.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(path).map_err(|e| not_a_replica(format!("cannot read it: {e}")))?;
    if !meta.is_dir() {
        return Err(not_a_replica("it is a file, not a directory".into()));
    }
    if is_sled_dir(path) {
        return Ok(Located::Replica(path.to_path_buf()));
    }
    let entries = fs::read_dir(path).map_err(|e| not_a_replica(format!("cannot list it: {e}")))?;
    let mut replicas: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| p.is_dir() && is_sled_dir(p))
        .collect();
    if replicas.is_empty() {
        return Err(not_a_replica(
            "it holds no sled files (`conf`, `db`) and no replica directories such as \
             catalog-1 that do"
                .into(),
        ));
    }
    replicas.sort();
    Ok(Located::DataDir(replicas))
}

/// Whether `dir` holds any of sled's files (a damaged one may have lost the other).
fn is_sled_dir(dir: &Path) -> bool {
    SLED_FILES.iter().any(|f| dir.join(f).is_file())
}

/// The group and replica id a directory's name gives (`<group>-<id>`, as `Cluster::replica_dir`
/// names them), if it has that form.
pub fn replica_dir_name(dir: &Path) -> Option<(String, u64)> {
    let name = dir.file_name()?.to_str()?;
    let (group, id) = name.rsplit_once('-')?;
    Some((group.to_string(), id.parse().ok()?))
}

/// Whether a running process holds sled's lock on `dir/db`.
///
/// Probes with a non-blocking *shared* lock, released at once: it fails exactly while another
/// process holds sled's exclusive lock, and never blocks. A replica starting during that instant
/// would find the lock taken and refuse to start (it says so); the window is a few microseconds.
pub fn probe_in_use(dir: &Path) -> bool {
    // Read-only: opening for the probe must not change the file.
    let Ok(file) = File::open(dir.join("db")) else {
        return false;
    };
    match fs2::FileExt::try_lock_shared(&file) {
        Ok(()) => {
            let _ = fs2::FileExt::unlock(&file);
            false
        }
        Err(e) => {
            e.kind() == io::ErrorKind::WouldBlock
                || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
        }
    }
}

/// Copies the replica directory `source` into a new private temporary directory; returns it and
/// the number of bytes copied.
///
/// A file that disappears while being copied (a running replica removing an old sled snapshot)
/// is skipped: the copy is then what a crash at that moment would have left.
///
/// # Errors
/// [`Error::CopyFailed`] naming the file that could not be read or written.
pub(crate) fn copy_to_temp(source: &Path) -> Result<(TempDir, u64)> {
    let temp = tempfile::Builder::new()
        .prefix("pygmy-inspect-")
        .tempdir()
        .map_err(|e| Error::CopyFailed {
            path: std::env::temp_dir(),
            source: e,
        })?;
    let bytes = copy_tree(source, temp.path(), 0)?;
    Ok((temp, bytes))
}

fn copy_tree(from: &Path, to: &Path, depth: usize) -> Result<u64> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::CopyFailed { path, source }
    };
    let mut bytes = 0;
    for entry in fs::read_dir(from).map_err(failed(from))? {
        let entry = entry.map_err(failed(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(failed(&src))?;
        if kind.is_dir() && depth < COPY_DEPTH_MAX {
            fs::create_dir(&dst).map_err(failed(&dst))?;
            bytes += copy_tree(&src, &dst, depth + 1)?;
        } else if kind.is_file() {
            match fs::copy(&src, &dst) {
                Ok(n) => bytes += n,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed(&src)(e)),
            }
        }
        // Anything else (a link, a socket) is not sled's: left out.
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_empty_dirs_and_data_dirs_are_told_apart() {
        // Goal: locate names what a path is, and refuses what holds no replica.
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        fs::write(&file, b"x").unwrap();
        let refused = |p: &Path| locate(p).unwrap_err().to_string();
        assert!(refused(&file).contains("is a file"), "{}", refused(&file));
        assert!(refused(root.path()).contains("holds no sled files"));
        assert!(refused(&root.path().join("absent")).contains("cannot read it"));
        let replica = root.path().join("orders-2");
        fs::create_dir(&replica).unwrap();
        fs::write(replica.join("db"), b"").unwrap();
        let expected = Located::DataDir(vec![replica.clone()]);
        assert_eq!(locate(root.path()).unwrap(), expected);
        assert_eq!(locate(&replica).unwrap(), Located::Replica(replica.clone()));
        assert_eq!(replica_dir_name(&replica), Some(("orders".into(), 2)));
        assert_eq!(replica_dir_name(root.path().join("x").as_path()), None);
    }

    #[test]
    fn a_held_lock_is_seen_and_a_free_one_left_free() {
        // Goal: the probe sees sled's exclusive lock and leaves no lock behind.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        fs::write(&db, b"").unwrap();
        assert!(!probe_in_use(dir.path()));
        let holder = fs::OpenOptions::new().write(true).open(&db).unwrap();
        fs2::FileExt::try_lock_exclusive(&holder).unwrap();
        assert!(probe_in_use(dir.path()));
        fs2::FileExt::unlock(&holder).unwrap();
        assert!(!probe_in_use(dir.path()));
        fs2::FileExt::try_lock_exclusive(&holder).expect("the probe released its lock");
    }
}
