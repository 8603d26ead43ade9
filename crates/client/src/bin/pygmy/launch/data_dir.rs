//! The data directory of a launch: what Pygmy keeps there, preparing it for a start, and
//! `pygmy up --fresh`, which removes what earlier runs left there.
//!
//! Only what Pygmy creates there is removed (`<group>-<id>` replica directories, `logs/`,
//! `tokens.toml`, `cluster_id`); anything else is left alone and named, so that `--data ~` by mistake costs
//! nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use storage::identity::CLUSTER_ID_FILE;

use runtime::tokens::TOKENS_FILE;

/// Removes Pygmy's entries of `data_dir` (a missing directory is fine), naming each on stderr.
///
/// # Errors
/// The directory or an entry cannot be read or removed.
pub(crate) fn clear(data_dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", data_dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", data_dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        if !is_pygmy_entry(&name.to_string_lossy()) {
            eprintln!(
                "pygmy up: --fresh: left {} alone (not made by pygmy)",
                path.display()
            );
            continue;
        }
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("cannot remove {}", path.display()))?;
        eprintln!("pygmy up: --fresh: removed {}", path.display());
    }
    Ok(())
}

/// The replica directories (`<group>-<id>`) in `data_dir`, in name order; none if it does not
/// exist.
///
/// # Errors
/// The directory cannot be read.
pub(crate) fn replica_dirs(data_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", data_dir.display())),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", data_dir.display()))?;
        if is_replica_dir_name(&entry.file_name().to_string_lossy()) {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// `<data_dir>/logs`, where every child logs.
pub(crate) fn logs(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Creates the data directory and its `logs/` (mode 0700) if missing, and tells whether this
/// start bootstraps a new cluster: it does when the data directory holds no replica directory
/// (a first run, or after `--fresh`), and then gets a new `<data_dir>/cluster_id`. Otherwise
/// replicas resume their directories, and one whose directory is missing refuses to start.
///
/// # Errors
/// The directories or the id file cannot be made.
pub(crate) fn prepare(data_dir: &Path) -> Result<bool> {
    use std::os::unix::fs::DirBuilderExt as _;
    let logs = logs(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&logs)
        .with_context(|| format!("cannot create {}", logs.display()))?;
    if !replica_dirs(data_dir)?.is_empty() {
        return Ok(false);
    }
    let id = storage::identity::write_new_id_file(data_dir)?;
    eprintln!(
        "pygmy up: bootstrapping a new cluster (id {id}) in {}",
        data_dir.display()
    );
    Ok(true)
}

/// Whether `name` is a replica directory's (`catalog-1`, `orders-3`).
fn is_replica_dir_name(name: &str) -> bool {
    name.split_once('-').is_some_and(|(group, id)| {
        matches!(group, "catalog" | "orders")
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Whether `name` is something Pygmy creates in a data directory.
fn is_pygmy_entry(name: &str) -> bool {
    is_replica_dir_name(name) || name == "logs" || name == TOKENS_FILE || name == CLUSTER_ID_FILE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pygmy_entries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["catalog-1/db", "orders-12", "logs", "catalog-x", "mine"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join(TOKENS_FILE), "").unwrap();
        std::fs::write(dir.path().join(CLUSTER_ID_FILE), "").unwrap();
        let replicas = replica_dirs(dir.path()).unwrap();
        assert_eq!(
            replicas,
            [dir.path().join("catalog-1"), dir.path().join("orders-12")]
        );
        clear(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["catalog-x", "mine"]);
        clear(&dir.path().join("absent")).unwrap();
    }

    #[test]
    fn only_a_directory_without_replicas_bootstraps() {
        // Goal: a start gets a new cluster id (and its replicas `--bootstrap`) only when the
        // data directory holds no replica directory, so that a restart never bootstraps again.
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(prepare(&data).unwrap(), "a missing directory bootstraps");
        let mode = std::fs::metadata(logs(&data)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(data.join(CLUSTER_ID_FILE).is_file());
        std::fs::create_dir(data.join("catalog-1")).unwrap();
        assert!(!prepare(&data).unwrap(), "a replica directory resumes");
    }
}
