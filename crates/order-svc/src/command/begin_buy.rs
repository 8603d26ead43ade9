//! `BeginBuy`: record a buy as pending before the catalog is asked for stock.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{finished, pending, OrderResponse, PendingBuy, PENDING};

/// Record the buy `key` of `quantity` copies of `item` as pending. Answers the finished outcome
/// if the key already finished, and refuses a key reused for another buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginBuy {
    /// The buy.
    pub buy: PendingBuy,
}

impl BeginBuy {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        let key = &self.buy.key;
        if let Some(done) = finished(txn, key)? {
            if let OrderResponse::Ordered(order) = &done {
                if (order.item, order.quantity) != (self.buy.item, self.buy.quantity) {
                    return Ok(OrderResponse::KeyConflict(key.clone()));
                }
            }
            return Ok(done);
        }
        if let Some(existing) = pending(txn, key)? {
            if existing != self.buy {
                return Ok(OrderResponse::KeyConflict(key.clone()));
            }
            return Ok(OrderResponse::Pending(existing));
        }
        txn.insert(PENDING, key.as_bytes(), &self.buy)?;
        Ok(OrderResponse::Pending(self.buy.clone()))
    }
}
