//! Snapshot images on disk, in `<replica dir>/snapshots/`: each written whole to a `.part` file,
//! synced, then renamed to its name, so that a crash leaves the previous image or the new one
//! and never half of one. sled's metadata names the current image ([`super::SNAPSHOT_FILE`]);
//! any other file there is left over and removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::image::{sled_entries, write_image};

/// The directory of a replica's snapshot images, below its replica directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Suffix of an image still being written or received.
const PART: &str = ".part";

/// A replica's snapshot directory.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotFiles {
    dir: PathBuf,
}

impl SnapshotFiles {
    /// The snapshot directory of the replica directory `replica_dir`, created (private) if
    /// missing, with any `.part` file a crash left behind removed.
    ///
    /// # Errors
    /// It cannot be created or listed.
    pub(crate) fn open(replica_dir: &Path) -> io::Result<Self> {
        let dir = replica_dir.join(SNAPSHOTS_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let files = Self { dir };
        files.remove_where(|name| name.ends_with(PART))?;
        Ok(files)
    }

    /// The path of the image `name`.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The name of a new image numbered `seq` (unique per replica: sled's `generate_id`).
    pub(crate) fn new_name(seq: u64) -> String {
        format!("snapshot-{seq:020}.img")
    }

    /// Writes the image of `trees` as they are now to the new image `name`; its size in bytes
    /// and its entry count.
    ///
    /// # Errors
    /// Reading a tree or writing, syncing or renaming the file failed.
    pub(crate) fn write(&self, name: &str, trees: &[(&str, sled::Tree)]) -> io::Result<(u64, u64)> {
        self.write_with(name, |file| {
            let mut out = BufWriter::new(file);
            let entries = trees.iter().map(|(n, t)| (*n, sled_entries(t)));
            let count = write_image(&mut out, entries)?;
            out.flush()?;
            Ok(count)
        })
    }

    /// Writes all of `bytes` to the new image `name` (an image stored by an older version inside
    /// sled, moved out to a file).
    ///
    /// # Errors
    /// Writing, syncing or renaming failed.
    pub(crate) fn write_bytes(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_with(name, |mut file| file.write_all(bytes))
            .map(|_| ())
    }

    /// The one way an image is written here: `fill` writes a `.part` file, which is then synced
    /// and renamed to `name`; its size in bytes and what `fill` returned.
    fn write_with<T>(
        &self,
        name: &str,
        fill: impl FnOnce(&File) -> io::Result<T>,
    ) -> io::Result<(u64, T)> {
        let part = self.path(&format!("{name}{PART}"));
        let file = create_private(&part)?;
        let filled = fill(&file)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        self.adopt(&part, name)?;
        Ok((bytes, filled))
    }

    /// A new `.part` file to receive an image into (any other `.part` file is removed: openraft
    /// receives one snapshot at a time, so an older one was abandoned); its path and the file.
    ///
    /// # Errors
    /// The file cannot be created.
    pub(crate) fn incoming(&self, seq: u64) -> io::Result<(PathBuf, File)> {
        self.remove_where(|name| name.ends_with(PART))?;
        let path = self.path(&format!("incoming-{seq:020}{PART}"));
        let file = create_private(&path)?;
        Ok((path, file))
    }

    /// Renames the written and synced file `part` to the image `name`, durably.
    ///
    /// # Errors
    /// The rename or the directory sync failed.
    pub(crate) fn adopt(&self, part: &Path, name: &str) -> io::Result<()> {
        fs::rename(part, self.path(name))?;
        File::open(&self.dir)?.sync_all()
    }

    /// Removes every image but `name` (best effort: a file left over costs only disk space).
    /// `.part` files are left alone: one may be a snapshot being received.
    pub(crate) fn keep_only(&self, name: &str) {
        if let Err(e) = self.remove_where(|other| other != name && !other.ends_with(PART)) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove old snapshot images");
        }
    }

    fn remove_where(&self, doomed: impl Fn(&str) -> bool) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_str().is_some_and(&doomed) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Creates (or truncates) `path` readable and writable by its owner only: images hold
/// customer data, like the sled files beside them.
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::image::StateImage;

    #[test]
    fn an_image_written_from_sled_reads_back_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("books").unwrap();
        tree.insert(b"k1", b"v1").unwrap();
        tree.insert(b"k2", b"v2").unwrap();
        let empty = db.open_tree("orders").unwrap();
        let files = SnapshotFiles::open(dir.path()).unwrap();
        let trees = [("books", tree), ("orders", empty)];
        files.write("a.img", &trees).unwrap();
        let (bytes, entries) = files.write("b.img", &trees).unwrap();
        assert_eq!(entries, 2);
        let read = fs::read(files.path("b.img")).unwrap();
        assert_eq!(read.len() as u64, bytes);
        let image = StateImage::decode(&read).unwrap();
        assert_eq!(image.tree("books").len(), 2);
        assert_eq!(image.tree("orders").len(), 0);
        let (part, _file) = files.incoming(7).unwrap();
        files.keep_only("b.img");
        assert!(!files.path("a.img").exists());
        assert!(files.path("b.img").exists());
        assert!(part.exists(), "a snapshot being received is kept");
        let reopened = SnapshotFiles::open(dir.path()).unwrap();
        assert!(
            !part.exists(),
            "a start removes what a crash left half-received"
        );
        assert!(reopened.path("b.img").exists());
    }
}
