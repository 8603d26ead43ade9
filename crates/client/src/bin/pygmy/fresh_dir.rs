//! A directory a command fills from nothing (`backup --to`, `restore --data`): it must be
//! missing or empty before, and is emptied again (or removed, if the command made it) when the
//! command fails, so that a failure leaves nothing half-written behind.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// A directory found missing or empty.
#[derive(Debug)]
pub(crate) struct FreshDir {
    path: PathBuf,
    /// Whether it was missing (so undoing removes it).
    was_missing: bool,
}

impl FreshDir {
    /// Checks that `path` is missing or empty; `what` says what it is for, in the error.
    ///
    /// # Errors
    /// It holds something, or cannot be read.
    pub(crate) fn check(path: &Path, what: &str) -> Result<Self> {
        let was_missing = match std::fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "{} is not empty: {what} goes into a new or empty directory; nothing \
                         was changed",
                        path.display()
                    );
                }
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self {
            path: path.to_path_buf(),
            was_missing,
        })
    }

    /// Creates it if it was missing.
    ///
    /// # Errors
    /// It cannot be created.
    pub(crate) fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("cannot create {}", self.path.display()))
    }

    /// Removes what was written into it, and it too if it was missing.
    pub(crate) fn undo(&self) {
        if self.was_missing {
            let _ = std::fs::remove_dir_all(&self.path);
            return;
        }
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = match path.is_dir() {
                    true => std::fs::remove_dir_all(&path),
                    false => std::fs::remove_file(&path),
                };
            }
        }
    }
}
