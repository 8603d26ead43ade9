//! Which ops the search has linearized, kept the way the memo ([`crate::memo`]) compares
//! states: ops with a known outcome one bit each; unknown writes folded by twins (writes with
//! the same action), so that a group with `k` linearized members always shows its first `k`,
//! whichever were placed; and how many writes with a fixed count have applied.

use std::collections::BTreeMap;

use crate::model::Action;

/// Unknown writes with one action.
struct Group {
    /// The change of stock when one applies.
    delta: i128,
    /// Their slots, in invocation order.
    slots: Vec<u32>,
    /// How many are linearized (shown as the first ones).
    placed: u32,
    /// How many must have applied by the end, if that is known.
    required: Option<u32>,
}

pub(crate) struct Placed {
    /// Per bit: the slot of an op with a known outcome, or the group of an unknown write.
    index: Vec<u32>,
    is_unknown: Vec<bool>,
    /// Linearized ops with a known outcome, by slot.
    pub(crate) known: Vec<u64>,
    /// Linearized unknown writes, folded, by slot.
    pub(crate) unknown: Vec<u64>,
    groups: Vec<Group>,
    /// Ops with a known outcome not linearized yet.
    pub(crate) known_left: usize,
    /// Applications of writes with a fixed count still missing.
    pub(crate) missing: u32,
    /// The sum of the stock changes of the ops with a known outcome not linearized yet.
    known_delta_left: i128,
    /// Per bit: the change of stock of its op.
    delta: Vec<i128>,
}

impl Placed {
    /// Nothing linearized yet, of ops with these actions (in bit order); `exactly` says how
    /// many unknown writes of some actions must apply.
    pub(crate) fn new(actions: &[Action], exactly: &[(Action, u32)]) -> Placed {
        let mut by_action: BTreeMap<Action, usize> = BTreeMap::new();
        let (mut groups, mut index) = (Vec::<Group>::new(), Vec::new());
        let (mut known_count, mut unknown_count) = (0u32, 0u32);
        for action in actions {
            if !action.is_unknown() {
                index.push(known_count);
                known_count += 1;
                continue;
            }
            let group = *by_action.entry(*action).or_insert_with(|| {
                let required = exactly.iter().find(|(a, _)| a == action).map(|(_, n)| *n);
                groups.push(Group {
                    delta: action.delta(),
                    slots: Vec::new(),
                    placed: 0,
                    required,
                });
                groups.len() - 1
            });
            groups[group].slots.push(unknown_count);
            unknown_count += 1;
            index.push(group as u32);
        }
        Placed {
            index,
            is_unknown: actions.iter().map(|a| a.is_unknown()).collect(),
            known: vec![0; (known_count as usize).div_ceil(64)],
            unknown: vec![0; (unknown_count as usize).div_ceil(64)],
            missing: groups.iter().filter_map(|g| g.required).sum(),
            groups,
            known_left: known_count as usize,
            known_delta_left: actions
                .iter()
                .filter(|a| !a.is_unknown())
                .map(|a| a.delta())
                .sum(),
            delta: actions.iter().map(|a| a.delta()).collect(),
        }
    }

    /// The slots of the unknown writes with a fixed count, as a bitset.
    pub(crate) fn counted_slots(&self) -> Vec<u64> {
        let mut mask = vec![0u64; self.unknown.len()];
        for group in self.groups.iter().filter(|g| g.required.is_some()) {
            for &slot in &group.slots {
                mask[slot as usize / 64] |= 1 << (slot % 64);
            }
        }
        mask
    }

    /// The group of twins of the op of `bit` if it is an unknown write, else `u32::MAX`.
    pub(crate) fn group_of(&self, bit: usize) -> u32 {
        if self.is_unknown[bit] {
            self.index[bit]
        } else {
            u32::MAX
        }
    }

    /// False when the stock cannot go from `stock` to `final_stock` with what is left: the ops
    /// with a known outcome, the counted writes still missing, and any of the other unknown
    /// writes not linearized yet (a relaxation: whether each step is legal is not checked).
    pub(crate) fn may_end_at(&self, stock: u64, final_stock: u64) -> bool {
        let mut need = i128::from(final_stock) - i128::from(stock) - self.known_delta_left;
        let (mut low, mut high) = (0i128, 0i128);
        for group in &self.groups {
            let left = i128::from(group.slots.len() as u32 - group.placed);
            match group.required {
                Some(required) => need -= i128::from(required - group.placed) * group.delta,
                None if group.delta < 0 => low += left * group.delta,
                None => high += left * group.delta,
            }
        }
        low <= need && need <= high
    }

    /// False when the op of `bit` is an unknown write whose count is already reached.
    pub(crate) fn may_apply(&self, bit: usize) -> bool {
        if !self.is_unknown[bit] {
            return true;
        }
        let group = &self.groups[self.index[bit] as usize];
        group.required.is_none_or(|n| group.placed < n)
    }

    /// Marks the op of `bit` linearized (`on`) or not any more.
    pub(crate) fn mark(&mut self, bit: usize, on: bool) {
        let index = self.index[bit];
        if !self.is_unknown[bit] {
            toggle(&mut self.known, index);
            if on {
                self.known_left -= 1;
                self.known_delta_left -= self.delta[bit];
            } else {
                self.known_left += 1;
                self.known_delta_left += self.delta[bit];
            }
            return;
        }
        let group = &mut self.groups[index as usize];
        if on {
            toggle(&mut self.unknown, group.slots[group.placed as usize]);
            group.placed += 1;
        } else {
            group.placed -= 1;
            toggle(&mut self.unknown, group.slots[group.placed as usize]);
        }
        if group.required.is_some() {
            if on {
                self.missing -= 1;
            } else {
                self.missing += 1;
            }
        }
    }
}

fn toggle(bits: &mut [u64], slot: u32) {
    bits[slot as usize / 64] ^= 1 << (slot % 64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_show_as_their_first_members_and_counts_are_kept() {
        // Goal: whichever twin is placed, the set shows the first; counts cap and track.
        let take = Action::MaybeTake { quantity: 1 };
        let actions = [
            take,
            Action::Read { stock: 1 },
            take,
            Action::MaybeRestock { delta: 2 },
        ];
        let mut placed = Placed::new(&actions, &[(take, 1)]);
        assert_eq!((placed.known_left, placed.missing), (1, 1));
        assert_eq!(placed.counted_slots(), vec![0b011]);
        placed.mark(2, true);
        assert_eq!(placed.unknown, vec![0b001]);
        assert!(!placed.may_apply(0) && placed.may_apply(3));
        assert_eq!(placed.missing, 0);
        placed.mark(3, true);
        placed.mark(1, true);
        assert_eq!(
            (placed.unknown.clone(), placed.known.clone()),
            (vec![0b101], vec![0b1])
        );
        placed.mark(2, false);
        assert_eq!((placed.unknown.clone(), placed.missing), (vec![0b100], 1));
    }
}
