//! `CompleteAll`: the orders of many buys in one entry, as the order leader batches them.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{CompleteBuy, OrderResponse};

/// Apply each [`CompleteBuy`] in order, in one transaction: the same orders, numbered in that
/// order, as one entry each would give, for one log entry instead of one per buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteAll {
    /// The buys to commit, in the order they take their numbers.
    pub buys: Vec<CompleteBuy>,
}

impl CompleteAll {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<OrderResponse> {
        let each = self
            .buys
            .iter()
            .map(|c| c.apply(txn))
            .collect::<TxnResult<_>>()?;
        Ok(OrderResponse::OrderedAll(each))
    }
}
