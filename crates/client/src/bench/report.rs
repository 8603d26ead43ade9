//! [`Report`]: the figures of a run, per request kind and per tier, ready to print as a table
//! or serialize as JSON. Latencies are in milliseconds, rates in requests per second.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::plan::Op;
use super::recorder::{KindStats, Recorder};

/// How a run was set up, and whether it was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    /// The operation exercised.
    pub op: Op,
    /// Concurrent workers.
    pub concurrency: u64,
    /// The request budget, if one was given.
    pub requests_max: Option<u64>,
    /// The time budget in milliseconds, if one was given.
    pub duration_ms_max: Option<u64>,
    /// Whether the run was stopped early (Ctrl-C).
    pub interrupted: bool,
    /// Requests per checkpoint (`--checkpoint-every`), if checkpoints were taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
}

/// Latency percentiles, in milliseconds (microsecond resolution, 3 significant digits).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// The figures of one request kind (or, as `all`, of every request).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindReport {
    /// `lookup`, `search`, `buy` or `all`.
    pub kind: String,
    /// Requests completed.
    pub count: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Buys refused with `409 out_of_stock` (not counted as errors).
    pub out_of_stock: u64,
    /// Other error answers.
    pub refused: u64,
    /// Requests without a usable answer (connection, client timeout).
    pub failed: u64,
    /// `refused + failed`.
    pub errors: u64,
    /// Errors by code (`no_leader`, `overloaded`, ...) or failure (`transport`,
    /// `client_timeout`, `decode`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Completed requests per second of the run.
    pub throughput_rps: f64,
    /// Latency as seen by the client, whatever the outcome.
    pub latency_ms: Percentiles,
}

/// The time one tier spent on the requests that named it in `Server-Timing`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierReport {
    /// Tier name, e.g. `frontend`, `catalog`, `order`.
    pub tier: String,
    /// Requests that carried an entry of this tier.
    pub count: u64,
    /// Time in the tier per request (entries of one request summed).
    pub latency_ms: Percentiles,
}

/// The figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// How the run was set up.
    #[serde(flatten)]
    pub run: RunInfo,
    /// Wall time from the first request sent to the last answer read, in seconds.
    pub elapsed_s: f64,
    /// Requests completed.
    pub requests: u64,
    /// Completed requests per second.
    pub throughput_rps: f64,
    /// Every request together.
    pub total: KindReport,
    /// Per request kind, in `lookup`, `search`, `buy` order; kinds never sent are left out.
    pub kinds: Vec<KindReport>,
    /// Per tier, by name.
    pub tiers: Vec<TierReport>,
    /// CPU the cluster's processes spent during the run, when they could be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
    /// One per `--checkpoint-every` requests, in order (a last, partial window has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<Checkpoint>,
}

/// CPU spent by the cluster's processes during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuUse {
    /// Processes measured (those listening on the cluster's ports on this machine).
    pub processes: usize,
    /// User and system CPU time they spent, summed, in seconds.
    pub cpu_s: f64,
    /// That time per completed request, in microseconds.
    pub per_request_us: u64,
}

impl Report {
    /// The report of `recorder`'s requests, sent in `elapsed`.
    pub fn new(run: RunInfo, recorder: &Recorder, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64();
        let kinds: Vec<KindReport> = recorder
            .kinds()
            .iter()
            .map(|(kind, stats)| kind_report(kind.name(), stats, seconds))
            .collect();
        let mut all = KindStats::empty();
        for stats in recorder.kinds().values() {
            all.add(stats);
        }
        let total = kind_report("all", &all, seconds);
        let tiers = recorder
            .tiers()
            .iter()
            .map(|(tier, h)| TierReport {
                tier: tier.clone(),
                count: h.len(),
                latency_ms: Percentiles::of(h),
            })
            .collect();
        Report {
            run,
            elapsed_s: round(seconds, 3),
            requests: total.count,
            throughput_rps: total.throughput_rps,
            total,
            kinds,
            tiers,
            cpu: None,
            checkpoints: Vec::new(),
        }
    }
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds; all zero if it is empty.
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1_000.0;
        if h.is_empty() {
            return Percentiles {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: round(h.mean() / 1_000.0, 3),
        }
    }
}

