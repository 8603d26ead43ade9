//! `ConfirmAll`: the reservations of many committed orders are sold for good, in one entry.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::confirm::confirm;
use super::CatalogResponse;

/// Mark the reservations under `keys` confirmed, as [`super::Confirm`] does each. Idempotent. A
/// key [`super::Confirm`] would refuse (unknown, released, refused) is left as it is and not
/// counted: the order leader sends confirmations on a best-effort basis, after the orders
/// committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmAll {
    /// Buy keys.
    pub keys: Vec<String>,
}

impl ConfirmAll {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let mut confirmed = 0;
        for key in &self.keys {
            if confirm(txn, key)?.is_ok() {
                confirmed += 1;
            }
        }
        Ok(CatalogResponse::Confirmed(confirmed))
    }
}
