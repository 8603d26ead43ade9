//! The walk of the Wing-Gong/Lowe search ([`crate::wgl`]): depth first over the entry list,
//! with the linearized ops lifted out, and four reductions that keep it cheap without losing a
//! linearization:
//! - a pending read or refused buy that is legal now is placed at once, alone
//!   ([`Walk::pure_call`]);
//! - an unknown write is placed only right before an op that needs it (one that could not be
//!   placed first, or that would see another stock), or before another unknown write in a
//!   canonical order ([`Walk::needed`]): any linearization can be rearranged that way, by
//!   moving unknown writes later while nothing changes, so only those orders are explored;
//! - the memo folds symmetric states and skips dominated ones ([`crate::memo`]);
//! - a state from which the final stock is out of reach is not explored
//!   ([`Placed::may_end_at`]): without this, unknown writes that may or may not apply can
//!   explain away a wrong step until the very end.

use crate::entries::{Entries, HEAD, NIL};
use crate::memo::Memo;
use crate::model::{Action, End};
use crate::placed::Placed;

/// A linearized call, to undo when backtracking.
struct Frame {
    call: u32,
    stock_before: u64,
    /// Placed by [`Walk::pure_call`]: the only choice worth trying at its node.
    forced: bool,
}

/// A node whose candidates are being tried: `candidates[start..]` of the walk, the next one at
/// `next`; `first_return` is the entry that bounds them.
struct Node {
    start: usize,
    next: usize,
    first_return: u32,
}

/// The longest linearizable prefix seen at a dead end, for the violation report (as bits).
pub(crate) struct Deepest {
    pub(crate) prefix: Vec<u32>,
    pub(crate) stock: u64,
    pub(crate) blocked: u32,
}

pub(crate) enum Walked {
    Linearizable,
    Stuck,
    Exhausted,
}

/// The search's state: the entry list with the linearized ops lifted out, and which those are.
pub(crate) struct Walk {
    entries: Entries,
    actions: Vec<Action>,
    /// Which ops are linearized: the search succeeds when every op with a known outcome is,
    /// with every counted write applied as often as required.
    placed: Placed,
    memo: Memo,
    /// The ops placed, innermost last.
    stack: Vec<Frame>,
    /// The nodes being scanned, one per placement that was not forced, plus the current one
    /// while its candidates are tried.
    nodes: Vec<Node>,
    /// Placements on the stack that were not forced.
    chosen: usize,
    /// The candidates of every node of `nodes`, in one buffer to spare an allocation per node.
    candidates: Vec<u32>,
    stock: u64,
    /// The stock at the end, if known and in reach from the start: then no state from which
    /// it is out of reach is explored.
    final_stock: Option<u64>,
    pub(crate) states_explored: u64,
    pub(crate) deepest: Option<Deepest>,
}

impl Walk {
    pub(crate) fn new(
        entries: Entries,
        actions: Vec<Action>,
        initial: u64,
        end: Option<&End>,
    ) -> Walk {
        let exactly = end.map_or(&[][..], |e| e.exactly.as_slice());
        let placed = Placed::new(&actions, exactly);
        // When the final stock is out of reach from the start, the history is not
        // linearizable and pruning with it would fail at the first step; without, the search
        // finds and names the op where it goes wrong.
        let final_stock = end
            .map(|e| e.stock)
            .filter(|stock| placed.may_end_at(initial, *stock));
        Walk {
            entries,
            memo: Memo::new(placed.counted_slots()),
            placed,
            actions,
            stack: Vec::new(),
            nodes: Vec::new(),
            chosen: 0,
            candidates: Vec::new(),
            stock: initial,
            final_stock,
            states_explored: 0,
            deepest: None,
        }
    }

    /// Searches until a linearization is found, none can be, or more than `states_max` states
    /// were explored.
    pub(crate) fn run(&mut self, states_max: u64) -> Walked {
        loop {
            if self.placed.known_left == 0 {
                let missing = self.placed.missing;
                assert_eq!(missing, 0, "the last known op waits for the counted writes");
                // Unknown writes still pending never applied.
                return Walked::Linearizable;
            }
            if self.states_explored > states_max {
                return Walked::Exhausted;
            }
            // A new node: its forced move, or else its candidates.
            let placed = match self.pure_call() {
                Some(call) => {
                    let placed = self.place(call, true);
                    if !placed {
                        self.note_dead_end(self.entries.partner[call as usize]);
                    }
                    placed
                }
                None => {
                    self.open_node();
                    self.next_candidate()
                }
            };
            if !placed && !self.retreat() {
                return Walked::Stuck;
            }
        }
    }

    /// Starts scanning the current node: its candidates are the pending calls before the first
    /// pending return, tried in order of their returns (the op due first is the likeliest to
    /// come next, which finds the linearization of a valid history with less backtracking).
    fn open_node(&mut self) {
        let start = self.candidates.len();
        let mut at = self.entries.next[HEAD as usize];
        // Ops with a known outcome are pending (else the search is over), so the return of one
        // ends this scan before the end of the list.
        while self.entries.is_call[at as usize] {
            self.candidates.push(at);
            at = self.entries.next[at as usize];
        }
        let partner = &self.entries.partner;
        self.candidates[start..].sort_unstable_by_key(|c| partner[*c as usize]);
        self.nodes.push(Node {
            start,
            next: start,
            first_return: at,
        });
    }