/// The report of one kind's `stats` over a run of `seconds`.
fn kind_report(kind: &str, stats: &KindStats, seconds: f64) -> KindReport {
    let c = &stats.counts;
    let count = stats.latency_us.len();
    let throughput_rps = if seconds > 0.0 {
        round(count as f64 / seconds, 1)
    } else {
        0.0
    };
    KindReport {
        kind: kind.to_string(),
        count,
        ok: c.ok,
        out_of_stock: c.out_of_stock,
        refused: c.refused,
        failed: c.failed,
        errors: c.refused + c.failed,
        errors_by_kind: c.errors_by_kind.clone(),
        throughput_rps,
        latency_ms: Percentiles::of(&stats.latency_us),
    }
}

/// `value` rounded to `decimals` decimal places.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::{Kind, Outcome, Sample};

    fn run() -> RunInfo {
        RunInfo {
            op: Op::Mix,
            concurrency: 4,
            requests_max: Some(200),
            duration_ms_max: None,
            interrupted: false,
            checkpoint_every: None,
        }
    }

    /// 100 lookups of 1..=100 ms and 10 buys of 50 ms, half of them out of stock.
    fn recorder() -> Recorder {
        let mut r = Recorder::new();
        for ms in 1..=100u64 {
            r.record(Sample {
                kind: Kind::Lookup,
                latency: Duration::from_millis(ms),
                outcome: Outcome::Ok,
                tiers: vec![("frontend".into(), ms * 900), ("catalog".into(), ms * 500)],
            });
        }
        for i in 0..10 {
            let outcome = if i % 2 == 0 {
                Outcome::OutOfStock
            } else {
                Outcome::Failed("transport")
            };
            r.record(Sample {
                kind: Kind::Buy,
                latency: Duration::from_millis(50),
                outcome,
                tiers: vec![],
            });
        }
        r
    }

    #[test]
    fn the_report_has_ordered_percentiles_and_rates() {
        let report = Report::new(run(), &recorder(), Duration::from_secs(2));
        assert_eq!((report.requests, report.throughput_rps), (110, 55.0));
        let kinds: Vec<&str> = report.kinds.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(kinds, ["lookup", "buy"]);
        let lookup = &report.kinds[0];
        assert_eq!(
            (lookup.count, lookup.ok, lookup.throughput_rps),
            (100, 100, 50.0)
        );
        let p = &lookup.latency_ms;
        assert!((49.9..=50.1).contains(&p.p50), "{p:?}");
        assert!((98.9..=99.1).contains(&p.p99), "{p:?}");
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max);
        let buy = &report.kinds[1];
        assert_eq!((buy.out_of_stock, buy.failed, buy.errors), (5, 5, 5));
        assert_eq!(report.total.errors_by_kind["transport"], 5);
        assert_eq!((report.total.count, report.total.ok), (110, 100));
        let tiers: Vec<(&str, u64)> = report
            .tiers
            .iter()
            .map(|t| (t.tier.as_str(), t.count))
            .collect();
        assert_eq!(tiers, [("catalog", 100), ("frontend", 100)]);
        assert!((44.9..=45.1).contains(&report.tiers[1].latency_ms.p50));
    }

    #[test]
    fn the_json_form_is_flat_and_complete() {
        let report = Report::new(run(), &recorder(), Duration::from_millis(1_500));
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["op"], json!("mix"));
        assert_eq!(value["concurrency"], json!(4));
        assert_eq!(value["requests_max"], json!(200));
        assert_eq!(value["duration_ms_max"], json!(null));
        assert_eq!(value["requests"], json!(110));
        assert_eq!(value["elapsed_s"], json!(1.5));
        assert_eq!(value["total"]["kind"], json!("all"));
        for key in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(value["total"]["latency_ms"][key].is_f64(), "{key}");
        }
        assert_eq!(value["kinds"][1]["errors_by_kind"], json!({"transport": 5}));
        assert_eq!(value["tiers"][0]["tier"], json!("catalog"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let report = Report::new(run(), &Recorder::new(), Duration::ZERO);
        assert_eq!((report.requests, report.throughput_rps), (0, 0.0));
        assert!(report.kinds.is_empty() && report.tiers.is_empty());
        assert_eq!(report.total.latency_ms.max, 0.0);
    }
}
