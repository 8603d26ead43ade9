//! The history checker of `pygmy chaos` (DESIGN §9): given what the clients saw (a history of
//! timed operations) and what the replicas hold once recovered, decides whether the store kept
//! its promises (DESIGN §5-7). Pure: no I/O, no async. It judges the system, so it lives in a
//! package of its own that depends only on `api` and serde (DESIGN §2): `cargo test -p check`
//! compiles neither sled, openraft nor axum.
//!
//! Layout:
//! - [`history`]: [`Op`], [`OpKind`], [`Outcome`], the recorded history (JSON via serde).
//! - `input`: [`CheckInput`] (the history and the recovered state) and [`CheckLimits`];
//!   `suite`: [`check_all`], every check in order.
//! - `register`: `stock_linearizable`, each book's stock as a linearizable register
//!   ([`check_register`]); `logical` turns a book's ops into the ops of the search.
//! - `model`: the register model of the search (`Action`, `SearchOp`, `End`); `wgl`: the
//!   Wing-Gong/Lowe search's entry point; `walk`: its depth-first walk and pruning; `entries`:
//!   its call/return list; `placed` and `memo`: the linearized sets and the visited states;
//!   `words`: the memo's compact keys and hasher. Imports run one way:
//!   `wgl` -> `walk` -> `placed`/`memo`/`entries` -> `model`/`words`.
//! - `orders`: `acknowledged_orders_durable`, `order_numbers_gap_free`; `buy_keys`:
//!   `buy_keys_once`; `order_reads`: `order_reads_consistent`.
//! - `stock`: `stock_conserved`.
//! - `replicas`: `replicas_identical`, `no_panics`.
//! - [`report`]: [`CheckReport`], [`CheckResult`], [`CheckStatus`].
//!
//! Tests: unit tests sit in each file; `scenarios` (hand-written histories), `randomized`
//! (proptest on the histories of a simulated store, `sim`) and `oracle` (a brute-force search
//! to compare with) run the whole checker.
//!
//! A check that cannot decide (a work limit hit, input missing) is `inconclusive`, never a pass.

mod buy_keys;
mod entries;
pub mod history;
mod input;
mod logical;
mod memo;
mod model;
mod order_reads;
mod orders;
mod placed;
mod register;
mod replicas;
pub mod report;
mod stock;
mod suite;
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

pub use history::{Op, OpKind, Outcome};
pub use input::{
    CheckInput, CheckLimits, Digest, RESTOCK_SUMS_PER_ITEM_MAX_DEFAULT,
    SEARCH_STATES_PER_ITEM_MAX_DEFAULT,
};
pub use register::{check_register, BookEnd, RegisterOutcome, RegisterViolation};
pub use report::{CheckReport, CheckResult, CheckStatus};
pub use suite::check_all;
