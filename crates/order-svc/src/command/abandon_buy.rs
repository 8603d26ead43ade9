//! `AbandonBuy`: the catalog refused the buy for good; remember why.

use api::ErrorCode;
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{finished, pending, KeyOutcome, OrderResponse, ORDER_KEYS, PENDING};

/// Finish the pending buy `key` as refused with the catalog's error. Idempotent; never undoes a
/// committed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonBuy {
    /// Buy key.
    pub key: String,
    /// The catalog's error code (e.g. `out_of_stock`, `not_found`).
    pub code: ErrorCode,
    /// The catalog's message.
    pub message: String,
}

impl AbandonBuy {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        if let Some(done) = finished(txn, &self.key)? {
            return Ok(done);
        }
        if pending(txn, &self.key)?.is_none() {
            return Ok(OrderResponse::NotPending(self.key.clone()));
        }
        let outcome = KeyOutcome::Refused {
            code: self.code,
            message: self.message.clone(),
        };
        txn.insert(ORDER_KEYS, self.key.as_bytes(), &outcome)?;
        txn.remove(PENDING, self.key.as_bytes())?;
        Ok(OrderResponse::Refused {
            code: self.code,
            message: self.message.clone(),
        })
    }
}
