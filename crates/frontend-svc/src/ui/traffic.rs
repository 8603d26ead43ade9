//! The frontend's own request figures over the last [`TRAFFIC_WINDOW_S`] seconds, for the
//! chart of `/ui`: one slot per second in a ring, each a count and a latency histogram.
//!
//! Fed once per answer by the `Server-Timing` layer (`layers::server_timing`), which sees every
//! answer of the public stack, whether or not a handler ran. Cheap on the hot path: one
//! uncontended std mutex, no await under it, a histogram record (O(1)); memory is bounded by
//! the ring (about 1.5 KiB per slot). A second's summary (percentiles) is computed once, the
//! first time it is asked for after the second ended, and kept with its slot.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Seconds of history kept and shown: five minutes, enough to see a fault and the recovery
/// after it.
pub(crate) const TRAFFIC_WINDOW_S: u64 = 300;

/// Largest latency recorded, in microseconds (longer ones count as this): past the request
/// deadline (15 s) with room to spare.
const LATENCY_US_MAX: u64 = 60_000_000;

/// Significant figures of each histogram: one, i.e. values within about 6 %, which a chart
/// of a few hundred pixels cannot show anyway, at 1.5 KiB per slot instead of 10 with two.
const LATENCY_SIGNIFICANT_FIGURES: u8 = 1;

/// One completed second, as the chart shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SecondSummary {
    /// Answers given in that second.
    pub(crate) requests: u64,
    /// Of which failed: 429 and 5xx.
    pub(crate) failures: u64,
    /// Median, 99th percentile and largest latency, in milliseconds; `None` without answers.
    pub(crate) latency_ms: Option<[f64; 3]>,
}

/// The recorder: a ring of per-second slots, oldest overwritten.
#[derive(Debug)]
pub(crate) struct Traffic {
    started: Instant,
    /// A std mutex: each hold is a few field updates, never across an await.
    ring: Mutex<Vec<Slot>>,
}

#[derive(Debug)]
struct Slot {
    /// Second (since `started`) the slot holds.
    second: u64,
    requests: u64,
    failures: u64,
    latency_us: Histogram<u32>,
    /// Computed once the second is over.
    summary: Option<SecondSummary>,
}

