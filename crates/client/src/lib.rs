//! A typed client of the Pygmy public API (the frontend, DESIGN §4), used by the `pygmy` CLI
//! and by tests, bench and chaos.
//!
//! Layout:
//! - [`bench`](mod@bench): latency and outcome recording, `Server-Timing` parsing and the report of
//!   `pygmy bench`.
//! - [`chaos`]: the seeded draws, fault schedule and timeline statistics of `pygmy chaos` (its
//!   history checker is the `check` crate).
//! - [`client`]: [`PygmyClient`], one method per public route.
//! - `legacy`: raw access to the routes of the original Flask system ([`RawAnswer`]).
//! - [`error`]: [`Error`], which keeps "the server said no" apart from "the outcome is
//!   unknown" ([`Error::is_outcome_unknown`]).
//! - `request`: sending one request and reading its answer (bounded by [`ANSWER_BYTES_MAX`]).
//!
//! The `pygmy` binary (`src/bin/pygmy/`) also depends on the services, for `pygmy serve` and
//! `pygmy up`, and on `check`, for `pygmy chaos`; this library uses only `api`, an HTTP client,
//! `hdrhistogram` and `rand_chacha`.

pub mod bench;
pub mod chaos;
pub mod client;
pub mod error;
mod legacy;
mod request;
#[cfg(test)]
mod testutil;

pub use client::{
    PygmyClient, CONNECT_TIMEOUT_MS, IDEMPOTENCY_KEY_HEADER, REQUEST_TIMEOUT_MS_DEFAULT,
};
pub use error::{code_name, Error, Result};
pub use legacy::RawAnswer;
pub use request::ANSWER_BYTES_MAX;
