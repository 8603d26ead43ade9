//! [`Recorder`]: every request's latency and outcome, per request kind, and every tier's
//! `Server-Timing` duration, in HDR histograms of microseconds.
//!
//! Each worker owns one recorder (no lock on the hot path) and the runs' recorders are
//! merged at the end. Histograms are created on first use: a worker keeps only those of the
//! kinds and tiers it saw (about 140 KiB each at these bounds).

use std::collections::BTreeMap;
use std::time::Duration;

use api::ErrorCode;
use hdrhistogram::Histogram;

use super::plan::Kind;
use crate::error::{code_name, Error};

/// Largest latency recorded, in microseconds (60 s, six times the client's default request
/// timeout); a longer one is recorded as this value.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Precision of the histograms: values are kept to 3 significant digits (0.1%).
const SIGNIFICANT_DIGITS: u8 = 3;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// `409 out_of_stock`: a buy refused for want of stock (counted apart from errors).
    OutOfStock,
    /// Any other error answer, by its code's wire name (`no_leader`, `overloaded`, ...).
    Refused(String),
    /// No usable answer: `transport` (connection failed or broke), `client_timeout` (no
    /// answer within the client's request timeout) or `decode` (answer too large).
    Failed(&'static str),
}

impl Outcome {
    /// The outcome of a request that ended with `result`.
    pub fn of(result: &Result<(), Error>) -> Outcome {
        match result {
            Ok(()) => Outcome::Ok,
            Err(Error::Api { error, .. }) if error.code == ErrorCode::OutOfStock => {
                Outcome::OutOfStock
            }
            Err(Error::Api { error, .. }) => Outcome::Refused(code_name(error.code)),
            Err(Error::Timeout { .. }) => Outcome::Failed("client_timeout"),
            Err(Error::Decode { .. }) => Outcome::Failed("decode"),
            Err(Error::Transport { .. } | Error::InvalidUrl { .. } | Error::Setup(_)) => {
                Outcome::Failed("transport")
            }
        }
    }
}

/// One request, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// What was sent.
    pub kind: Kind,
    /// From sending the request to having read the whole answer.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// Time spent in each tier, in microseconds, from `Server-Timing` (empty without one).
    pub tiers: Vec<(String, u64)>,
}

/// Outcome counts of one request kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) ok: u64,
    pub(crate) out_of_stock: u64,
    pub(crate) refused: u64,
    pub(crate) failed: u64,
    /// Refusals by code and failures by kind.
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
}

/// Latencies and outcomes of one request kind.
#[derive(Debug, Clone)]
pub(crate) struct KindStats {
    pub(crate) latency_us: Histogram<u64>,
    pub(crate) counts: Counts,
}

/// Latencies and outcomes of a run, or of one worker's part of it.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    kinds: BTreeMap<Kind, KindStats>,
    tiers: BTreeMap<String, Histogram<u64>>,
}

/// An empty histogram of microseconds, 0 to [`LATENCY_US_MAX`].
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid: 1 <= low, high >= 2 * low, 3 digits")
}

/// Adds `source` into `target`.
fn add(target: &mut Histogram<u64>, source: &Histogram<u64>) {
    target
        .add(source)
        .expect("histograms made by `histogram()` share bounds, so adding cannot overflow them");
}

impl KindStats {
    /// No request yet.
    pub(crate) fn empty() -> KindStats {
        KindStats {
            latency_us: histogram(),
            counts: Counts::default(),
        }
    }

