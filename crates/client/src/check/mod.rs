//! The history checker of `pygmy chaos` (DESIGN §9): given what the clients saw (a history of
//! timed operations) and what the replicas hold once recovered, decides whether the store kept
//! its promises (DESIGN §5-7). Pure: no I/O, no async.
//!
//! Layout:
//! - [`history`]: [`Op`], [`OpKind`], [`Outcome`], the recorded history (JSON via serde).
//! - `register`: `stock_linearizable`, each book's stock as a linearizable register
//!   ([`check_register`]); `logical` turns a book's ops into the ops of the search.
//! - `wgl`: the Wing-Gong/Lowe search (the model and its entry point); `walk`: its depth-first
//!   walk and pruning; `entries`: its call/return list; `placed` and `memo`: the linearized
//!   sets and the visited states; `words`: the memo's compact keys and hasher.
//! - `orders`: `acknowledged_orders_durable`, `order_numbers_gap_free`; `buy_keys`:
//!   `buy_keys_once`; `order_reads`: `order_reads_consistent`.
//! - `stock`: `stock_conserved`.
//! - `replicas`: `replicas_identical`, `no_panics`.
//! - [`report`]: [`CheckReport`], [`CheckResult`], [`CheckStatus`].
//!
//! A check that cannot decide (a work limit hit, input missing) is `inconclusive`, never a pass.

mod buy_keys;
mod entries;
pub mod history;
mod logical;
mod memo;
mod order_reads;
mod orders;
mod placed;
mod register;
mod replicas;
pub mod report;
mod stock;
mod walk;
mod wgl;
mod words;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod randomized;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod testutil;

use std::collections::BTreeMap;

use api::Order;
use serde::{Deserialize, Serialize};

pub use history::{Op, OpKind, Outcome};
pub use register::{check_register, BookEnd, RegisterOutcome, RegisterViolation};
pub use report::{CheckReport, CheckResult, CheckStatus};

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

/// Runs every check on `input`. Checks, in order: `acknowledged_orders_durable`,
/// `order_numbers_gap_free`, `buy_keys_once`, `order_reads_consistent`, `stock_conserved`,
/// `stock_linearizable`, `replicas_identical`, `no_panics`.
pub fn check_all(input: &CheckInput, limits: &CheckLimits) -> CheckReport {
    let (history, logs, before) = (&input.history, &input.order_logs, input.orders_before);
    let states_max = limits.search_states_per_item_max;
    CheckReport {
        checks: vec![
            orders::acknowledged_orders_durable(history, logs),
            orders::order_numbers_gap_free(logs),
            buy_keys::buy_keys_once(history, logs, before),
            order_reads::order_reads_consistent(history, logs, before),
            stock::stock_conserved(input, limits),
            register::stock_linearizable(input, states_max),
            replicas::replicas_identical(&input.digests),
            replicas::no_panics(&input.panics),
        ],
    }
}
