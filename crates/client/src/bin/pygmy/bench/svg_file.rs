//! The `--svg` file of `pygmy bench`, opened before the run and written after it.

use std::fs::{File, OpenOptions};
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The SVG file, opened before the run so that a path that cannot be written fails at once
/// rather than after it. Removed again if it was created for a run that drew nothing.
#[derive(Debug)]
pub(crate) struct SvgFile {
    path: PathBuf,
    file: File,
    created: bool,
    written: bool,
}

impl SvgFile {
    /// Opens `path` for writing, keeping what it holds until [`SvgFile::write`].
    ///
    /// # Errors
    /// The file cannot be created or written (missing directory, permissions, a directory).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let created = !path.exists();
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot write the SVG file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            created,
            written: false,
        })
    }

    /// Replaces the file's content with `svg`.
    ///
    /// # Errors
    /// Writing failed.
    pub(crate) fn write(mut self, svg: &str) -> Result<()> {
        let context = || format!("cannot write the SVG file {}", self.path.display());
        self.file.set_len(0).with_context(context)?;
        self.file.rewind().with_context(context)?;
        self.file.write_all(svg.as_bytes()).with_context(context)?;
        self.written = true;
        Ok(())
    }
}

impl Drop for SvgFile {
    fn drop(&mut self) {
        if self.created && !self.written {
            // Best effort: an empty file left behind would only look like a failed drawing.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_a_missing_directory_is_refused_and_a_new_unwritten_one_removed() {
        // Goal: bad paths fail before the run; a run that draws nothing leaves no empty file.
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/g.svg");
        let error = SvgFile::open(&missing).unwrap_err();
        assert!(
            format!("{error:#}").contains("cannot write the SVG file"),
            "{error:#}"
        );
        assert!(
            SvgFile::open(dir.path()).is_err(),
            "a directory is not a file"
        );
        let path = dir.path().join("g.svg");
        drop(SvgFile::open(&path).unwrap());
        assert!(!path.exists());
        SvgFile::open(&path).unwrap().write("<svg/>").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<svg/>");
    }
}
