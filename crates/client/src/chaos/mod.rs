//! The pure parts of `pygmy chaos`: the seeded draws ([`draw`]: the same seed, the same run, whatever
//! `rand` version), the fault schedule and the timeline statistics
//! (throughput, latency, unavailability after each fault). The history checker is the `check`
//! crate; the processes, clients and nemesis live in the binary.

pub mod draw;
pub mod schedule;
pub mod timeline;

pub use draw::Draw;
pub use schedule::{FaultKind, FaultStep, MaxDown, Role, Schedule, ScheduleConfig};
pub use timeline::{FaultScope, Timeline, TimelineBucket, Unavailability, Write};
