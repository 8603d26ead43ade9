//! The order log's replicated commands: one file per command; this module holds the enums,
//! the state trees and dispatch.
//!
//! A buy is three commands under its buy key: `BeginBuy` records it as pending before the catalog
//! is asked for stock, then `CompleteBuy` commits the order with the next number, or `AbandonBuy`
//! records the catalog's definitive refusal. Each is idempotent by key, so a retried or
//! concurrently repeated buy, or a new leader finishing its predecessor's pending buys, never
//! makes two orders or leaks a reservation.

mod abandon_buy;
mod begin_buy;
mod complete_buy;

use api::{ErrorCode, Order};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

pub use abandon_buy::AbandonBuy;
pub use begin_buy::BeginBuy;
pub use complete_buy::CompleteBuy;

/// State tree of the order log: order number (u64 big-endian) -> `Order`.
pub const ORDERS: &str = "orders";
/// State tree of finished buys: buy key -> `KeyOutcome`.
pub const ORDER_KEYS: &str = "order_keys";
/// State tree of buys begun but not finished: buy key -> `PendingBuy`.
pub const PENDING: &str = "pending";
/// State tree of counters: `next_number` -> u64.
pub const ORDER_META: &str = "order_meta";

/// Key of the next order number in [`ORDER_META`].
pub(crate) const NEXT_NUMBER: &[u8] = b"next_number";

/// A command of the order log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderCommand {
    /// Record a buy as pending.
    BeginBuy(BeginBuy),
    /// Commit the order of a pending buy.
    CompleteBuy(CompleteBuy),
    /// Record a pending buy's definitive refusal.
    AbandonBuy(AbandonBuy),
}

/// A buy begun but not finished: the catalog may or may not hold its reservation yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBuy {
    /// Buy key.
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies.
    pub quantity: u64,
}

/// How a finished buy ended, stored under its key so a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOutcome {
    /// The order with this number was committed.
    Ordered(u64),
    /// The catalog refused the buy definitively (out of stock, unknown book, ...).
    Refused {
        /// The catalog's error code.
        code: ErrorCode,
        /// The catalog's message.
        message: String,
    },
}

/// What applying an order command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderResponse {
    /// The buy is pending: ask the catalog.
    Pending(PendingBuy),
    /// The buy's order.
    Ordered(Order),
    /// The buy was refused.
    Refused {
        /// The catalog's error code.
        code: ErrorCode,
        /// The catalog's message.
        message: String,
    },
    /// The key belongs to a different buy (other item or quantity).
    KeyConflict(String),
    /// `CompleteBuy`/`AbandonBuy` for a key that is not pending (nothing changed).
    NotPending(String),
}

impl OrderCommand {
    /// Applies the command inside the runner's transaction.
    pub fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        match self {
            Self::BeginBuy(c) => c.apply(txn),
            Self::CompleteBuy(c) => c.apply(txn),
            Self::AbandonBuy(c) => c.apply(txn),
        }
    }
}

/// The answer for a key that already finished, if it did.
pub(crate) fn finished(txn: &StateTxn<'_>, key: &str) -> TxnResult<Option<OrderResponse>> {
    let Some(outcome) = txn.get::<KeyOutcome>(ORDER_KEYS, key.as_bytes())? else {
        return Ok(None);
    };
    Ok(Some(match outcome {
        KeyOutcome::Ordered(number) => {
            let order = txn
                .get(ORDERS, &storage::keys::u64_key(number))?
                .expect("an ordered key's order exists");
            OrderResponse::Ordered(order)
        }
        KeyOutcome::Refused { code, message } => OrderResponse::Refused { code, message },
    }))
}

/// The pending buy under `key`, if any.
pub(crate) fn pending(txn: &StateTxn<'_>, key: &str) -> TxnResult<Option<PendingBuy>> {
    txn.get(PENDING, key.as_bytes())
}

/// Takes the next order number (1, 2, 3, ...).
pub(crate) fn take_number(txn: &StateTxn<'_>) -> TxnResult<u64> {
    let number = txn.get::<u64>(ORDER_META, NEXT_NUMBER)?.unwrap_or(1);
    txn.insert(ORDER_META, NEXT_NUMBER, &(number + 1))?;
    Ok(number)
}
