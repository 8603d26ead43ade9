//! The progress bar of `pygmy bench` on stderr (`crate::progress`): requests done out of the
//! budget, or time out of the duration, and the rate over the last second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::progress::{self, Rate};

/// The progress bar on stderr: requests done out of the budget, or time out of the duration.
pub(super) fn progress_bar(
    hidden: bool,
    requests: Option<u64>,
    duration: Option<Duration>,
) -> ProgressBar {
    let length = match (requests, duration) {
        (Some(requests), _) => requests,
        (None, Some(d)) => progress::millis(d),
        (None, None) => 0,
    };
    progress::bar(hidden, length)
}

/// Redraws the progress bar every tick with the requests done and the rate over the last
/// second. Loops until aborted by `drive`.
pub(super) async fn show_progress(
    bar: ProgressBar,
    done: Arc<AtomicU64>,
    started: Instant,
    by_count: bool,
) {
    let mut rate = Rate::default();
    progress::every_tick(|now| {
        let count = done.load(Ordering::Relaxed);
        let per_second = rate.per_second(now, count);
        let elapsed_ms = progress::millis(now.duration_since(started));
        bar.set_position(if by_count { count } else { elapsed_ms });
        bar.set_message(format!("{count} requests, {per_second:.0} req/s"));
    })
    .await;
}