impl Slot {
    fn empty() -> Self {
        Self {
            second: u64::MAX,
            requests: 0,
            failures: 0,
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_FIGURES)
                .expect("constant histogram bounds are valid"),
            summary: None,
        }
    }

    fn summarize(&self) -> SecondSummary {
        let latency_ms = (self.requests > 0).then(|| {
            let ms = |us: u64| us as f64 / 1000.0;
            [
                ms(self.latency_us.value_at_quantile(0.5)),
                ms(self.latency_us.value_at_quantile(0.99)),
                ms(self.latency_us.max()),
            ]
        });
        SecondSummary {
            requests: self.requests,
            failures: self.failures,
            latency_ms,
        }
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl Traffic {
    /// An empty recorder whose seconds count from `started`.
    pub(crate) fn new(started: Instant) -> Self {
        let slots = usize::try_from(TRAFFIC_WINDOW_S + 1).expect("a small constant");
        Self {
            started,
            ring: Mutex::new((0..slots).map(|_| Slot::empty()).collect()),
        }
    }

    /// Counts one answer with `status`, given after `elapsed`.
    pub(crate) fn record(&self, status: u16, elapsed: Duration) {
        self.record_at(Instant::now(), status, elapsed);
    }

    fn record_at(&self, now: Instant, status: u16, elapsed: Duration) {
        let second = self.second_of(now);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slot_for(&mut ring, second);
        slot.requests += 1;
        if status == 429 || status >= 500 {
            slot.failures += 1;
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        slot.latency_us
            .saturating_record(us.clamp(1, LATENCY_US_MAX));
    }

    /// The last [`TRAFFIC_WINDOW_S`] completed seconds (fewer in the first minutes after
    /// start), oldest first: `(seconds ago, summary)`, down to 1 (the current second is not
    /// over, so not shown).
    pub(crate) fn window(&self) -> Vec<(u64, SecondSummary)> {
        self.window_at(Instant::now())
    }

    fn window_at(&self, now: Instant) -> Vec<(u64, SecondSummary)> {
        let current = self.second_of(now);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // Seconds before the frontend started are left out, not shown as idle.
        (1..=TRAFFIC_WINDOW_S.min(current))
            .rev()
            .map(|ago| {
                let slot = slot_for(&mut ring, current - ago);
                let summary = slot.summary.unwrap_or_else(|| slot.summarize());
                slot.summary = Some(summary);
                (ago, summary)
            })
            .collect()
    }

    /// Answers recorded in every slot, the current second's included.
    #[cfg(test)]
    pub(crate) fn recorded(&self) -> u64 {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter().map(|slot| slot.requests).sum()
    }

    fn second_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }
}

/// The slot of `second`, emptied first if it still holds an older second.
fn slot_for(ring: &mut [Slot], second: u64) -> &mut Slot {
    let len = u64::try_from(ring.len()).expect("a small ring");
    let index = usize::try_from(second % len).expect("below the ring's length");
    let slot = &mut ring[index];
    if slot.second != second {
        slot.second = second;
        slot.requests = 0;
        slot.failures = 0;
        slot.latency_us.reset();
        slot.summary = None;
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_second_counts_its_answers_failures_and_percentiles() {
        // Goal: answers land in the second they were given; 429 and 5xx count as failures;
        // percentiles come from that second only; the current second is not shown.
        let t0 = Instant::now();
        let traffic = Traffic::new(t0);
        for i in 1..=100 {
            traffic.record_at(t0, 200, MS * i);
        }
        traffic.record_at(t0 + Duration::from_secs(2), 503, MS * 40);
        traffic.record_at(t0 + Duration::from_secs(2), 429, MS * 40);
        traffic.record_at(t0 + Duration::from_secs(2), 404, MS * 40);
        let window = traffic.window_at(t0 + Duration::from_millis(3_500));
        assert_eq!(window.len(), 3, "no second before the start is shown");
        assert_eq!(
            window.last().unwrap().0,
            1,
            "the newest shown is one second ago"
        );
        let by_ago = |ago: u64| window.iter().find(|(a, _)| *a == ago).unwrap().1;
        let first = by_ago(3);
        assert_eq!((first.requests, first.failures), (100, 0));
        let [p50, p99, max] = first.latency_ms.unwrap();
        assert!((47.0..=53.0).contains(&p50), "p50 {p50}");
        assert!((93.0..=105.0).contains(&p99), "p99 {p99}");
        assert!((97.0..=105.0).contains(&max), "max {max}");
        assert_eq!(by_ago(2).requests, 0);
        assert_eq!(by_ago(2).latency_ms, None);
        assert_eq!((by_ago(1).requests, by_ago(1).failures), (3, 2));
    }

    #[test]
    fn the_ring_forgets_seconds_past_the_window_and_keeps_memory_bounded() {
        // Goal: a slot reused a window later starts empty (no old answers leak into it),
        // and nothing older than the window is shown.
        let t0 = Instant::now();
        let traffic = Traffic::new(t0);
        traffic.record_at(t0, 200, MS);
        let later = t0 + Duration::from_secs(TRAFFIC_WINDOW_S + 1);
        traffic.record_at(later, 200, MS * 7);
        let window = traffic.window_at(later + Duration::from_secs(1));
        assert_eq!(window.len(), usize::try_from(TRAFFIC_WINDOW_S).unwrap());
        let total: u64 = window.iter().map(|(_, s)| s.requests).sum();
        assert_eq!(total, 1, "{window:?}");
        assert_eq!(traffic.ring.lock().unwrap().len(), 301);
    }

    #[test]
    fn a_summary_is_kept_once_its_second_is_over() {
        // Goal: a completed second's summary is computed once and then served as kept.
        let t0 = Instant::now();
        let traffic = Traffic::new(t0);
        traffic.record_at(t0, 200, MS * 3);
        let at = t0 + Duration::from_secs(1);
        let first = traffic.window_at(at);
        assert!(traffic.ring.lock().unwrap()[0].summary.is_some());
        assert_eq!(traffic.window_at(at), first);
    }
}
