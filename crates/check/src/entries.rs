//! The call and return entries of a register history, in time order, as a doubly linked
//! list (index 0 is the head), so that the search can unlink a linearized call and its return
//! and relink them when it backtracks (Wing-Gong/Lowe).

/// "No entry": the end of the list.
pub(crate) const NIL: u32 = u32::MAX;
/// The list's head sentinel.
pub(crate) const HEAD: u32 = 0;

pub(crate) struct Entries {
    /// Bit (invocation rank) of each entry's op.
    pub(crate) bit: Vec<u32>,
    /// The matching call or return.
    pub(crate) partner: Vec<u32>,
    pub(crate) is_call: Vec<bool>,
    prev: Vec<u32>,
    pub(crate) next: Vec<u32>,
}

impl Entries {
    /// Entries of ops given as `(invoke, complete)` in bit order (sorted by invocation).
    ///
    /// # Panics
    /// If an op completes before it is invoked.
    pub(crate) fn new(spans: &[(u64, u64)]) -> Entries {
        let mut events = Vec::with_capacity(2 * spans.len());
        for (bit, &(invoke, complete)) in spans.iter().enumerate() {
            assert!(
                invoke <= complete,
                "op {bit} completes before it is invoked"
            );
            // Kind 0 (call) sorts before 1 (return) at equal times: ops that touch are
            // treated as concurrent, since clocks cannot order them.
            events.push((invoke, 0u8, bit as u32));
            events.push((complete, 1u8, bit as u32));
        }
        events.sort_unstable();
        let len = events.len() + 1;
        let mut entries = Entries {
            bit: vec![NIL; len],
            partner: vec![NIL; len],
            is_call: vec![false; len],
            prev: (0..len).map(|k| (k as u32).wrapping_sub(1)).collect(),
            next: (1..=len)
                .map(|k| if k == len { NIL } else { k as u32 })
                .collect(),
        };
        let (mut call_of, mut calls) = (vec![NIL; spans.len()], 0);
        for (k, &(_, kind, bit)) in events.iter().enumerate() {
            let at = k + 1;
            entries.bit[at] = bit;
            entries.is_call[at] = kind == 0;
            if kind == 0 {
                // Equal invocations sort by bit, so calls come in bit order.
                assert_eq!(bit, calls, "calls are in bit order");
                calls += 1;
                call_of[bit as usize] = at as u32;
            } else {
                let call = call_of[bit as usize];
                entries.partner[call as usize] = at as u32;
                entries.partner[at] = call;
            }
        }
        entries
    }

    fn unlink(&mut self, at: u32) {
        let (prev, next) = (self.prev[at as usize], self.next[at as usize]);
        self.next[prev as usize] = next;
        if next != NIL {
            self.prev[next as usize] = prev;
        }
    }

    fn relink(&mut self, at: u32) {
        let (prev, next) = (self.prev[at as usize], self.next[at as usize]);
        self.next[prev as usize] = at;
        if next != NIL {
            self.prev[next as usize] = at;
        }
    }

    /// Removes a call and its return.
    pub(crate) fn lift(&mut self, call: u32) {
        self.unlink(call);
        self.unlink(self.partner[call as usize]);
    }

    /// Undoes the latest [`Entries::lift`] (lifts are undone in reverse order).
    pub(crate) fn unlift(&mut self, call: u32) {
        self.relink(self.partner[call as usize]);
        self.relink(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifting_and_unlifting_restores_the_list() {
        // Goal: dancing links: a lift undone in reverse order leaves the list as it was,
        // also when a call is directly followed by its own return.
        let mut entries = Entries::new(&[(0, 5), (1, 2), (3, 9)]);
        let order = |e: &Entries| {
            let (mut at, mut seen) = (e.next[HEAD as usize], Vec::new());
            while at != NIL {
                seen.push((e.bit[at as usize], e.is_call[at as usize]));
                at = e.next[at as usize];
            }
            seen
        };
        let before = order(&entries);
        assert_eq!(before.len(), 6);
        let (first, second) = (1, 2); // the calls of ops 0 and 1
        entries.lift(second);
        entries.lift(first);
        assert_eq!(order(&entries), vec![(2, true), (2, false)]);
        entries.unlift(first);
        entries.unlift(second);
        assert_eq!(order(&entries), before);
    }
}