    /// Adds `other`'s latencies and counts to these.
    pub(crate) fn add(&mut self, other: &KindStats) {
        add(&mut self.latency_us, &other.latency_us);
        let (c, o) = (&mut self.counts, &other.counts);
        c.ok += o.ok;
        c.out_of_stock += o.out_of_stock;
        c.refused += o.refused;
        c.failed += o.failed;
        for (error, count) in &o.errors_by_kind {
            *c.errors_by_kind.entry(error.clone()).or_insert(0) += count;
        }
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Records one request.
    pub fn record(&mut self, sample: Sample) {
        let stats = self
            .kinds
            .entry(sample.kind)
            .or_insert_with(KindStats::empty);
        let latency_us = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
        stats.latency_us.saturating_record(latency_us);
        let counts = &mut stats.counts;
        let error = match sample.outcome {
            Outcome::Ok => {
                counts.ok += 1;
                None
            }
            Outcome::OutOfStock => {
                counts.out_of_stock += 1;
                None
            }
            Outcome::Refused(code) => {
                counts.refused += 1;
                Some(code)
            }
            Outcome::Failed(kind) => {
                counts.failed += 1;
                Some(kind.to_string())
            }
        };
        if let Some(error) = error {
            *counts.errors_by_kind.entry(error).or_insert(0) += 1;
        }
        for (tier, us) in sample.tiers {
            let histogram = self.tiers.entry(tier).or_insert_with(histogram);
            histogram.saturating_record(us);
        }
    }

    /// Adds everything `other` recorded to this recorder.
    pub fn merge(&mut self, other: &Recorder) {
        for (kind, theirs) in &other.kinds {
            match self.kinds.get_mut(kind) {
                None => {
                    self.kinds.insert(*kind, theirs.clone());
                }
                Some(ours) => ours.add(theirs),
            }
        }
        for (tier, theirs) in &other.tiers {
            add(
                self.tiers.entry(tier.clone()).or_insert_with(histogram),
                theirs,
            );
        }
    }

    /// Requests recorded so far.
    pub fn count(&self) -> u64 {
        self.kinds.values().map(|s| s.latency_us.len()).sum()
    }

    /// The recorded kinds, in [`Kind`] order.
    pub(crate) fn kinds(&self) -> &BTreeMap<Kind, KindStats> {
        &self.kinds
    }

    /// The recorded tiers, by name.
    pub(crate) fn tiers(&self) -> &BTreeMap<String, Histogram<u64>> {
        &self.tiers
    }
}

#[cfg(test)]
mod tests {
    use api::ApiError;

    use super::*;

    fn sample(kind: Kind, ms: u64, outcome: Outcome) -> Sample {
        let tiers = vec![("frontend".to_string(), ms * 1_000)];
        Sample {
            kind,
            latency: Duration::from_millis(ms),
            outcome,
            tiers,
        }
    }

    fn api(code: ErrorCode) -> Result<(), Error> {
        let (status, error) = (code.status(), ApiError::new(code, "m"));
        Err(Error::Api {
            status,
            error,
            retry_after: None,
        })
    }

    #[test]
    fn outcomes_are_classified() {
        assert_eq!(Outcome::of(&Ok(())), Outcome::Ok);
        assert_eq!(
            Outcome::of(&api(ErrorCode::OutOfStock)),
            Outcome::OutOfStock
        );
        let refused = Outcome::of(&api(ErrorCode::NoLeader));
        assert_eq!(refused, Outcome::Refused("no_leader".into()));
        let timeout = Err(Error::Timeout {
            url: "u".into(),
            timeout: Duration::from_secs(1),
        });
        assert_eq!(Outcome::of(&timeout), Outcome::Failed("client_timeout"));
    }

    #[test]
    fn merged_recorders_count_everything_once() {
        let mut a = Recorder::new();
        a.record(sample(Kind::Buy, 2, Outcome::Ok));
        a.record(sample(Kind::Buy, 4, Outcome::OutOfStock));
        let mut b = Recorder::new();
        b.record(sample(Kind::Buy, 8, Outcome::Refused("no_leader".into())));
        b.record(sample(Kind::Lookup, 1, Outcome::Failed("transport")));
        a.merge(&b);
        a.merge(&Recorder::new());
        assert_eq!(a.count(), 4);
        let buy = &a.kinds()[&Kind::Buy];
        assert_eq!(buy.latency_us.len(), 3);
        let max_us = buy.latency_us.max();
        assert!((7_990..=8_010).contains(&max_us), "{max_us}");
        let c = &buy.counts;
        assert_eq!((c.ok, c.out_of_stock, c.refused, c.failed), (1, 1, 1, 0));
        assert_eq!(c.errors_by_kind["no_leader"], 1);
        let lookup = &a.kinds()[&Kind::Lookup].counts;
        assert_eq!((lookup.failed, lookup.errors_by_kind["transport"]), (1, 1));
        assert_eq!(a.tiers()["frontend"].len(), 4);
    }

    #[test]
    fn latencies_beyond_the_bound_saturate() {
        let mut r = Recorder::new();
        r.record(sample(Kind::Search, 3_600_000, Outcome::Ok));
        let h = &r.kinds()[&Kind::Search].latency_us;
        assert!(h.max() >= LATENCY_US_MAX * 999 / 1_000, "{}", h.max());
    }
}
