//! The Wing-Gong/Lowe linearizability search with memoization (as in Porcupine and Knossos),
//! for one book's stock seen as a register.
//!
//! Layout: the register model ([`Action`], [`SearchOp`], [`End`]) is in [`crate::model`];
//! [`search`] runs the walk of [`crate::walk`] over the call and return entries of
//! [`crate::entries`], linearizing pending calls depth first and backtracking when the first
//! pending return is reached with its call not placed. Visited states are recorded in
//! [`crate::memo`], which is what keeps the search polynomial in practice: two orders of the
//! same ops that reach the same stock have the same future.
//!
//! An op with an unknown outcome returns at +infinity, as in Porcupine: it may be linearized
//! anywhere after its invocation, and if it never is by the time every op with a known outcome
//! is, it did not apply (the same as Knossos's "applied anywhere, or not at all" for `:info`
//! ops). A final read of the stock, if given, is an op with a known outcome after all others,
//! so an unknown write must have applied before it or never.

use crate::entries::Entries;
use crate::model::{Action, End, SearchOp};
use crate::walk::{Walk, Walked};

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
