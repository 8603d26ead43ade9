//! The order replica's HTTP routes; one file per route group.

pub mod buy;
pub mod orders;
