//! Small building blocks of the search's memo, where most of its time goes: a short run of
//! bitset words stored inline, and a fast hasher for keys made of such words.

use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Words stored inline: the run of a linearized set that is not all ones or all zeros is
/// usually this short (the ops concurrent with the frontier), and sparing an allocation per
/// visited state halves the search's time.
const INLINE_WORDS: usize = 3;

/// A run of bitset words, inline when short.
#[derive(Clone)]
pub(crate) enum Words {
    Inline(u8, [u64; INLINE_WORDS]),
    Heap(Box<[u64]>),
}

impl Words {
    pub(crate) fn new(words: &[u64]) -> Words {
        if words.len() <= INLINE_WORDS {
            let mut inline = [0; INLINE_WORDS];
            inline[..words.len()].copy_from_slice(words);
            Words::Inline(words.len() as u8, inline)
        } else {
            Words::Heap(words.into())
        }
    }

    pub(crate) fn as_slice(&self) -> &[u64] {
        match self {
            Words::Inline(len, words) => &words[..*len as usize],
            Words::Heap(words) => words,
        }
    }
}

impl PartialEq for Words {
    fn eq(&self, other: &Words) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Words {}

impl Hash for Words {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// The multiply-rotate hash of rustc (FxHash): keys are internal bitsets and numbers, never
/// chosen by an adversary, so SipHash's protection is not needed and its cost is.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(u64::from(word));
    }

    fn write_u8(&mut self, word: u8) {
        self.write_u64(u64::from(word));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak, and hash tables pick buckets with them.
        self.0.rotate_left(26)
    }
}

/// Builds [`FxHasher`]s for hash maps.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn inline_and_heap_words_compare_and_hash_by_content() {
        // Goal: the storage is invisible to equality and hashing.
        let short = Words::new(&[1, 2]);
        let long = Words::new(&[1, 2, 3, 4]);
        assert!(matches!(short, Words::Inline(2, _)) && matches!(long, Words::Heap(_)));
        assert_eq!(short.as_slice(), &[1, 2]);
        assert!(short == Words::Heap(vec![1, 2].into()));
        let hash = |w: &Words| FxBuild::default().hash_one(w);
        assert_eq!(hash(&short), hash(&Words::Heap(vec![1, 2].into())));
        assert_ne!(hash(&short), hash(&Words::new(&[1, 3])));
    }
}
