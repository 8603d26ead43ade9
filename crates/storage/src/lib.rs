//! Durable, replicated state for Pygmy: everything between a service's state machine and the disk
//! or the network.
//!
//! Layout:
//! - [`machine`]: the [`ServiceMachine`] trait a service implements, and its transaction and read views.
//! - [`db`]: one replica's sled Db (Raft trees, state trees), [`flusher`] its group commit,
//!   [`digest`] the state digest each apply keeps, [`metrics`] the handles its flushes,
//!   applies and snapshots record into (the Raft state is published by `replica`).
//! - [`log_store`]: openraft's log storage on sled; [`state_machine`] the apply runner; [`snapshot`].
//! - [`network`]: outbound peer RPC over reqwest; [`peer_routes`]: the inbound axum routes.
//! - [`identity`]: the cluster id: recorded at bootstrap, carried and checked between peers;
//!   [`admission`]: the checks before Raft starts (directory, cluster id, peers' greeting).
//! - [`members_file`]: the membership a replica last knew, copied to a file for `pygmy up`;
//!   [`whole_file`]: such a copy replaced whole (temporary file, sync, rename).
//! - [`fence`]: a leader's hook around its writes (cache coherence of the catalog).
//! - [`backup`]: a backup's manifest and check, and replica directories restored from one (a
//!   live replica's side is `replica::backup`).
//! - [`offline`]: offline inspection of a replica directory, through a private copy.
//! - [`replica`]: a running replica: start, status, writes that find the leader, linearizable
//!   reads (one file per concern, one leader-following loop shared by writes and reads).
//! - [`spec`]: what one replica needs to start, from the cluster configuration, and its
//!   openraft `Config`.
//! - [`serving`]: a replica process's life: bind, serve, then stop tasks, Raft and Db.
//! - [`scratch`]: a throwaway state for unit tests of a service machine.
//!
//! Configuration, process life and telemetry, which the frontend shares without needing sled or
//! openraft, are the `runtime` crate's.
//!
//! Invariants: every acknowledgement to Raft follows a flush; state and `last_applied` change in
//! one transaction; dependencies point here from the services, never back.

// openraft's trait methods return its `StorageError` (over 200 bytes); boxing it would only add
// conversions at every call, so the large-Err lint is off for this crate.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod backup;
pub mod db;
pub mod digest;
pub mod error;
pub mod fence;
pub mod flusher;
pub mod identity;
pub mod keys;
mod log_purger;
pub mod log_store;
pub mod machine;
pub mod members_file;
pub mod metrics;
pub mod network;
pub mod offline;
pub mod peer_routes;
pub mod replica;
pub mod scratch;
pub mod serving;
pub mod snapshot;
pub mod spec;
pub mod state_machine;
pub mod types;
pub mod whole_file;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod testutil;

pub use error::{Error, Result};
pub use fence::{FenceEntry, WriteFence};
pub use machine::{ServiceMachine, StateTxn, StateView, TxnResult};
pub use replica::{Leadership, Replica, Written};
pub use spec::ReplicaSpec;
