//! The pure parts of `pygmy chaos`: the seeded fault schedule and the timeline statistics
//! (throughput, latency, unavailability after each fault). The history checker is the `check`
//! crate; the processes, clients and nemesis live in the binary.

pub mod schedule;
pub mod timeline;

pub use schedule::{FaultKind, FaultStep, MaxDown, Role, Schedule, ScheduleConfig};
pub use timeline::{FaultScope, Timeline, TimelineBucket, Unavailability, Write};
