//! Linearizability of each book's stock, seen as a register (check `stock_linearizable`).
//!
//! P-compositional: the history is split by book and each book is checked alone (a history is
//! linearizable iff each object's subhistory is). Per book, reads, buys and restocks become
//! [`SearchOp`]s for the search of [`crate::wgl`]:
//! - definitive failures (`Failed`) never happened and are dropped, and so are reads whose
//!   answer never came (they constrain nothing);
//! - every attempt under one buy key is one buy (the catalog applies a key at most once): it
//!   took effect once, after the first attempt was invoked and before the first definitive
//!   answer (or at any time after, or never, when no attempt got one);
//! - a held reservation always becomes an order (DESIGN §5, the order leader's resolver), so
//!   a buy changes the stock once or never; a protocol that released reservations would need a
//!   release step in the model;
//! - the final stock the catalog replicas agree on, collected once the cluster has recovered and
//!   nothing is in flight, is a last read after every op: unknown writes must have applied or
//!   not by then, so a read that saw one applied ties it to the final stock;
//! - the final order log says how many unknown buys applied: its orders for the book that no
//!   buy was acknowledged with. Per quantity, exactly that many of the unknown buys must be
//!   linearized, which keeps a burst of timed-out buys from being explained in every way.

use std::collections::{BTreeMap, HashMap};

use api::Order;
use serde::{Deserialize, Serialize};

use crate::history::Op;
use crate::input::CheckInput;
use crate::logical::{add_final_read, logical_ops, unknown_buys_applied, Logical, Unusable};
use crate::model::{Action, End, SearchOp};
use crate::report::CheckResult;
use crate::wgl::{search, SearchOutcome};

/// Most ops named as concurrent with the op that could not be linearized.
const CONCURRENT_NAMED_MAX: usize = 16;
/// Ops of the longest linearizable prefix quoted in a violation, from its end.
const PREFIX_QUOTED_MAX: usize = 3;

/// The verdict on one book's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum RegisterOutcome {
    /// Some order of the operations, each within its interval, explains every answer.
    Linearizable {
        /// Book id.
        item: u64,
        /// Operations checked (attempts of one buy key count once).
        ops: usize,
        /// States the search explored.
        states_explored: u64,
    },
    /// No such order exists.
    Violation(RegisterViolation),
    /// The check could not decide: never a pass.
    Inconclusive {
        /// Book id.
        item: u64,
        /// Why (the state limit was hit, no initial stock, an op that cannot be read).
        reason: String,
        /// Operations the reason names.
        op_ids: Vec<u64>,
        /// States the search explored before giving up.
        states_explored: u64,
    },
}

/// A book whose stock history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterViolation {
    /// Book id.
    pub item: u64,
    /// The op that could not be linearized (and its key's other attempts) first, then the end
    /// of the longest linearizable prefix, then the ops concurrent with it.
    pub op_ids: Vec<u64>,
    /// What could not be explained, in words.
    pub explanation: String,
    /// States the search explored.
    pub states_explored: u64,
}

/// How a book ended, read once the cluster had recovered and no op was in flight any more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookEnd {
    /// The stock every catalog replica holds.
    pub stock: u64,
    /// The book's orders in the final order log made during the history, if the log is known:
    /// those no buy was acknowledged with tell how many buys of unknown outcome applied.
    pub orders: Option<Vec<Order>>,
}

/// Checks the stock of every book touched by `history`, each book alone, from its
/// `initial_stock` to its end in `ends` (if given), exploring at most `states_per_item_max`
/// states per book. Books come out in id order.
pub fn check_register(
    history: &[Op],
    initial_stock: &BTreeMap<u64, u64>,
    ends: &BTreeMap<u64, BookEnd>,
    states_per_item_max: u64,
) -> Vec<RegisterOutcome> {
    let mut by_item: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in history {
        if let Some(item) = op.item() {
            by_item.entry(item).or_default().push(op);
        }
    }
    by_item
        .into_iter()
        .map(|(item, ops)| {
            let bounds = (initial_stock.get(&item), ends.get(&item));
            check_item(item, &ops, bounds, states_per_item_max)
        })
        .collect()
}

/// The `stock_linearizable` check: [`check_register`] as a [`CheckResult`], ending each book
/// at the final stock if every catalog replica holds the same (else `stock_conserved` fails).
pub(crate) fn stock_linearizable(input: &CheckInput, states_per_item_max: u64) -> CheckResult {
    let mut result = CheckResult::new("stock_linearizable");
    let log = crate::orders::reference_log(&input.order_logs);
    let mut ends: BTreeMap<u64, BookEnd> = BTreeMap::new();
    if let Some((_, first)) = input.catalog_stock.first() {
        for (&item, &stock) in first {
            let agreed = input
                .catalog_stock
                .iter()
                .all(|(_, s)| s.get(&item) == Some(&stock));
            let orders = log.map(|log| {
                let made = log.iter().filter(|o| o.number > input.orders_before);
                made.filter(|o| o.item == item).cloned().collect()
            });
            if agreed {
                ends.insert(item, BookEnd { stock, orders });
            }
        }
    }
    let (history, initial) = (&input.history, &input.initial_stock);
    for outcome in check_register(history, initial, &ends, states_per_item_max) {
        match outcome {
            RegisterOutcome::Linearizable {
                item,
                ops,
                states_explored,
            } => result.note(format!(
                "item {item}: {ops} ops linearizable ({states_explored} states explored)"
            )),
            RegisterOutcome::Violation(v) => {
                result.fail(format!("item {}: {}", v.item, v.explanation), &v.op_ids)
            }
            RegisterOutcome::Inconclusive { item, reason, .. } => {
                result.undecided(format!("item {item}: {reason}"));
            }
        }
    }
    result
}

