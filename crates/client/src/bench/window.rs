//! [`WindowRecorder`]: the requests of a run cut into windows of a fixed number of requests,
//! for the checkpoints of `pygmy bench --checkpoint-every N`.
//!
//! Every completed request takes the next number of one counter; request `n` (from 1) belongs
//! to window `(n - 1) / N`, whichever worker finished it, so each window holds exactly `N`
//! requests and its figures are of those requests only, never cumulative. The request that
//! closes a window (`n` a multiple of `N`) stamps its end and announces it on a watch
//! channel; the checkpoint task then [`take`](WindowRecorder::take)s the window, away from the
//! workers.
//!
//! Invariant: taking window `k` once [`closed`](WindowRecorder::subscribe) is above `k` sees
//! all of its requests. The counter is read and the request recorded under one lock, so a
//! request numbered in window `k` is recorded before any later holder of the lock, and the
//! request that closed it had the number `(k + 1) * N`.
//!
//! Memory: one histogram (about 140 KiB, see [`Recorder`](super::Recorder)) per open window;
//! a window stays open from its first request until it is taken, normally one or two at a
//! time. At most `windows_max` windows are ever recorded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::sync::watch;

use super::recorder::{histogram, Outcome, Sample};

/// The requests of one closed window.
#[derive(Debug, Clone)]
pub struct Window {
    /// Its position in the run, from 0.
    pub index: u64,
    /// Requests completed in the run when it closed: `(index + 1) * N`.
    pub requests_total: u64,
    /// Requests in it (`N`).
    pub requests: u64,
    /// Its requests answered with an error or not answered (`out_of_stock` is not an error).
    pub errors: u64,
    /// Their latencies, in microseconds.
    pub latency_us: Histogram<u64>,
    /// When its last request completed.
    pub ended_at: Instant,
}

/// What one window has recorded so far.
#[derive(Debug)]
struct OpenWindow {
    requests: u64,
    errors: u64,
    latency_us: Histogram<u64>,
    ended_at: Option<Instant>,
}

/// The counter and the windows not taken yet, under one lock.
#[derive(Debug, Default)]
struct Windows {
    completed: u64,
    open: BTreeMap<u64, OpenWindow>,
}

/// Requests recorded into windows of `requests_per_window`, shared by every worker.
///
/// A [`std::sync::Mutex`], not tokio's: nothing is awaited under it, and each holder only
/// counts and records one value (no contention worth sharding for: at most one worker per
/// runtime thread runs at a time).
#[derive(Debug)]
pub struct WindowRecorder {
    requests_per_window: u64,
    windows_max: u64,
    windows: Mutex<Windows>,
    closed: watch::Sender<u64>,
}

impl WindowRecorder {
    /// Windows of `requests_per_window` requests, the first `windows_max` of them recorded
    /// (requests after them are counted only).
    ///
    /// # Panics
    /// `requests_per_window` is 0 (the CLI refuses it).
    pub fn new(requests_per_window: u64, windows_max: u64) -> WindowRecorder {
        assert!(
            requests_per_window > 0,
            "a window holds at least one request"
        );
        WindowRecorder {
            requests_per_window,
            windows_max,
            windows: Mutex::new(Windows::default()),
            closed: watch::Sender::new(0),
        }
    }

    /// Requests per window.
    pub fn requests_per_window(&self) -> u64 {
        self.requests_per_window
    }

