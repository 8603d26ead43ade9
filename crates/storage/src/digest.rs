//! The state digest: one 128-bit fingerprint of every state tree's entries, kept up to date by
//! each apply instead of computed by a scan.
//!
//! It is a sum (mod 2^128) of one hash per entry, `SHA-256(tree, key, value)` cut to 16 bytes, so
//! it does not depend on the order entries were written in: an apply adds the hashes of what it
//! writes and subtracts those of what it overwrites or removes, in the same transaction as
//! `last_applied`, and a scan of the trees (offline inspection, a check of the stored value)
//! gives the same number. `/status` then costs the same at a million orders as at none.
//!
//! Replicas at the same applied index have equal digests when their states are equal, and
//! different ones with overwhelming probability otherwise. A sum of hashes resists accidental
//! collisions, not a forger who picks entries to cancel out: it checks that replicas agree, it
//! authenticates nothing.

use sha2::{Digest as _, Sha256};

/// `sm_meta` key of the stored digest (16 bytes, big-endian).
pub(crate) const STATE_DIGEST: &[u8] = b"state_digest";

/// The digest of a set of `(tree, key, value)` entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateDigest(u128);

impl StateDigest {
    /// Adds the entry `key` = `value` of `tree`.
    pub fn add(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.0 = self.0.wrapping_add(entry_hash(tree, key, value));
    }

    /// Takes out the entry `key` = `value` of `tree`, added before.
    pub fn remove(&mut self, tree: &str, key: &[u8], value: &[u8]) {
        self.0 = self.0.wrapping_sub(entry_hash(tree, key, value));
    }

    /// Lowercase hex, 32 characters: what `/status` and `pygmy inspect` show.
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// The stored form.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// From the stored form; `None` if it is not 16 bytes.
    pub(crate) fn from_bytes(raw: &[u8]) -> Option<Self> {
        Some(Self(u128::from_be_bytes(raw.try_into().ok()?)))
    }

    /// The digest of every entry of the `(name, tree)` pairs, by a scan; an absent tree counts as
    /// empty (a live replica creates every state tree, empty at first).
    ///
    /// # Errors
    /// A sled read failed.
    pub fn scan<'a>(
        trees: impl IntoIterator<Item = (&'a str, Option<&'a sled::Tree>)>,
    ) -> sled::Result<Self> {
        let mut digest = Self::default();
        for (name, tree) in trees {
            for item in tree.into_iter().flat_map(sled::Tree::iter) {
                let (k, v) = item?;
                digest.add(name, &k, &v);
            }
        }
        Ok(digest)
    }
}

/// The entry's hash: length-prefixed parts, so that ("ab", "c") and ("a", "bc") differ.
fn entry_hash(tree: &str, key: &[u8], value: &[u8]) -> u128 {
    let mut hasher = Sha256::new();
    for part in [tree.as_bytes(), key, value] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let full = hasher.finalize();
    u128::from_be_bytes(full[..16].try_into().expect("SHA-256 has 32 bytes"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn entries_are_told_apart_by_tree_key_and_value() {
        // Goal: moving a byte between parts, or an entry between trees, changes the digest.
        let one = |tree, key: &[u8], value: &[u8]| {
            let mut d = StateDigest::default();
            d.add(tree, key, value);
            d
        };
        let base = one("books", b"ab", b"c");
        assert_ne!(base, one("books", b"a", b"bc"));
        assert_ne!(base, one("orders", b"ab", b"c"));
        assert_ne!(base, one("books", b"ab", b"d"));
        assert_eq!(base.hex().len(), 32);
        assert_eq!(StateDigest::from_bytes(&base.to_bytes()), Some(base));
        assert_eq!(StateDigest::from_bytes(b"short"), None);
    }

    proptest! {
        #[test]
        fn kept_up_to_date_it_equals_the_digest_of_the_final_entries(
            writes in proptest::collection::vec((0u8..8, proptest::option::of(0u8..4)), 0..64),
        ) {
            // Goal: any sequence of inserts, overwrites and removes, tracked the way an apply
            // tracks it, ends at the digest of what is left, whatever the order.
            let mut live = std::collections::BTreeMap::new();
            let mut tracked = StateDigest::default();
            for (key, value) in writes {
                if let Some(old) = live.remove(&key) {
                    tracked.remove("t", &[key], &[old]);
                }
                if let Some(value) = value {
                    tracked.add("t", &[key], &[value]);
                    live.insert(key, value);
                }
            }
            let mut fresh = StateDigest::default();
            for (key, value) in live.iter().rev() {
                fresh.add("t", &[*key], &[*value]);
            }
            prop_assert_eq!(tracked, fresh);
        }
    }
}
