//! [`Checkpoint`]: the figures of one window of `pygmy bench --checkpoint-every N` (its
//! throughput and latency, of its own requests only), with what the replicas looked like when
//! it closed: the time of their `/status`, their resident memory, the CPU per request.

use std::time::Instant;

use serde::Serialize;

use super::report::{round, Percentiles};
use super::window::Window;

/// How many times each replica's `/status` is timed per checkpoint; the median is reported.
pub const STATUS_GETS_PER_CHECKPOINT: usize = 5;

/// The figures of one window, and the cluster's state at its end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// Requests completed in the run when the window closed (orders placed, with `--op buy`).
    pub requests: u64,
    /// Seconds from the start of the run to the end of the window.
    pub elapsed_s: f64,
    /// Requests in the window.
    pub window_requests: u64,
    /// Length of the window, in seconds.
    pub window_s: f64,
    /// Requests of the window per second of it.
    pub throughput_rps: f64,
    /// Requests of the window answered with an error or not answered.
    pub errors: u64,
    /// Latency of the window's requests.
    pub latency_ms: Percentiles,
    /// CPU the cluster's processes spent in the window per request of it, in microseconds;
    /// `None` when they could not all be found on this machine.
    pub cpu_per_request_us: Option<u64>,
    /// Every replica of the cluster configuration, catalog first.
    pub replicas: Vec<ReplicaCheckpoint>,
}

/// One replica at a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaCheckpoint {
    /// `catalog-1`, `orders-2`, ... (its directory's name).
    pub replica: String,
    /// Median time of [`STATUS_GETS_PER_CHECKPOINT`] `GET /status` to it, in milliseconds;
    /// `None` if one failed.
    pub status_ms: Option<f64>,
    /// Resident memory (`VmRSS`) of the process listening on its port, in MiB; `None` unless
    /// exactly one replica process listens there on this machine.
    pub rss_mib: Option<f64>,
}

impl Checkpoint {
    /// The figures of `window`, which began at `window_started`, in a run begun at
    /// `run_started`; the cluster's figures are left empty for the caller to fill.
    pub fn of(window: &Window, window_started: Instant, run_started: Instant) -> Checkpoint {
        let window_s = window
            .ended_at
            .saturating_duration_since(window_started)
            .as_secs_f64();
        let throughput_rps = if window_s > 0.0 {
            round(window.requests as f64 / window_s, 1)
        } else {
            0.0
        };
        Checkpoint {
            requests: window.requests_total,
            elapsed_s: round(
                window
                    .ended_at
                    .saturating_duration_since(run_started)
                    .as_secs_f64(),
                3,
            ),
            window_requests: window.requests,
            window_s: round(window_s, 3),
            throughput_rps,
            errors: window.errors,
            latency_ms: Percentiles::of(&window.latency_us),
            cpu_per_request_us: None,
            replicas: Vec::new(),
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::{Kind, Outcome, Sample, WindowRecorder};

    #[test]
    fn a_checkpoint_has_the_rate_and_latency_of_its_own_window() {
        // Goal: the second checkpoint's figures are of its window only. Method: 4 requests of
        // 2 ms then 4 of 40 ms in windows of 4, with chosen start times.
        let windows = WindowRecorder::new(4, 10);
        for ms in [2, 2, 2, 2, 40, 40, 40, 40] {
            windows.record(&Sample {
                kind: Kind::Buy,
                latency: Duration::from_millis(ms),
                outcome: Outcome::Ok,
                tiers: Vec::new(),
            });
        }
        let second = windows.take(1).expect("window 1 is closed");
        let run_started = second.ended_at - Duration::from_secs(3);
        let checkpoint = Checkpoint::of(
            &second,
            second.ended_at - Duration::from_secs(2),
            run_started,
        );
        assert_eq!((checkpoint.requests, checkpoint.window_requests), (8, 4));
        assert_eq!((checkpoint.window_s, checkpoint.elapsed_s), (2.0, 3.0));
        assert_eq!(checkpoint.throughput_rps, 2.0);
        let p50 = checkpoint.latency_ms.p50;
        assert!((39.9..=40.1).contains(&p50), "not cumulative: {p50}");
        assert!(checkpoint.replicas.is_empty() && checkpoint.cpu_per_request_us.is_none());
        let json = serde_json::to_value(&checkpoint).unwrap();
        assert_eq!(json["requests"], 8);
        assert!(json["cpu_per_request_us"].is_null());
    }

    #[test]
    fn medians_of_odd_even_and_empty_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
