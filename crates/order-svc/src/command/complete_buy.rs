//! `CompleteBuy`: the catalog holds the buy's stock; commit its order with the next number.

use api::{Order, OrderStatus};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{ordered, take_number, Buy, KeyOutcome, OrderResponse, ORDERS, ORDER_KEYS};

/// Commit the order of `buy`, whose stock the catalog holds under its key, with the book's title
/// and unit cost as the catalog reported them. Idempotent: a key already ordered answers its
/// order (or a conflict, for another item or quantity), so the buy's own leader and the next
/// leader's resolver may both send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteBuy {
    /// The buy.
    #[serde(flatten)]
    pub buy: Buy,
    /// Book title.
    pub title: String,
    /// Cost of one copy.
    pub unit_cost: u64,
}

impl CompleteBuy {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        let Buy {
            key,
            item,
            quantity,
        } = &self.buy;
        if let Some(order) = ordered(txn, key)? {
            if (order.item, order.quantity) != (*item, *quantity) {
                return Ok(OrderResponse::KeyConflict(key.clone()));
            }
            return Ok(OrderResponse::Ordered(order));
        }
        let number = take_number(txn)?;
        let order = Order {
            number,
            item: *item,
            title: self.title.clone(),
            quantity: *quantity,
            cost: self.unit_cost.saturating_mul(*quantity),
            status: OrderStatus::Committed,
        };
        txn.insert(ORDERS, &storage::keys::u64_key(number), &order)?;
        txn.insert(ORDER_KEYS, key.as_bytes(), &KeyOutcome::Ordered(number))?;
        Ok(OrderResponse::Ordered(order))
    }
}
