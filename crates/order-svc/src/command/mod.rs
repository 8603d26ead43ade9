//! The order log's replicated commands: one file per command; this module holds the enums,
//! the state trees and dispatch.
//!
//! A buy is one command under its buy key, `CompleteBuy`, committed once the catalog holds the
//! buy's stock under that key. It is idempotent by key, so a retried buy, or a new leader
//! finishing a buy its predecessor left with stock held, never makes two orders. `CompleteAll`
//! commits many in one entry, as the leader batches concurrent buys ([`crate::completions`]).

mod complete_all;
mod complete_buy;

use api::Order;
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

pub use complete_all::CompleteAll;
pub use complete_buy::CompleteBuy;

/// State tree of the order log: order number (u64 big-endian) -> `Order`.
pub const ORDERS: &str = "orders";
/// State tree of ordered buys: buy key -> `KeyOutcome`.
pub const ORDER_KEYS: &str = "order_keys";
/// State tree of counters: `next_number` -> u64.
pub const ORDER_META: &str = "order_meta";

/// Key of the next order number in [`ORDER_META`].
pub(crate) const NEXT_NUMBER: &[u8] = b"next_number";

/// A command of the order log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderCommand {
    /// Commit the order of a buy whose stock the catalog holds.
    CompleteBuy(CompleteBuy),
    /// Commit the orders of many such buys, in order.
    CompleteAll(CompleteAll),
}

/// One buy: `quantity` copies of `item` under `key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Buy {
    /// Buy key.
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies.
    pub quantity: u64,
}

/// What a buy key stands for in [`ORDER_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOutcome {
    /// The order with this number was committed.
    Ordered(u64),
}

/// What applying an order command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderResponse {
    /// The buy's order.
    Ordered(Order),
    /// The key is ordered for a different buy (other item or quantity).
    KeyConflict(String),
    /// The answers of a [`CompleteAll`]'s buys, in order: each `Ordered` or `KeyConflict`, as
    /// a `CompleteBuy` alone answers.
    OrderedAll(Vec<OrderResponse>),
}

impl OrderCommand {
    /// Applies the command inside the runner's transaction.
    pub fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        match self {
            Self::CompleteBuy(c) => c.apply(txn),
            Self::CompleteAll(c) => c.apply(txn),
        }
    }
}

/// The order of `key`, if it has one.
pub(crate) fn ordered(txn: &StateTxn<'_>, key: &str) -> TxnResult<Option<Order>> {
    let Some(KeyOutcome::Ordered(number)) = txn.get::<KeyOutcome>(ORDER_KEYS, key.as_bytes())?
    else {
        return Ok(None);
    };
    let order = txn
        .get(ORDERS, &storage::keys::u64_key(number))?
        .expect("an ordered key's order exists");
    Ok(Some(order))
}

/// Takes the next order number (1, 2, 3, ...).
pub(crate) fn take_number(txn: &StateTxn<'_>) -> TxnResult<u64> {
    let number = txn.get::<u64>(ORDER_META, NEXT_NUMBER)?.unwrap_or(1);
    txn.insert(ORDER_META, NEXT_NUMBER, &(number + 1))?;
    Ok(number)
}
