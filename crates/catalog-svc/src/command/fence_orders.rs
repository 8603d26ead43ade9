//! `FenceOrders`: a new order leader shuts out its predecessors' reservations and learns which
//! reservations still hold stock.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{CatalogResponse, Rejection, ORDER_FENCE, ORDER_FENCE_KEY};

/// Raise the order fence to `term`: from now on a `ReserveAll` of an order leader of an earlier
/// term is refused, storing nothing. So the reservations held once it applied ([`super::HELD`],
/// read after it) include every one its predecessors may have left half-done, and none can be
/// added behind the new leader's back afterwards. Refused if a later term already fenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceOrders {
    /// The Raft term of the order leader that fences.
    pub term: u64,
}

impl FenceOrders {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let fence = order_fence(txn)?;
        if self.term < fence {
            return Ok(CatalogResponse::Rejected(Rejection::StaleOrderLeader {
                term: self.term,
                fence,
            }));
        }
        if self.term > fence {
            txn.insert(ORDER_FENCE, ORDER_FENCE_KEY, &self.term)?;
        }
        Ok(CatalogResponse::OrdersFenced(self.term))
    }
}

/// The order term below which reservations are refused (0: never fenced).
pub(crate) fn order_fence(txn: &StateTxn<'_>) -> TxnResult<u64> {
    Ok(txn.get(ORDER_FENCE, ORDER_FENCE_KEY)?.unwrap_or(0))
}
