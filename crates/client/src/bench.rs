//! The reusable parts of `pygmy bench`, a load generator against the public API.
//!
//! Layout:
//! - `plan`: what to send: [`Op`] (the benchmark's operation), [`Planned`] (the request a
//!   sequence number stands for) and [`Budget`] (when to stop: a request count, a deadline,
//!   an interrupt).
//! - `target`: [`Target`] sends one planned request and times it into a [`Sample`].
//! - `timing`: [`parse_server_timing`], the per-tier durations of a `Server-Timing` header.
//! - `recorder`: [`Recorder`], latencies in HDR histograms (microseconds) and outcome counts,
//!   per request kind and per tier; one per worker, merged at the end.
//! - `report`: [`Report`], the figures of a run, serializable as JSON.
//! - `window`: [`WindowRecorder`], the run cut into windows of N requests, for checkpoints.
//! - `checkpoint`: [`Checkpoint`], one window's figures and the replicas' state at its end.
//! - `duration`: [`parse_duration`] for `10s`, `500ms`, `1m30s`.
//!
//! The CLI glue (flags, workers, progress bar, printing, the checkpoint tasks and their drawing)
//! lives in `src/bin/pygmy/bench/`.

mod checkpoint;
mod duration;
mod plan;
mod recorder;
mod report;
mod target;
mod timing;
mod window;

pub use checkpoint::{median, Checkpoint, ReplicaCheckpoint, STATUS_GETS_PER_CHECKPOINT};
pub use duration::{parse_duration, DurationError};
pub use plan::{Budget, Kind, Op, Planned, BOOK_IDS, TOPICS};
pub use recorder::{Outcome, Recorder, Sample, LATENCY_US_MAX};
pub use report::{CpuUse, KindReport, Percentiles, Report, RunInfo, TierReport};
pub use target::Target;
pub use timing::{parse_server_timing, tier_durations};
pub use window::{Window, WindowRecorder};
