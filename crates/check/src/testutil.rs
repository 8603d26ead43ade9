//! Builders of history operations for the checkers' tests, written once.
//!
//! Each op runs on its own process (`process == id`) unless a test sets it; `span` is
//! `(invoke_ns, complete_ns)` of an op whose answer arrived.

use std::collections::BTreeMap;

use api::{Order, OrderStatus};

use crate::history::{Op, OpKind, Outcome};
use crate::input::CheckInput;

/// An order as the order log would hold it: title `book {item}`, unit cost 10.
pub(crate) fn order(number: u64, item: u64, quantity: u64) -> Order {
    Order {
        number,
        item,
        title: format!("book {item}"),
        quantity,
        cost: 10 * quantity,
        status: OrderStatus::Committed,
    }
}

fn op(id: u64, kind: OpKind, outcome: Outcome, span: (u64, u64)) -> Op {
    Op {
        id,
        process: id,
        invoke_ns: span.0,
        complete_ns: Some(span.1),
        kind,
        outcome,
    }
}

fn buy_kind(item: u64, quantity: u64, key: &str) -> OpKind {
    OpKind::Buy {
        item,
        quantity,
        key: key.to_string(),
    }
}

/// A read of `item` that saw `stock`.
pub(crate) fn read(id: u64, item: u64, stock: u64, span: (u64, u64)) -> Op {
    op(
        id,
        OpKind::Read { item },
        Outcome::ReadStock { stock },
        span,
    )
}

/// An acknowledged buy, answered with order `number`.
pub(crate) fn bought(id: u64, item: u64, qty: u64, key: &str, number: u64, span: (u64, u64)) -> Op {
    let order = order(number, item, qty);
    op(
        id,
        buy_kind(item, qty, key),
        Outcome::Bought { order },
        span,
    )
}

/// A buy refused for lack of stock.
pub(crate) fn refused(id: u64, item: u64, quantity: u64, key: &str, span: (u64, u64)) -> Op {
    op(id, buy_kind(item, quantity, key), Outcome::Refused, span)
}

/// A buy whose answer never came.
pub(crate) fn buy_unknown(id: u64, item: u64, quantity: u64, key: &str, invoke_ns: u64) -> Op {
    unknown(op(
        id,
        buy_kind(item, quantity, key),
        Outcome::Refused,
        (invoke_ns, invoke_ns),
    ))
}

/// An applied restock.
pub(crate) fn restocked(id: u64, item: u64, delta: i64, stock_after: u64, span: (u64, u64)) -> Op {
    let outcome = Outcome::Restocked { stock_after };
    op(id, OpKind::Restock { item, delta }, outcome, span)
}

/// A restock whose answer never came.
pub(crate) fn restock_unknown(id: u64, item: u64, delta: i64, invoke_ns: u64) -> Op {
    let kind = OpKind::Restock { item, delta };
    unknown(op(id, kind, Outcome::Refused, (invoke_ns, invoke_ns)))
}

/// A read of order `order.number` that found it.
pub(crate) fn order_seen(id: u64, order: Order, span: (u64, u64)) -> Op {
    let kind = OpKind::ReadOrder {
        number: order.number,
    };
    op(id, kind, Outcome::OrderSeen { order }, span)
}

/// A read of order `number` that found nothing.
pub(crate) fn order_missing(id: u64, number: u64, span: (u64, u64)) -> Op {
    op(
        id,
        OpKind::ReadOrder { number },
        Outcome::OrderMissing,
        span,
    )
}

/// The same op with its answer lost: no completion, outcome unknown.
pub(crate) fn unknown(mut op: Op) -> Op {
    op.complete_ns = None;
    op.outcome = Outcome::Unknown {
        reason: "timeout".to_string(),
    };
    op
}

/// The same order log on order replicas 1, 2 and 3.
pub(crate) fn logs(log: &[Order]) -> Vec<(u64, Vec<Order>)> {
    (1..=3).map(|replica| (replica, log.to_vec())).collect()
}

/// A recovered cluster with one book (id 1, `initial` copies when the history began): three
/// order replicas holding `log`, three catalog replicas holding `stock`, equal digests, no
/// panic.
pub(crate) fn cluster(history: Vec<Op>, initial: u64, log: &[Order], stock: u64) -> CheckInput {
    let digest = |group: &str, replica| (group.to_string(), replica, 7, "d".to_string());
    CheckInput {
        history,
        initial_stock: BTreeMap::from([(1, initial)]),
        order_logs: (1..=3).map(|r| (r, log.to_vec())).collect(),
        catalog_stock: (1..=3).map(|r| (r, BTreeMap::from([(1, stock)]))).collect(),
        digests: (1..=3)
            .flat_map(|r| [digest("catalog", r), digest("order", r)])
            .collect(),
        panics: Vec::new(),
        orders_before: 0,
    }
}

/// A small deterministic generator (splitmix64), so randomized tests need no extra crate
/// and print a seed that replays them.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
