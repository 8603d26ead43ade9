//! The recorded history: one [`Op`] per client call, with its invocation and completion times
//! and what the client learnt of its outcome.
//!
//! Invariant the checkers rely on: an operation took effect (if at all) at one instant inside
//! `[invoke_ns, complete_ns]`, or anywhere after `invoke_ns` when the completion is unknown.

use std::fmt;

use api::Order;
use serde::{Deserialize, Serialize};

/// Latest time an op may carry, in nanoseconds since the start of the run (about 146 years):
/// later ones are recording bugs, and the checkers keep the times above it for +infinity.
pub const TIME_NS_MAX: u64 = 1 << 62;

/// One operation of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Unique id of the operation within the history.
    pub id: u64,
    /// The client (logical process) that ran it.
    pub process: u64,
    /// When it was invoked, in nanoseconds since the start of the run.
    pub invoke_ns: u64,
    /// When its answer arrived, in nanoseconds since the start of the run. `None`: the outcome
    /// is unknown (timeout, transport error): it may take effect at any time after its
    /// invocation, or never.
    pub complete_ns: Option<u64>,
    /// What was asked.
    pub kind: OpKind,
    /// What the client learnt.
    pub outcome: Outcome,
}

/// What an operation asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// A lookup or search observing one book's stock.
    Read {
        /// Book id.
        item: u64,
    },
    /// A buy of `quantity` copies of `item` under the buy key `key`.
    Buy {
        /// Book id.
        item: u64,
        /// Copies.
        quantity: u64,
        /// Buy (idempotency) key: every attempt with one key is one buy.
        key: String,
    },
    /// An admin restock of `item` by `delta` copies (negative removes).
    Restock {
        /// Book id.
        item: u64,
        /// Copies added.
        delta: i64,
    },
    /// A read of one order by number.
    ReadOrder {
        /// Order number.
        number: u64,
    },
}

/// What the client learnt of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// A read saw this stock.
    ReadStock {
        /// Copies in stock.
        stock: u64,
    },
    /// The buy was acknowledged with this order.
    Bought {
        /// The committed order.
        order: Order,
    },
    /// The buy was definitively refused (`out_of_stock`): nothing changed.
    Refused,
    /// The restock was applied; the stock after it.
    Restocked {
        /// Copies in stock once the restock was applied.
        stock_after: u64,
    },
    /// A read of an order found it.
    OrderSeen {
        /// The order as read.
        order: Order,
    },
    /// A read of an order found no order with that number.
    OrderMissing,
    /// A definitive failure with nothing applied (e.g. `no_leader` before anything was
    /// sent): the checkers treat the operation as never having happened.
    Failed {
        /// The error code, e.g. `no_leader`.
        code: String,
    },
    /// The outcome is unknown (timeout, transport error, `outcome_unknown`): it may or may not
    /// have been applied.
    Unknown {
        /// Why the outcome is unknown.
        reason: String,
    },
}

impl Op {
    /// The book whose stock this operation reads or changes; `None` for order reads.
    pub fn item(&self) -> Option<u64> {
        match self.kind {
            OpKind::Read { item } | OpKind::Buy { item, .. } | OpKind::Restock { item, .. } => {
                Some(item)
            }
            OpKind::ReadOrder { .. } => None,
        }
    }

    /// True when the client does not know whether the operation took effect.
    pub fn is_unknown(&self) -> bool {
        self.complete_ns.is_none() || matches!(self.outcome, Outcome::Unknown { .. })
    }