    /// Places the next candidate of the node being scanned; false when none is left.
    fn next_candidate(&mut self) -> bool {
        loop {
            let node = self.nodes.last_mut().expect("a node is being scanned");
            let Some(&call) = self.candidates.get(node.next) else {
                return false;
            };
            node.next += 1;
            if self.place(call, false) {
                return true;
            }
        }
    }

    /// The current node has no way on: undoes placements back to the latest node with a
    /// candidate left and places it; false when there is none (no linearization).
    fn retreat(&mut self) -> bool {
        loop {
            if self.nodes.len() > self.chosen {
                // The node being scanned is exhausted: its first pending return is a dead end.
                let node = self.nodes.pop().expect("a node is being scanned");
                self.candidates.truncate(node.start);
                self.note_dead_end(node.first_return);
            }
            let Some(frame) = self.stack.pop() else {
                return false;
            };
            self.undo(&frame);
            // A forced move had no alternative: its node has failed as well.
            if !frame.forced && self.next_candidate() {
                return true;
            }
        }
    }

    /// A pending read or refused buy that is legal now. Placing it first is always safe: it
    /// changes nothing, and any linearization placing it later stays one when it moves here
    /// (every pending op returns after its call). Forcing it spares the search the orders of
    /// its concurrent ops, which are otherwise explored until its return is reached.
    fn pure_call(&self) -> Option<u32> {
        let mut at = self.entries.next[HEAD as usize];
        while at != NIL && self.entries.is_call[at as usize] {
            let action = self.actions[self.entries.bit[at as usize] as usize];
            let pure = matches!(action, Action::Read { .. } | Action::Refuse { .. });
            if pure && action.step(self.stock).is_some() && !self.closes_early(action) {
                return Some(at);
            }
            at = self.entries.next[at as usize];
        }
        None
    }

    /// Linearizes `call` next if that is legal and leads to a state not explored yet.
    fn place(&mut self, call: u32, forced: bool) -> bool {
        let bit = self.entries.bit[call as usize] as usize;
        let Some(stock_after) = self.actions[bit].step(self.stock) else {
            return false;
        };
        let action = self.actions[bit];
        if !self.placed.may_apply(bit) || self.closes_early(action) || !self.needed(bit) {
            return false;
        }
        self.placed.mark(bit, true);
        if let Some(stock) = self.final_stock {
            // What is left can no longer lead to the final stock: no need to explore how.
            if !self.placed.may_end_at(stock_after, stock) {
                self.placed.mark(bit, false);
                return false;
            }
        }
        // The next step's pruning depends on the action of the unknown write placed last (its
        // group of twins), so it is part of the state.
        let top = self.placed.group_of(bit);
        let (known, unknown) = (&self.placed.known, &self.placed.unknown);
        if !self.memo.insert(known, unknown, stock_after, top) {
            self.placed.mark(bit, false);
            return false;
        }
        self.entries.lift(call);
        self.states_explored += 1;
        let stock_before = self.stock;
        self.chosen += usize::from(!forced);
        self.stack.push(Frame {
            call,
            stock_before,
            forced,
        });
        self.stock = stock_after;
        true
    }

    /// True when placing an op with `action` would close the history (it is the last op with a
    /// known outcome: the final read, after which nothing applies) while some counted writes
    /// have not applied yet.
    fn closes_early(&self, action: Action) -> bool {
        !action.is_unknown() && self.placed.known_left == 1 && self.placed.missing > 0
    }

    /// False when the op of `bit` should not come right after the unknown write placed last,
    /// because the two can be swapped (this op first, from the stock before the write) and
    /// that order is the canonical one. The canonical order moves unknown writes later: past
    /// any op with a known outcome, and past unknown writes of a greater action.
    fn needed(&self, bit: usize) -> bool {
        let Some(top) = self.stack.last() else {
            return true;
        };
        let write = self.actions[self.entries.bit[top.call as usize] as usize];
        let next = self.actions[bit];
        if !write.is_unknown() || (next.is_unknown() && next <= write) {
            return true;
        }
        let swapped = next.step(top.stock_before).and_then(|s| write.step(s));
        swapped.is_none()
    }

    fn undo(&mut self, frame: &Frame) {
        self.chosen -= usize::from(!frame.forced);
        let bit = self.entries.bit[frame.call as usize] as usize;
        self.placed.mark(bit, false);
        self.entries.unlift(frame.call);
        self.stock = frame.stock_before;
    }

    /// Records that the op returning at `ret` could not be placed after the stack, if that
    /// prefix is the longest yet.
    fn note_dead_end(&mut self, ret: u32) {
        let depth = self.stack.len();
        if self
            .deepest
            .as_ref()
            .is_some_and(|d| d.prefix.len() >= depth)
        {
            return;
        }
        let bits = &self.entries.bit;
        self.deepest = Some(Deepest {
            prefix: self.stack.iter().map(|f| bits[f.call as usize]).collect(),
            stock: self.stock,
            blocked: bits[ret as usize],
        });
    }
}
