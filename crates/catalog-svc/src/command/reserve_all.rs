//! `ReserveAll`: the reservations of many buys in one entry, as the order leader batches them.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::fence_orders::order_fence;
use super::{CatalogResponse, Rejection, Reserve};

/// Apply each [`Reserve`] in order, in one transaction: the same outcomes as one entry each in
/// that order (a later one sees the stock an earlier one took), for one proposal, one cache
/// notice and one request instead of one per buy. Each is refused, storing nothing, if the
/// order leader that sends them has been fenced out ([`super::FenceOrders`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveAll {
    /// The reservations, in the order they apply.
    pub reservations: Vec<Reserve>,
    /// The Raft term of the order leader that sends them (0 from an older sender: fenced out
    /// by any fence).
    #[serde(default)]
    pub order_term: u64,
}

impl ReserveAll {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let fence = order_fence(txn)?;
        if self.order_term < fence {
            let stale = Rejection::StaleOrderLeader {
                term: self.order_term,
                fence,
            };
            let each = vec![CatalogResponse::Rejected(stale); self.reservations.len()];
            return Ok(CatalogResponse::Reservations(each));
        }
        let each = self
            .reservations
            .iter()
            .map(|r| r.apply(txn))
            .collect::<TxnResult<_>>()?;
        Ok(CatalogResponse::Reservations(each))
    }
}
