//! A snapshot's image: every state tree's entries, and its encoding, written and read as a
//! stream so that neither side holds the whole image in memory.
//!
//! Encoding (all integers u64 big-endian): tree count, then per tree its name (length, bytes)
//! and entry count, then per entry key (length, bytes) and value (length, bytes).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::db::ReplicaDb;

/// One tree of an image: its name and its (key, value) entries in key order.
pub type TreeImage = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every state tree's entries, in tree order then key order, in memory (offline inspection and
/// tests; a live replica streams images instead, see [`write_image`] and [`read_image`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateImage {
    /// One per state tree.
    pub trees: Vec<TreeImage>,
}

impl StateImage {
    /// Copies the state trees of `db` as they are now.
    ///
    /// # Errors
    /// A sled read failed.
    pub fn capture(db: &ReplicaDb) -> Result<Self, sled::Error> {
        Self::capture_trees(
            db.state_names
                .iter()
                .copied()
                .zip(db.state.iter().map(Some)),
        )
    }

    /// Copies `(name, tree)` pairs as they are now, in the given order; an absent tree is empty.
    ///
    /// # Errors
    /// A sled read failed.
    pub(crate) fn capture_trees<'a>(
        named: impl IntoIterator<Item = (&'a str, Option<&'a sled::Tree>)>,
    ) -> Result<Self, sled::Error> {
        let mut trees = Vec::new();
        for (name, tree) in named {
            let entries = tree
                .into_iter()
                .flat_map(sled::Tree::iter)
                .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<_, _>>()?;
            trees.push((name.to_string(), entries));
        }
        Ok(Self { trees })
    }

    /// The entries of the tree `name` in key order; none if the image has no such tree.
    pub fn tree(&self, name: &str) -> &[(Vec<u8>, Vec<u8>)] {
        let found = self.trees.iter().find(|(n, _)| n == name);
        found.map_or(&[], |(_, entries)| entries.as_slice())
    }

    /// Encodes the image (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = io::Cursor::new(Vec::new());
        let trees = self.trees.iter().map(|(name, entries)| {
            let entries = entries
                .iter()
                .map(|(k, v)| Ok((k.as_slice(), v.as_slice())));
            (name.as_str(), entries)
        });
        write_image(&mut out, trees).expect("writing to memory never fails");
        out.into_inner()
    }

    /// Decodes an image.
    ///
    /// # Errors
    /// The bytes are truncated or malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut trees: Vec<TreeImage> = Vec::new();
        read_image(bytes, bytes.len() as u64, |item| {
            match item {
                ImageItem::Tree(name) => trees.push((name.to_string(), Vec::new())),
                ImageItem::Entry(k, v) => {
                    let (_, entries) = trees.last_mut().expect("an entry follows its tree");
                    entries.push((k.to_vec(), v.to_vec()));
                }
            }
            Ok(())
        })?;
        Ok(Self { trees })
    }
}

/// Writes an image of `trees` (each a name and its entries in key order) to `out`. Each tree's
/// entry count is written after its entries, by seeking back: sled counts a tree only by a
/// scan, and the entries are read once. Returns the number of entries.
///
/// # Errors
/// Writing failed, or an entry could not be read.
pub(crate) fn write_image<'a, W, T, E>(
    out: &mut W,
    trees: impl ExactSizeIterator<Item = (&'a str, T)>,
) -> io::Result<u64>
where
    W: Write + Seek,
    T: Iterator<Item = io::Result<(E, E)>>,
    E: AsRef<[u8]>,
{
    let mut total = 0;
    put_u64(out, trees.len() as u64)?;
    for (name, entries) in trees {
        put_bytes(out, name.as_bytes())?;
        let count_at = out.stream_position()?;
        put_u64(out, 0)?;
        let mut count = 0u64;
        for entry in entries {
            let (k, v) = entry?;
            put_bytes(out, k.as_ref())?;
            put_bytes(out, v.as_ref())?;
            count += 1;
        }
        let end = out.stream_position()?;
        out.seek(SeekFrom::Start(count_at))?;
        put_u64(out, count)?;
        out.seek(SeekFrom::Start(end))?;
        total += count;
    }
    Ok(total)
}

/// An entry of sled, as [`write_image`] takes it.
pub(crate) fn sled_entries(
    tree: &sled::Tree,
) -> impl Iterator<Item = io::Result<(sled::IVec, sled::IVec)>> + '_ {
    tree.iter().map(|item| item.map_err(io::Error::other))
}

fn put_u64(out: &mut impl Write, n: u64) -> io::Result<()> {
    out.write_all(&n.to_be_bytes())
}

fn put_bytes(out: &mut impl Write, b: &[u8]) -> io::Result<()> {
    put_u64(out, b.len() as u64)?;
    out.write_all(b)
}

/// What [`read_image`] hands over, in image order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageItem<'a> {
    /// The next tree begins: its name.
    Tree(&'a str),
    /// An entry of the current tree: key and value.
    Entry(&'a [u8], &'a [u8]),
}

/// Reads an image of `len` bytes from `r`, handing each tree and entry to `visit` in order. A
/// length is checked against the bytes left before anything is allocated for it, so a damaged
/// or hostile image fails with a message, never with an allocation of its choosing.
///
/// # Errors
/// The image is truncated or malformed, has bytes past its end, reading failed, or `visit`
/// failed (its message).
pub(crate) fn read_image<R: Read>(
    r: R,
    len: u64,
    mut visit: impl FnMut(ImageItem<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let mut r = Reader { r, len, left: len };
    let (mut name, mut key, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let tree_count = r.u64()?;
    for _ in 0..tree_count {
        r.bytes(&mut name)?;
        let name = std::str::from_utf8(&name).map_err(|e| format!("a tree name: {e}"))?;
        visit(ImageItem::Tree(name))?;
        let count = r.u64()?;
        for _ in 0..count {
            r.bytes(&mut key)?;
            r.bytes(&mut value)?;
            visit(ImageItem::Entry(&key, &value))?;
        }
    }
    if r.left != 0 {
        return Err(format!("{} trailing bytes", r.left));
    }
    Ok(())
}

struct Reader<R> {
    r: R,
    len: u64,
    left: u64,
}

impl<R: Read> Reader<R> {
    fn truncated(&self) -> String {
        format!("truncated image at byte {}", self.len - self.left)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let at = self.len - self.left;
        self.r
            .read_exact(buf)
            .map_err(|e| format!("reading the image at byte {at}: {e}"))?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn take(&mut self, n: u64, buf: &mut Vec<u8>) -> Result<(), String> {
        if n > self.left {
            return Err(self.truncated());
        }
        buf.clear();
        buf.resize(usize::try_from(n).map_err(|e| e.to_string())?, 0);
        self.read(buf)
    }

    fn u64(&mut self) -> Result<u64, String> {
        if self.left < 8 {
            return Err(self.truncated());
        }
        let mut b = [0u8; 8];
        self.read(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn bytes(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        let n = self.u64()?;
        self.take(n, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn image_round_trips(trees in proptest::collection::vec(
            ("[a-z]{1,8}", proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..8)),
            0..4,
        )) {
            let image = StateImage { trees };
            prop_assert_eq!(StateImage::decode(&image.encode()).unwrap(), image);
        }

        #[test]
        fn garbage_never_panics(bytes in any::<Vec<u8>>()) {
            let _ = StateImage::decode(&bytes);
        }
    }
}
