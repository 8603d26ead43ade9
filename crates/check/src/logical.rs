//! A book's history as register ops for the search (the rules are in `crate::register`):
//! failures and unanswered reads dropped, the attempts of one buy key merged into one op,
//! unknown writes returning at +infinity, the final stock as a last read, and how many unknown
//! buys of each quantity the final order log says applied.

use std::collections::BTreeMap;

use api::Order;

use crate::history::{Op, OpKind, Outcome};
use crate::model::{Action, SearchOp};

/// A register op with the history ops it stands for (several attempts of one buy key).
pub(crate) struct Logical {
    pub(crate) ids: Vec<u64>,
    pub(crate) op: SearchOp,
}

/// Why a book's ops could not be handed to the search.
pub(crate) enum Unusable {
    Violation(String, Vec<u64>),
    Undecidable(String, Vec<u64>),
}

/// Ends the history with a read of `stock` after every other op: an unknown write that is not
/// linearized before it never applied.
pub(crate) fn add_final_read(logical: &mut Vec<Logical>, stock: u64) {
    let known_ends = logical
        .iter()
        .map(|l| l.op.complete)
        .filter(|c| *c != u64::MAX);
    let invokes = logical.iter().map(|l| l.op.invoke);
    let end = known_ends.chain(invokes).max().unwrap_or(0);
    let action = Action::Read { stock };
    logical.push(Logical {
        ids: Vec::new(),
        op: SearchOp {
            invoke: end + 1,
            complete: end + 1,
            action,
        },
    });
}

/// Turns a book's history ops into register ops (see the module doc for the rules).
pub(crate) fn logical_ops(ops: &[&Op]) -> Result<Vec<Logical>, Unusable> {
    let mut logical = Vec::with_capacity(ops.len());
    let mut buys: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for &op in ops {
        if let Some(reason) = op.malformed() {
            return Err(Unusable::Undecidable(reason, vec![op.id]));
        }
        if op.is_failed() {
            continue;
        }
        let unknown = op.is_unknown();
        let action = match (&op.kind, &op.outcome) {
            (OpKind::Buy { key, .. }, _) => {
                buys.entry(key).or_default().push(op);
                continue;
            }
            (OpKind::Read { .. }, _) if unknown => continue,
            (OpKind::Restock { delta, .. }, _) if unknown => Action::MaybeRestock { delta: *delta },
            (OpKind::Read { .. }, Outcome::ReadStock { stock }) => Action::Read { stock: *stock },
            (OpKind::Restock { delta, .. }, Outcome::Restocked { stock_after }) => {
                Action::Restock {
                    delta: *delta,
                    stock_after: *stock_after,
                }
            }
            _ => unreachable!("malformed ops were returned above"),
        };
        let complete = match op.complete_ns {
            Some(complete) if !unknown => complete,
            // +infinity: an unknown write may apply at any time after its invocation.
            _ => u64::MAX,
        };
        let op_ids = vec![op.id];
        let invoke = op.invoke_ns;
        logical.push(Logical {
            ids: op_ids,
            op: SearchOp {
                invoke,
                complete,
                action,
            },
        });
    }
    for (key, attempts) in buys {
        logical.push(merge_buy(key, &attempts)?);
    }
    Ok(logical)
}

/// One buy from every attempt under its key: effective once, after the first invocation and
/// before the first definitive answer, which all must agree.
fn merge_buy(key: &str, attempts: &[&Op]) -> Result<Logical, Unusable> {
    let ids: Vec<u64> = attempts.iter().map(|op| op.id).collect();
    let quantities: Vec<u64> = attempts
        .iter()
        .filter_map(|op| match op.kind {
            OpKind::Buy { quantity, .. } => Some(quantity),
            _ => None,
        })
        .collect();
    let quantity = quantities[0];
    if quantities.iter().any(|q| *q != quantity) {
        let reason = format!("buy key {key:?} was used with different quantities");
        return Err(Unusable::Undecidable(reason, ids));
    }
    let invoke = attempts
        .iter()
        .map(|op| op.invoke_ns)
        .min()
        .expect("one attempt");
    let answered: Vec<&Op> = attempts
        .iter()
        .copied()
        .filter(|op| !op.is_unknown())
        .collect();
    let Some(first) = answered.first() else {
        let action = Action::MaybeTake { quantity };
        let op = SearchOp {
            invoke,
            complete: u64::MAX,
            action,
        };
        return Ok(Logical { ids, op });
    };
    if let Some(other) = answered.iter().find(|op| op.outcome != first.outcome) {
        let why = format!("buy key {key:?} was answered differently: {first}; {other}");
        return Err(Unusable::Violation(why, ids));
    }
    let complete = answered
        .iter()
        .filter_map(|op| op.complete_ns)
        .min()
        .expect("answered");
    let action = match first.outcome {
        Outcome::Bought { .. } => Action::Take { quantity },
        _ => Action::Refuse { quantity },
    };
    Ok(Logical {
        ids,
        op: SearchOp {
            invoke,
            complete,
            action,
        },
    })
}

/// How many of the unknown buys of each quantity applied, by the final order log (`orders`:
/// the book's orders made during the history): as many as there are orders no buy was
/// acknowledged with. A quantity with more such orders than unknown buys (phantom orders,
/// which `buy_keys_once` reports) gets no count.
pub(crate) fn unknown_buys_applied(
    ops: &[&Op],
    logical: &[Logical],
    orders: &[Order],
) -> Vec<(Action, u32)> {
    let acked: Vec<u64> = ops
        .iter()
        .filter_map(|op| op.bought().map(|o| o.number))
        .collect();
    let mut unacked: BTreeMap<u64, u32> = BTreeMap::new();
    for order in orders.iter().filter(|o| !acked.contains(&o.number)) {
        *unacked.entry(order.quantity).or_default() += 1;
    }
    let mut unknown: BTreeMap<u64, u32> = BTreeMap::new();
    for l in logical {
        if let Action::MaybeTake { quantity } = l.op.action {
            *unknown.entry(quantity).or_default() += 1;
        }
    }
    unknown
        .into_iter()
        .map(|(quantity, n)| (quantity, n, unacked.get(&quantity).copied().unwrap_or(0)))
        .filter(|(_, n, applied)| applied <= n)
        .map(|(quantity, _, applied)| (Action::MaybeTake { quantity }, applied))
        .collect()
}
