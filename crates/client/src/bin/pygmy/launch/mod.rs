//! A cluster as child processes of this one: what `pygmy up` runs until Ctrl-C, and what
//! `pygmy chaos` injects its faults into. Both use this module and neither the other; nothing
//! here knows either of them.
//!
//! Layout:
//! - `roster`: which replicas to start: the configured ones, or the members the replica
//!   directories recorded after `pygmy member` changed a group.
//! - `plan`: what to start: one `pygmy serve` per replica and per frontend, and the
//!   environment the children share (never a token).
//! - `data_dir`: the data directory: its replica directories, preparing it for a start (and
//!   whether that start bootstraps a new cluster), clearing it (`up --fresh`).
//! - `preflight`: nothing in use (replica directory, address) before anything is touched.
//! - `start`: the start sequence ([`Launch`]) and the cluster that came of it ([`Started`]).
//! - `children`: the started processes: watched, killed, paused, restarted, stopped.
//! - `ready`: waiting until both groups lead, the frontends are ready and the books seeded.
//! - `leader`: which replica of a group leads, asked of the replicas.

mod children;
mod data_dir;
mod leader;
mod plan;
mod preflight;
mod ready;
mod roster;
mod start;

pub(crate) use children::Children;
pub(crate) use leader::group_leader;
pub(crate) use ready::wait_ready;
pub(crate) use start::{Launch, Started};
