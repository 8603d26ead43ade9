//! What the checks look at ([`CheckInput`]: the history and the recovered state) and the bounds
//! on their work ([`CheckLimits`]).

use std::collections::BTreeMap;

use api::Order;
use serde::{Deserialize, Serialize};

use crate::history::Op;

/// A state digest of one replica: `(group, replica id, last_applied log index, digest)`.
pub type Digest = (String, u64, u64, String);

/// Everything the checks look at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInput {
    /// Every operation the clients ran.
    pub history: Vec<Op>,
    /// Stock of each book when the history began, by book id. Only these books are checked
    /// for conservation; a book in the history without one leaves `stock_linearizable`
    /// inconclusive.
    pub initial_stock: BTreeMap<u64, u64>,
    /// Final order log of each order replica: `(replica id, orders in log order)`.
    pub order_logs: Vec<(u64, Vec<Order>)>,
    /// Final stock of each catalog replica: `(replica id, stock by book id)`, collected once the
    /// cluster has recovered and no operation is in flight any more (the checks take it as the
    /// state after every operation, unknown ones included).
    pub catalog_stock: Vec<(u64, BTreeMap<u64, u64>)>,
    /// State digests of the replicas, compared within a group at equal `last_applied`.
    pub digests: Vec<Digest>,
    /// Log lines with panics, collected from every replica.
    pub panics: Vec<String>,
    /// Orders already in the log when the history began (numbers `1..=orders_before`, when
    /// attaching to a running cluster): sold before `initial_stock` was read, so conservation
    /// and `buy_keys_once` leave them out. 0 for a fresh cluster.
    #[serde(default)]
    pub orders_before: u64,
}

/// Bounds on the checkers' work. When one is hit, the check concerned is inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    /// Most states (sets of linearized ops with a stock) the linearizability search explores
    /// per book; about 150 bytes of memory and 1.3 µs each (release build). Default 1 000 000
    /// (150 MB, under 2 s): a valid history of 2000 ops by 16 clients needs about 8000, or a
    /// few 100 000 when replicas are killed every few hundred ops.
    pub search_states_per_item_max: u64,
    /// Most subset sums of the restocks of one book with unknown outcome that conservation
    /// tries (`2^n` for `n` distinct deltas). Default `1 << 20`: at least 20 unknown restocks
    /// per book, more when deltas repeat.
    pub restock_sums_per_item_max: usize,
}

/// Default of [`CheckLimits::search_states_per_item_max`].
pub const SEARCH_STATES_PER_ITEM_MAX_DEFAULT: u64 = 1_000_000;
/// Default of [`CheckLimits::restock_sums_per_item_max`].
pub const RESTOCK_SUMS_PER_ITEM_MAX_DEFAULT: usize = 1 << 20;

impl Default for CheckLimits {
    fn default() -> CheckLimits {
        CheckLimits {
            search_states_per_item_max: SEARCH_STATES_PER_ITEM_MAX_DEFAULT,
            restock_sums_per_item_max: RESTOCK_SUMS_PER_ITEM_MAX_DEFAULT,
        }
    }
}
