//! A small file replaced whole: readers and a crash see the old contents or the new, never a
//! mix. For copies kept beside a replica's data (`members_file`, an order replica's catalog
//! view), rewritten rarely.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `<dir>/<name>` whole: into `<name>.part`, synced, then renamed over it.
/// Two writers of the same file must not run at once (they share the temporary file).
///
/// # Errors
/// The temporary file cannot be created, written or synced, or the rename fails.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let part = dir.join(format!("{name}.part"));
    let mut file = std::fs::File::create(&part)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&part, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_one() {
        // Goal: the second write replaces the first's contents whole, and only the file itself
        // is left in the directory.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "f.json", b"first, and longer").unwrap();
        write(dir.path(), "f.json", b"second").unwrap();
        assert_eq!(std::fs::read(dir.path().join("f.json")).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.json"]);
    }
}
