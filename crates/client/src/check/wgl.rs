//! The Wing-Gong/Lowe linearizability search with memoization (as in Porcupine and Knossos),
//! for one book's stock seen as a register.
//!
//! Layout: [`Action`] is the register model; [`search`] runs the walk of [`super::walk`] over
//! the call and return entries of [`super::entries`], linearizing pending calls depth first and
//! backtracking when the first pending return is reached with its call not placed. Visited
//! states are recorded in [`super::memo`], which is what keeps the search polynomial in
//! practice: two orders of the same ops that reach the same stock have the same future.
//!
//! An op with an unknown outcome returns at +infinity, as in Porcupine: it may be linearized
//! anywhere after its invocation, and if it never is by the time every op with a known outcome
//! is, it did not apply (the same as Knossos's "applied anywhere, or not at all" for `:info`
//! ops). A final read of the stock, if given, is an op with a known outcome after all others,
//! so an unknown write must have applied before it or never.

use super::entries::Entries;
use super::walk::{Walk, Walked};

/// What one operation does to the stock, as the search sees it.
///
/// Ordered (by variant, then fields) only so that runs of unknown writes have one canonical
/// order ([`super::walk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Action {
    /// A read that saw `stock`: legal only when the stock is exactly that.
    Read { stock: u64 },
    /// An acknowledged buy: legal when enough stock is left; takes `quantity`.
    Take { quantity: u64 },
    /// A refused buy: legal only when less than `quantity` is left; changes nothing.
    Refuse { quantity: u64 },
    /// An applied restock that answered `stock_after`.
    Restock { delta: i64, stock_after: u64 },
    /// A buy with unknown outcome, if linearized: takes `quantity` (if there is that much;
    /// else it was refused, which is the same as not linearizing it).
    MaybeTake { quantity: u64 },
    /// A restock with unknown outcome, if linearized: adds `delta` (if that stays >= 0).
    MaybeRestock { delta: i64 },
}

impl Action {
    /// The stock after this action, or `None` when it is illegal from `stock`.
    pub(crate) fn step(self, stock: u64) -> Option<u64> {
        match self {
            Action::Read { stock: seen } => (stock == seen).then_some(stock),
            Action::Take { quantity } | Action::MaybeTake { quantity } => {
                stock.checked_sub(quantity)
            }
            Action::Refuse { quantity } => (stock < quantity).then_some(stock),
            Action::Restock { delta, stock_after } => stock
                .checked_add_signed(delta)
                .filter(|s| *s == stock_after),
            Action::MaybeRestock { delta } => stock.checked_add_signed(delta),
        }
    }

    /// The change of stock when the action applies.
    pub(crate) fn delta(self) -> i128 {
        match self {
            Action::Read { .. } | Action::Refuse { .. } => 0,
            Action::Take { quantity } | Action::MaybeTake { quantity } => -i128::from(quantity),
            Action::Restock { delta, .. } | Action::MaybeRestock { delta } => i128::from(delta),
        }
    }

    /// True for the writes whose outcome is unknown.
    pub(crate) fn is_unknown(self) -> bool {
        matches!(self, Action::MaybeTake { .. } | Action::MaybeRestock { .. })
    }
}

/// One operation of the register's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SearchOp {
    /// Invocation time.
    pub(crate) invoke: u64,
    /// Completion time; `u64::MAX` (+infinity) for the unknown writes, and only for them.
    pub(crate) complete: u64,
    /// What it does to the stock.
    pub(crate) action: Action,
}

/// What the search found. Op numbers are indices into the slice given to [`search`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SearchOutcome {
    /// A linearization exists.
    Linearizable { states_explored: u64 },
    /// None exists. `prefix` is the longest linearizable order found, ending in `stock`;
    /// `blocked` is the op whose return came before it could be placed after that prefix.
    Violation {
        blocked: usize,
        prefix: Vec<usize>,
        stock: u64,
        states_explored: u64,
    },
    /// More than the allowed number of states were explored: undecided.
    Exhausted { states_explored: u64 },
}

/// How a history ends, when that is known: its last op is a read of `stock` after every other
/// op (nothing applies after it), and by then exactly so many unknown writes of the actions of
/// `exactly` had applied (from the final order log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct End {
    pub(crate) stock: u64,
    pub(crate) exactly: Vec<(Action, u32)>,
}

/// Searches for a linearization of `ops` from `initial` stock to `end` (if known), exploring
/// at most `states_max` states.
///
/// # Panics
/// If an op completes before it is invoked, an unknown write does not complete at `u64::MAX`,
/// or an end is given and the op invoked last is not a read of its stock (callers build ops
/// that way).
pub(crate) fn search(
    ops: &[SearchOp],
    initial: u64,
    end: Option<&End>,
    states_max: u64,
) -> SearchOutcome {
    for op in ops {
        assert_eq!(op.action.is_unknown(), op.complete == u64::MAX, "{op:?}");
    }
    if let Some(end) = end {
        let last = ops.iter().max_by_key(|op| op.invoke).map(|op| op.action);
        let closing = Action::Read { stock: end.stock };
        assert_eq!(last, Some(closing), "the final read closes the history");
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].invoke, ops[i].complete, i));
    let actions: Vec<Action> = order.iter().map(|&i| ops[i].action).collect();
    let spans: Vec<(u64, u64)> = order
        .iter()
        .map(|&i| (ops[i].invoke, ops[i].complete))
        .collect();
    let mut walk = Walk::new(Entries::new(&spans), actions, initial, end);
    let walked = walk.run(states_max);
    let states_explored = walk.states_explored;
    match walked {
        Walked::Linearizable => SearchOutcome::Linearizable { states_explored },
        Walked::Exhausted => SearchOutcome::Exhausted { states_explored },
        Walked::Stuck => {
            let deepest = walk
                .deepest
                .expect("a dead end was recorded before giving up");
            SearchOutcome::Violation {
                blocked: order[deepest.blocked as usize],
                prefix: deepest.prefix.iter().map(|&b| order[b as usize]).collect(),
                stock: deepest.stock,
                states_explored,
            }
        }
    }
}
