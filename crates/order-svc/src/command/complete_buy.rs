//! `CompleteBuy`: the catalog holds the stock; commit the order with the next number.

use api::{Order, OrderStatus};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{
    finished, pending, take_number, KeyOutcome, OrderResponse, ORDERS, ORDER_KEYS, PENDING,
};

/// Commit the order of the pending buy `key`, with the book's title and unit cost as the catalog
/// reported them when it reserved the stock. Idempotent: a finished key answers its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteBuy {
    /// Buy key.
    pub key: String,
    /// Book title.
    pub title: String,
    /// Cost of one copy.
    pub unit_cost: u64,
}

impl CompleteBuy {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        if let Some(done) = finished(txn, &self.key)? {
            return Ok(done);
        }
        let Some(buy) = pending(txn, &self.key)? else {
            return Ok(OrderResponse::NotPending(self.key.clone()));
        };
        let number = take_number(txn)?;
        let order = Order {
            number,
            item: buy.item,
            title: self.title.clone(),
            quantity: buy.quantity,
            cost: self.unit_cost.saturating_mul(buy.quantity),
            status: OrderStatus::Committed,
        };
        txn.insert(ORDERS, &storage::keys::u64_key(number), &order)?;
        txn.insert(
            ORDER_KEYS,
            self.key.as_bytes(),
            &KeyOutcome::Ordered(number),
        )?;
        txn.remove(PENDING, self.key.as_bytes())?;
        Ok(OrderResponse::Ordered(order))
    }
}