    /// True when the operation is known to have done nothing at all.
    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }

    /// True when the operation definitively completed strictly before `t_ns`.
    pub fn completed_before(&self, t_ns: u64) -> bool {
        !self.is_unknown() && self.complete_ns.is_some_and(|c| c < t_ns)
    }

    /// The acknowledged order of a buy, if it was acknowledged.
    pub fn bought(&self) -> Option<&Order> {
        match &self.outcome {
            Outcome::Bought { order } => Some(order),
            _ => None,
        }
    }

    /// Why this operation's outcome does not fit what it asked, if it does not: the checkers
    /// cannot interpret such an operation (a bug of whoever recorded the history).
    pub fn malformed(&self) -> Option<String> {
        if self.complete_ns.is_some_and(|c| c < self.invoke_ns) {
            return Some(format!("{self}: completes before it is invoked"));
        }
        if self.invoke_ns.max(self.complete_ns.unwrap_or(0)) > TIME_NS_MAX {
            return Some(format!("{self}: a time beyond {TIME_NS_MAX} ns"));
        }
        let fits = matches!(
            (&self.kind, &self.outcome),
            (_, Outcome::Failed { .. } | Outcome::Unknown { .. })
                | (OpKind::Read { .. }, Outcome::ReadStock { .. })
                | (
                    OpKind::Buy { .. },
                    Outcome::Bought { .. } | Outcome::Refused
                )
                | (OpKind::Restock { .. }, Outcome::Restocked { .. })
                | (
                    OpKind::ReadOrder { .. },
                    Outcome::OrderSeen { .. } | Outcome::OrderMissing
                )
        );
        (!fits).then(|| format!("{self}: this outcome does not fit this operation"))
    }
}

impl fmt::Display for Op {
    /// A one-line description for reports: `op 7 (process 3, [100, 250] ns): buy item 1 x2
    /// key "k" -> bought order #4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.complete_ns {
            Some(c) => c.to_string(),
            None => "?".to_string(),
        };
        let (id, p, start) = (self.id, self.process, self.invoke_ns);
        write!(f, "op {id} (process {p}, [{start}, {end}] ns): ")?;
        match &self.kind {
            OpKind::Read { item } => write!(f, "read item {item}")?,
            OpKind::Buy {
                item,
                quantity,
                key,
            } => write!(f, "buy item {item} x{quantity} key {key:?}")?,
            OpKind::Restock { item, delta } => write!(f, "restock item {item} by {delta:+}")?,
            OpKind::ReadOrder { number } => write!(f, "read order #{number}")?,
        }
        match &self.outcome {
            Outcome::ReadStock { stock } => write!(f, " -> stock {stock}"),
            Outcome::Bought { order } => write!(f, " -> bought order #{}", order.number),
            Outcome::Refused => write!(f, " -> refused"),
            Outcome::Restocked { stock_after } => write!(f, " -> stock {stock_after}"),
            Outcome::OrderSeen { order } => write!(f, " -> order #{} seen", order.number),
            Outcome::OrderMissing => write!(f, " -> missing"),
            Outcome::Failed { code } => write!(f, " -> failed ({code})"),
            Outcome::Unknown { reason } => write!(f, " -> unknown ({reason})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{bought, read};

    #[test]
    fn ops_round_trip_through_json_and_describe_themselves() {
        // Goal: the runner writes the history as JSON and reports quote ops; both must work.
        let mut b = bought(7, 1, 2, "k", 4, (100, 250));
        b.process = 3;
        let mut r = read(8, 1, 5, (0, 0));
        r.complete_ns = None;
        let history = vec![b.clone(), r];
        let text = serde_json::to_string(&history).unwrap();
        assert!(text.contains(r#""type":"buy""#) && text.contains(r#""type":"bought""#));
        let back: Vec<Op> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, history);
        assert_eq!(
            b.to_string(),
            r#"op 7 (process 3, [100, 250] ns): buy item 1 x2 key "k" -> bought order #4"#
        );
        assert!(back[1].is_unknown() && !back[0].is_unknown());
        assert!(b.completed_before(251) && !b.completed_before(250));
    }

    #[test]
    fn mismatched_outcomes_and_reversed_times_are_malformed() {
        // Goal: the checkers refuse to guess about ops they cannot interpret.
        let mut r = read(1, 1, 5, (10, 20));
        assert!(r.malformed().is_none());
        r.outcome = Outcome::Refused;
        assert!(r.malformed().is_some());
        let backwards = read(2, 1, 5, (30, 20));
        assert!(backwards
            .malformed()
            .unwrap()
            .contains("before it is invoked"));
    }
}
