//! Throughput and latency per second of a chaos run, and how long writes were unavailable
//! after each fault.

use serde::{Deserialize, Serialize};

/// One operation, reduced to what the timeline needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Invocation, ms after the start.
    pub invoke_ms: f64,
    /// Completion, ms after the start; `None` if its outcome is unknown.
    pub complete_ms: Option<f64>,
    /// Whether it succeeded (a refusal such as out of stock counts as a success of the store).
    pub ok: bool,
    /// Which write it is, if it is one.
    pub write: Option<Write>,
}

/// The writes, by the groups they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A buy: needs the order group and the catalog group.
    Buy,
    /// A restock: needs the catalog group only.
    Restock,
}

/// What a fault hit, which decides which writes show it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultScope {
    /// The catalog group: any write needs it.
    Catalog,
    /// The order group: only buys need it.
    Orders,
    /// The frontend: every request goes through it.
    Frontend,
}

impl FaultScope {
    fn needed_by(self, write: Write) -> bool {
        self != FaultScope::Orders || write == Write::Buy
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    /// Second since the start.
    pub second: u64,
    /// Operations that completed successfully in it.
    pub ok: u64,
    /// Operations that failed or ended unknown in it.
    pub failed: u64,
    /// Median latency of its successful operations, ms.
    pub p50_ms: f64,
    /// 99th percentile latency of its successful operations, ms.
    pub p99_ms: f64,
}

/// How long writes were unavailable after one fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailability {
    /// When the fault fired, ms after the start.
    pub fault_at_ms: f64,
    /// What it was (e.g. `kill orders-2 (leader)`).
    pub fault: String,
    /// Time from the fault to the next successful write's completion, ms; `None` if no write
    /// succeeded afterwards.
    pub gap_ms: Option<f64>,
}

/// The whole timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// One per second.
    pub buckets: Vec<TimelineBucket>,
    /// One per fault.
    pub unavailability: Vec<Unavailability>,
    /// Successful operations per second over the run.
    pub ok_per_second: f64,
}

impl Timeline {
    /// Builds the timeline of `samples` with `faults` (time ms, description, what it hit) over
    /// `duration_ms`.
    pub fn build(
        samples: &[Sample],
        faults: &[(f64, String, FaultScope)],
        duration_ms: f64,
    ) -> Timeline {
        let seconds = (duration_ms / 1000.0).ceil().max(1.0) as usize;
        let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); seconds];
        let mut failed = vec![0u64; seconds];
        for s in samples {
            let at = s.complete_ms.unwrap_or(s.invoke_ms);
            let second = ((at / 1000.0) as usize).min(seconds - 1);
            match (s.ok, s.complete_ms) {
                (true, Some(done)) => latencies[second].push(done - s.invoke_ms),
                _ => failed[second] += 1,
            }
        }
        let buckets = latencies
            .iter_mut()
            .zip(&failed)
            .enumerate()
            .map(|(second, (lat, failed))| {
                lat.sort_by(f64::total_cmp);
                TimelineBucket {
                    second: second as u64,
                    ok: lat.len() as u64,
                    failed: *failed,
                    p50_ms: percentile(lat, 0.50),
                    p99_ms: percentile(lat, 0.99),
                }
            })
            .collect::<Vec<_>>();
        let ok_total: u64 = buckets.iter().map(|b| b.ok).sum();
        Timeline {
            buckets,
            unavailability: unavailability(samples, faults),
            ok_per_second: ok_total as f64 / (duration_ms / 1000.0).max(0.001),
        }
    }

    /// The longest write unavailability after any fault, ms.
    pub fn longest_unavailability_ms(&self) -> Option<f64> {
        self.unavailability
            .iter()
            .filter_map(|u| u.gap_ms)
            .reduce(f64::max)
    }
}

/// For each fault, the time to the next successful write that needs what it hit.
fn unavailability(samples: &[Sample], faults: &[(f64, String, FaultScope)]) -> Vec<Unavailability> {
    let mut writes: Vec<(f64, Write)> = samples
        .iter()
        .filter(|s| s.ok)
        .filter_map(|s| Some((s.complete_ms?, s.write?)))
        .collect();
    writes.sort_by(|a, b| a.0.total_cmp(&b.0));
    faults
        .iter()
        .map(|(at, fault, scope)| {
            let from = writes.partition_point(|(done, _)| done < at);
            let next = writes[from..].iter().find(|(_, w)| scope.needed_by(*w));
            Unavailability {
                fault_at_ms: *at,
                fault: fault.clone(),
                gap_ms: next.map(|(done, _)| done - at),
            }
        })
        .collect()
}

/// The `q` quantile of sorted `values` (0 if empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke_ms: f64, complete_ms: Option<f64>, ok: bool, write: Option<Write>) -> Sample {
        Sample {
            invoke_ms,
            complete_ms,
            ok,
            write,
        }
    }

    #[test]
    fn buckets_count_and_time_operations() {
        let samples = [
            op(100.0, Some(110.0), true, None),
            op(200.0, Some(230.0), true, Some(Write::Restock)),
            op(1500.0, None, false, Some(Write::Buy)),
            op(1600.0, Some(1700.0), false, None),
        ];
        let t = Timeline::build(&samples, &[], 2000.0);
        assert_eq!(t.buckets.len(), 2);
        assert_eq!((t.buckets[0].ok, t.buckets[0].failed), (2, 0));
        assert_eq!((t.buckets[1].ok, t.buckets[1].failed), (0, 2));
        assert_eq!(t.buckets[0].p99_ms, 30.0);
        assert_eq!(t.ok_per_second, 1.0);
    }

    #[test]
    fn unavailability_is_the_gap_to_the_next_write_needing_what_the_fault_hit() {
        let samples = [
            op(0.0, Some(10.0), true, Some(Write::Buy)),
            op(900.0, Some(1200.0), true, Some(Write::Restock)),
            op(900.0, Some(3100.0), true, Some(Write::Buy)),
            op(3000.0, Some(3050.0), true, None),
        ];
        let faults = [
            (1000.0, "kill catalog-1".to_string(), FaultScope::Catalog),
            (1000.0, "kill orders-1".to_string(), FaultScope::Orders),
            (4000.0, "pause".to_string(), FaultScope::Frontend),
        ];
        let t = Timeline::build(&samples, &faults, 5000.0);
        assert_eq!(t.unavailability[0].gap_ms, Some(200.0));
        assert_eq!(t.unavailability[1].gap_ms, Some(2100.0));
        assert_eq!(t.unavailability[2].gap_ms, None);
        assert_eq!(t.longest_unavailability_ms(), Some(2100.0));
    }
}
