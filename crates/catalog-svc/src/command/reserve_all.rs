//! `ReserveAll`: the reservations of many buys in one entry, as the order leader batches them.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{CatalogResponse, Reserve};

/// Apply each [`Reserve`] in order, in one transaction: the same outcomes as one entry each in
/// that order (a later one sees the stock an earlier one took), for one proposal, one cache
/// notice and one request instead of one per buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveAll {
    /// The reservations, in the order they apply.
    pub reservations: Vec<Reserve>,
}

impl ReserveAll {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let each = self
            .reservations
            .iter()
            .map(|r| r.apply(txn))
            .collect::<TxnResult<_>>()?;
        Ok(CatalogResponse::Reservations(each))
    }
}
