//! The progress line of `pygmy bench` on stderr: requests done and the rate over the last
//! second, redrawn a few times a second while the workers run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the progress line is redrawn, in milliseconds.
const PROGRESS_TICK_MS: u64 = 200;
/// The rate shown is over this many ticks (1 s).
const PROGRESS_RATE_TICKS: usize = 5;

/// The progress bar on stderr: requests done out of the budget, or time out of the duration.
pub(super) fn progress_bar(
    hidden: bool,
    requests: Option<u64>,
    duration: Option<Duration>,
) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let length = match (requests, duration) {
        (Some(requests), _) => requests,
        (None, Some(d)) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        (None, None) => 0,
    };
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Redraws the progress bar every tick with the requests done and the rate over the last
/// second. Loops until aborted by `drive`.
pub(super) async fn show_progress(
    bar: ProgressBar,
    done: Arc<AtomicU64>,
    started: Instant,
    by_count: bool,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(PROGRESS_TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut window = std::collections::VecDeque::with_capacity(PROGRESS_RATE_TICKS + 1);
    loop {
        tick.tick().await;
        let (now, count) = (Instant::now(), done.load(Ordering::Relaxed));
        window.push_back((now, count));
        if window.len() > PROGRESS_RATE_TICKS + 1 {
            window.pop_front();
        }
        let (then, before) = window.front().copied().unwrap_or((now, count));
        let seconds = now.duration_since(then).as_secs_f64();
        let rate = if seconds > 0.0 {
            (count - before) as f64 / seconds
        } else {
            0.0
        };
        let elapsed_ms = u64::try_from(now.duration_since(started).as_millis()).unwrap_or(u64::MAX);
        bar.set_position(if by_count { count } else { elapsed_ms });
        bar.set_message(format!("{count} requests, {rate:.0} req/s"));
    }
}
