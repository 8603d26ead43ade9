//! Key encodings: big-endian `u64` so that sled's byte order is numeric order.

/// Encodes `n` as an 8-byte big-endian key.
pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes an 8-byte big-endian key.
///
/// # Panics
/// If `key` is not 8 bytes long: keys of `u64` trees are written only by [`u64_key`], so another
/// length means the tree is corrupt.
pub fn key_u64(key: &[u8]) -> u64 {
    try_key_u64(key).unwrap_or_else(|| panic!("corrupt u64 key of {} bytes", key.len()))
}

/// Decodes an 8-byte big-endian key; `None` if it is not 8 bytes long (for reading data that
/// may be damaged, as offline inspection does).
pub fn try_key_u64(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(n: u64) {
            prop_assert_eq!(key_u64(&u64_key(n)), n);
        }

        #[test]
        fn byte_order_is_numeric_order(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), u64_key(a).cmp(&u64_key(b)));
        }
    }
}
