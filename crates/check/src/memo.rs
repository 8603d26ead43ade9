//! The search's memo of visited states, with two reductions that keep histories with many
//! unknown outcomes (a replica killed under load times out every op in flight) tractable.
//!
//! A state is the set of linearized ops with a known outcome, the set of linearized unknown
//! writes, and the stock. Both sets are stored exactly and compactly: bits are numbered in
//! invocation order, so a set of known ops is "every op below `base` words" plus a short run of
//! words (the ops concurrent with the frontier). A state costs about 150 bytes.
//!
//! - Symmetry: two unknown writes with the same action that have both been invoked are
//!   interchangeable (either may still apply at any time, or never). So the set of linearized
//!   unknown writes comes folded ([`crate::placed`]): per group of such twins, only how many
//!   are linearized counts, shown as the first ones (which have been invoked, since a later
//!   one has).
//! - Dominance: of two states with the same known ops and stock, the one with fewer unknown
//!   writes linearized can do all the other can (the extra writes may simply never apply),
//!   unless they are writes whose number of applications is fixed (by the final order log). So
//!   a state is skipped when one with a subset of its unknown writes, and as many of the
//!   counted ones, was visited: that one either failed already, or is an ancestor whose other
//!   children cover it.

use std::collections::HashMap;

use crate::words::{FxBuild, Words};

/// The known ops linearized (words below `base` all ones, after `words` all zero), the stock,
/// and the group of twins of the unknown write linearized last if the last op was one (else
/// `u32::MAX`).
#[derive(PartialEq, Eq, Hash)]
struct KnownKey {
    stock: u64,
    top: u32,
    base: u32,
    words: Words,
}

pub(crate) struct Memo {
    /// Per known part, the folded unknown sets visited with it (none dominating another).
    seen: HashMap<KnownKey, Vec<Words>, FxBuild>,
    /// Slots of the unknown writes whose number of applications is fixed.
    counted: Vec<u64>,
}

impl Memo {
    /// A memo where the unknown writes of the `counted` slots have a fixed number of
    /// applications.
    pub(crate) fn new(counted: Vec<u64>) -> Memo {
        Memo {
            seen: HashMap::default(),
            counted,
        }
    }

    /// Records the state: `known` and `unknown` (folded) linearized sets, `stock`, and the
    /// group of the unknown write placed last if the last op was one (else `u32::MAX`). False
    /// if it or a dominating one was recorded before.
    pub(crate) fn insert(&mut self, known: &[u64], unknown: &[u64], stock: u64, top: u32) -> bool {
        let used = unknown
            .iter()
            .rposition(|w| *w != 0)
            .map_or(0, |last| last + 1);
        let folded = &unknown[..used];
        let base = known
            .iter()
            .position(|w| *w != u64::MAX)
            .unwrap_or(known.len());
        let end = known
            .iter()
            .rposition(|w| *w != 0)
            .map_or(base, |last| (last + 1).max(base));
        let key = KnownKey {
            stock,
            top,
            base: base as u32,
            words: Words::new(&known[base..end]),
        };
        let visited = self.seen.entry(key).or_default();
        let counted = &self.counted;
        let dominates = |a: &[u64], b: &[u64]| is_subset(a, b) && same_in(a, b, counted);
        if visited.iter().any(|v| dominates(v.as_slice(), folded)) {
            return false;
        }
        visited.retain(|v| !dominates(folded, v.as_slice()));
        visited.push(Words::new(folded));
        true
    }
}

/// True when every bit of `a` is set in `b`.
fn is_subset(a: &[u64], b: &[u64]) -> bool {
    a.iter()
        .enumerate()
        .all(|(i, w)| w & !b.get(i).copied().unwrap_or(0) == 0)
}

/// True when `a` and `b` have the same bits within `mask`.
fn same_in(a: &[u64], b: &[u64], mask: &[u64]) -> bool {
    let word = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..mask.len()).all(|i| (word(a, i) ^ word(b, i)) & mask[i] == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_unknown_writes_dominate_unless_counted() {
        // Goal: a superset of visited unknown writes is skipped, a subset is not; the last
        // unknown write is part of the state; writes with a fixed count are not dominated.
        let (none, take) = (u32::MAX, 0);
        let mut memo = Memo::new(vec![0]);
        let known = [0b1];
        assert!(memo.insert(&known, &[0b01], 5, none));
        assert!(!memo.insert(&known, &[0b01], 5, none), "seen");
        assert!(!memo.insert(&known, &[0b11], 5, none), "dominated by {{0}}");
        assert!(memo.insert(&known, &[0b11], 4, none), "another stock");
        assert!(memo.insert(&known, &[0b11], 5, take), "another last write");
        assert!(memo.insert(&[0b11], &[0b11], 5, none), "other known ops");
        assert!(
            memo.insert(&known, &[0], 5, none),
            "fewer unknown writes: dominates"
        );
        assert!(
            !memo.insert(&known, &[0b10], 5, none),
            "now dominated by {{}}"
        );
        // Slot 0 has a fixed count: having applied it less often is no domination.
        let mut memo = Memo::new(vec![0b01]);
        assert!(memo.insert(&known, &[0b00], 5, none));
        assert!(
            memo.insert(&known, &[0b01], 5, none),
            "one more counted write"
        );
        assert!(!memo.insert(&known, &[0b11], 5, none), "dominated by {{0}}");
    }
}