    /// The number of closed windows, announced each time one closes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.closed.subscribe()
    }

    /// Records one completed request in its window; closes the window if it is the last.
    pub fn record(&self, sample: &Sample) {
        let latency_us = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
        let is_error = matches!(sample.outcome, Outcome::Refused(_) | Outcome::Failed(_));
        let closed = {
            let mut windows = self
                .windows
                .lock()
                .expect("no holder panics: it only counts");
            windows.completed += 1;
            let n = windows.completed;
            let index = (n - 1) / self.requests_per_window;
            if index >= self.windows_max {
                return;
            }
            let window = windows.open.entry(index).or_insert_with(|| OpenWindow {
                requests: 0,
                errors: 0,
                latency_us: histogram(),
                ended_at: None,
            });
            window.requests += 1;
            window.errors += u64::from(is_error);
            window.latency_us.saturating_record(latency_us);
            let closes = n.is_multiple_of(self.requests_per_window);
            if closes {
                window.ended_at = Some(Instant::now());
            }
            closes.then_some(index + 1)
        };
        if let Some(closed) = closed {
            // Announced outside the lock, so two closings may race: keep the larger.
            self.closed.send_if_modified(|known| {
                let newer = closed > *known;
                *known = (*known).max(closed);
                newer
            });
        }
    }

    /// Removes closed window `index` and returns it; `None` if it is not closed, or was
    /// taken already.
    pub fn take(&self, index: u64) -> Option<Window> {
        let mut windows = self
            .windows
            .lock()
            .expect("no holder panics: it only counts");
        let ended_at = windows.open.get(&index)?.ended_at?;
        let window = windows
            .open
            .remove(&index)
            .expect("the window was just found");
        assert_eq!(
            window.requests, self.requests_per_window,
            "a closed window holds all its requests (see the module's invariant)"
        );
        Some(Window {
            index,
            requests_total: (index + 1) * self.requests_per_window,
            requests: window.requests,
            errors: window.errors,
            latency_us: window.latency_us,
            ended_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::Kind;

    fn sample(ms: u64, outcome: Outcome) -> Sample {
        Sample {
            kind: Kind::Buy,
            latency: Duration::from_millis(ms),
            outcome,
            tiers: Vec::new(),
        }
    }

    #[test]
    fn windows_close_at_every_multiple_of_n_and_hold_only_their_requests() {
        // Goal: each window holds exactly its N requests, not the run so far. Method: 10
        // requests of 1 ms then 10 of 100 ms with N = 10, reading the announcements between.
        let windows = WindowRecorder::new(10, 100);
        let closed = windows.subscribe();
        for _ in 0..9 {
            windows.record(&sample(1, Outcome::Ok));
        }
        assert_eq!(*closed.borrow(), 0);
        assert!(windows.take(0).is_none(), "window 0 is still open");
        windows.record(&sample(1, Outcome::Refused("no_leader".into())));
        assert_eq!(*closed.borrow(), 1);
        for _ in 0..10 {
            windows.record(&sample(100, Outcome::OutOfStock));
        }
        windows.record(&sample(7, Outcome::Ok));
        assert_eq!(*closed.borrow(), 2, "the 21st request opens window 2 only");
        let first = windows.take(0).expect("window 0 closed");
        let second = windows.take(1).expect("window 1 closed");
        assert_eq!(
            (first.requests_total, first.requests, first.errors),
            (10, 10, 1)
        );
        assert_eq!(
            (second.requests_total, second.requests, second.errors),
            (20, 10, 0)
        );
        assert!(first.latency_us.max() < 1_100, "{}", first.latency_us.max());
        let p50 = second.latency_us.value_at_quantile(0.5);
        assert!(
            (99_000..=101_000).contains(&p50),
            "window 1 is not cumulative: {p50}"
        );
        assert!(second.ended_at >= first.ended_at);
        assert!(windows.take(0).is_none(), "a window is taken once");
        assert!(windows.take(2).is_none(), "window 2 is open");
    }

    #[test]
    fn windows_beyond_the_maximum_are_counted_not_recorded() {
        // Goal: the memory bound holds. Method: 2 windows allowed, 5 windows' requests sent.
        let windows = WindowRecorder::new(3, 2);
        for _ in 0..15 {
            windows.record(&sample(2, Outcome::Ok));
        }
        assert_eq!(*windows.subscribe().borrow(), 2);
        assert!(windows.take(1).is_some());
        assert!(windows.take(2).is_none());
        assert_eq!(windows.windows.lock().unwrap().completed, 15);
        assert!(windows.windows.lock().unwrap().open.len() <= 1);
    }

    #[test]
    fn concurrent_workers_fill_every_window_exactly() {
        // Goal: the invariant under threads: every closed window, taken as soon as it is
        // announced, holds N requests. Method: 4 threads record 2500 each (N = 100) while this
        // thread takes windows as they close; `take` asserts the count.
        let windows = std::sync::Arc::new(WindowRecorder::new(100, 1_000));
        let closed = windows.subscribe();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let windows = windows.clone();
                std::thread::spawn(move || {
                    for _ in 0..2_500 {
                        windows.record(&sample(1, Outcome::Ok));
                    }
                })
            })
            .collect();
        let (mut taken, deadline) = (0, Instant::now() + Duration::from_secs(30));
        while taken < 100 {
            assert!(Instant::now() < deadline, "only {taken} windows closed");
            let known = *closed.borrow();
            for index in taken..known {
                let window = windows.take(index).expect("an announced window is closed");
                assert_eq!(window.requests_total, (index + 1) * 100);
            }
            taken = taken.max(known);
            std::thread::yield_now();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*closed.borrow(), 100);
    }
}
