//! Progress bars of the long-running commands (`bench`, `chaos`) on stderr: one style, redrawn
//! a few times a second from counters their tasks update, and a count's rate over the last
//! second. What each bar counts and says stays with its command (`bench/progress.rs`,
//! `chaos/progress.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress bar is redrawn, in milliseconds.
const TICK_MS: u64 = 200;
/// A rate is taken over this many ticks (1 s).
const RATE_TICKS: usize = 5;
/// Most redraws per second on the terminal, whatever the callers ask for.
const DRAWS_PER_SECOND_MAX: u8 = 10;

/// A bar of `length` units on stderr, or a hidden one (nothing drawn, `suspend` just runs).
pub(crate) fn bar(hidden: bool, length: u64) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let target = ProgressDrawTarget::stderr_with_hz(DRAWS_PER_SECOND_MAX);
    let bar = ProgressBar::with_draw_target(Some(length), target);
    // `wide_msg`: a message longer than the terminal is cut, not wrapped onto lines that the
    // next redraw would leave behind.
    let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {wide_msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Milliseconds of `duration`, saturating: the unit of a bar that measures time.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Calls `redraw` with the time every tick. Loops until the task running it is aborted.
pub(crate) async fn every_tick(mut redraw: impl FnMut(Instant)) {
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        redraw(Instant::now());
    }
}

/// A growing count's rate over the last second, from one sample per tick.
#[derive(Debug, Default)]
pub(crate) struct Rate {
    /// `(when, count)`, oldest first; at most `RATE_TICKS + 1` samples.
    window: VecDeque<(Instant, u64)>,
}

impl Rate {
    /// Adds the sample `count` at `now`; the rate per second since the oldest sample kept.
    pub(crate) fn per_second(&mut self, now: Instant, count: u64) -> f64 {
        self.window.push_back((now, count));
        if self.window.len() > RATE_TICKS + 1 {
            self.window.pop_front();
        }
        let (then, before) = self.window.front().copied().unwrap_or((now, count));
        let seconds = now.duration_since(then).as_secs_f64();
        if seconds > 0.0 {
            count.saturating_sub(before) as f64 / seconds
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_over_the_last_second_of_samples() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut rate = Rate::default();
        assert_eq!(rate.per_second(at(0), 0), 0.0, "one sample has no rate");
        // 100 more per tick for 5 ticks (1 s): 500/s.
        for tick in 1..=5 {
            rate.per_second(at(tick * 200), tick * 100);
        }
        assert_eq!(rate.per_second(at(1200), 600), 500.0);
        // Then nothing for a second: the old samples leave the window and the rate drops to 0.
        for tick in 7..=11 {
            rate.per_second(at(tick * 200), 600);
        }
        assert_eq!(rate.per_second(at(2400), 600), 0.0);
    }
}