fn check_item(
    item: u64,
    ops: &[&Op],
    (initial, end): (Option<&u64>, Option<&BookEnd>),
    states_max: u64,
) -> RegisterOutcome {
    let inconclusive = |reason: String, op_ids: Vec<u64>| RegisterOutcome::Inconclusive {
        item,
        reason,
        op_ids,
        states_explored: 0,
    };
    let Some(&initial) = initial else {
        let ids = ops.iter().map(|op| op.id).collect();
        return inconclusive("no initial stock was given for this book".into(), ids);
    };
    let mut logical = match logical_ops(ops) {
        Ok(logical) => logical,
        Err(Unusable::Undecidable(reason, ids)) => return inconclusive(reason, ids),
        Err(Unusable::Violation(explanation, op_ids)) => {
            return RegisterOutcome::Violation(RegisterViolation {
                item,
                op_ids,
                explanation,
                states_explored: 0,
            })
        }
    };
    let ending = end.map(|end| {
        let exactly = end.orders.as_ref().map_or(Vec::new(), |orders| {
            unknown_buys_applied(ops, &logical, orders)
        });
        add_final_read(&mut logical, end.stock);
        End {
            stock: end.stock,
            exactly,
        }
    });
    let search_ops: Vec<SearchOp> = logical.iter().map(|l| l.op).collect();
    match search(&search_ops, initial, ending.as_ref(), states_max) {
        SearchOutcome::Linearizable { states_explored } => RegisterOutcome::Linearizable {
            item,
            ops: logical.len(),
            states_explored,
        },
        SearchOutcome::Exhausted { states_explored } => RegisterOutcome::Inconclusive {
            item,
            reason: format!(
                "gave up after exploring {states_explored} states (limit {states_max}); \
                 raise the limit or record fewer ops per book"
            ),
            op_ids: Vec::new(),
            states_explored,
        },
        violation => {
            let why = explain(item, ops, &logical, violation);
            RegisterOutcome::Violation(with_end(why, ending.as_ref()))
        }
    }
}

/// Adds to a violation's explanation the end the history had to reach.
fn with_end(mut violation: RegisterViolation, end: Option<&End>) -> RegisterViolation {
    let Some(end) = end else {
        return violation;
    };
    let counts: Vec<String> = end
        .exactly
        .iter()
        .filter_map(|(action, n)| match action {
            Action::MaybeTake { quantity } => Some(format!("{n} unknown buys of {quantity}")),
            _ => None,
        })
        .collect();
    let applied = if counts.is_empty() {
        String::new()
    } else {
        format!(
            ", with exactly {} applied (final order log)",
            counts.join(" and ")
        )
    };
    let text = format!(
        " (the history ends at the final stock {}{applied})",
        end.stock
    );
    violation.explanation.push_str(&text);
    violation
}

/// Names the op that could not be linearized, the end of the longest linearizable prefix and
/// the ops concurrent with the blocked op.
fn explain(item: u64, ops: &[&Op], logical: &[Logical], found: SearchOutcome) -> RegisterViolation {
    let SearchOutcome::Violation {
        blocked,
        prefix,
        stock,
        states_explored,
    } = found
    else {
        unreachable!("explain is only called on a violation");
    };
    let by_id: HashMap<u64, &Op> = ops.iter().map(|op| (op.id, *op)).collect();
    let describe = |l: usize| match (logical[l].ids.first(), logical[l].op.action) {
        (Some(id), _) => by_id[id].to_string(),
        (None, Action::Read { stock }) => format!("the final stock {stock} of the catalog"),
        (None, _) => unreachable!("only the final read stands for no history op"),
    };
    let b = logical[blocked].op;
    let concurrent: Vec<usize> = (0..logical.len())
        .filter(|&l| l != blocked && logical[l].op.invoke <= b.complete)
        .filter(|&l| logical[l].op.complete >= b.invoke)
        .take(CONCURRENT_NAMED_MAX)
        .collect();
    let tail = &prefix[prefix.len().saturating_sub(PREFIX_QUOTED_MAX)..];
    let tail_text: Vec<String> = tail.iter().map(|&l| describe(l)).collect();
    let concurrent_ids: Vec<u64> = concurrent
        .iter()
        .filter_map(|&l| logical[l].ids.first().copied())
        .collect();
    let explanation = format!(
        "{} cannot be linearized: the longest linearizable order has {} ops{}{}, \
         after which the stock is {stock}; ops concurrent with it: {:?}",
        describe(blocked),
        prefix.len(),
        if tail.is_empty() {
            ""
        } else {
            ", ending with "
        },
        tail_text.join("; "),
        concurrent_ids,
    );
    let mut op_ids = logical[blocked].ids.clone();
    for &l in tail.iter().rev().chain(&concurrent) {
        for &id in &logical[l].ids {
            if !op_ids.contains(&id) {
                op_ids.push(id);
            }
        }
    }
    RegisterViolation {
        item,
        op_ids,
        explanation,
        states_explored,
    }
}
