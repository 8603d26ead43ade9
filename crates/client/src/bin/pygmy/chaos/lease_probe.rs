//! Watches a frontend cut off from the catalog leader: it may answer from its cache only while
//! its lease lasts (DESIGN.md section 7), so a hit must never be served on a request sent more
//! than one lease after the cut. Requests are timed by when they were sent: a hit answered to a
//! request sent at `s` was decided after `s`, and the lease, renewed at the latest just before
//! the cut, ran out at most one lease after it.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Time between two probe reads.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// Deadline of one probe read.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The book the probe reads (the workload's books are 1 and up).
const PROBE_BOOK: u64 = 1;

/// What the probe saw during one cut.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LeaseProbe {
    /// Reads sent.
    pub(crate) reads: u64,
    /// Reads answered from the cache.
    pub(crate) hits: u64,
    /// When the last read answered from the cache was sent, ms after the cut.
    pub(crate) last_hit_sent_ms: Option<f64>,
}

impl LeaseProbe {
    /// Whether every hit was sent within `lease` of the cut.
    pub(crate) fn within(&self, lease: Duration) -> bool {
        self.last_hit_sent_ms
            .is_none_or(|ms| ms <= lease.as_secs_f64() * 1000.0)
    }
}

/// Reads a book through the frontend at `base` (`host:port`) until `stop` fires (just before the
/// cut heals), counting hits; a read still unanswered then is not counted.
pub(crate) async fn watch(
    http: reqwest::Client,
    base: String,
    cut_at: Instant,
    mut stop: oneshot::Receiver<()>,
) -> LeaseProbe {
    let mut probe = LeaseProbe {
        reads: 0,
        hits: 0,
        last_hit_sent_ms: None,
    };
    let url = format!("http://{base}/books/{PROBE_BOOK}");
    loop {
        let sent = Instant::now();
        let read = http.get(&url).timeout(PROBE_TIMEOUT).send();
        let answer = tokio::select! {
            _ = &mut stop => return probe,
            answer = read => answer,
        };
        probe.reads += 1;
        let hit = answer.is_ok_and(|a| {
            a.status().is_success()
                && a.headers()
                    .get("x-pygmy-cache")
                    .is_some_and(|v| v.as_bytes() == b"hit")
        });
        if hit {
            probe.hits += 1;
            probe.last_hit_sent_ms = Some((sent - cut_at).as_secs_f64() * 1000.0);
        }
        tokio::select! {
            _ = &mut stop => return probe,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_sent_after_one_lease_breaks_the_lease() {
        let lease = Duration::from_millis(1000);
        let probe = |last| LeaseProbe {
            reads: 50,
            hits: 3,
            last_hit_sent_ms: last,
        };
        assert!(probe(None).within(lease));
        assert!(probe(Some(400.0)).within(lease));
        assert!(probe(Some(1000.0)).within(lease));
        assert!(!probe(Some(1020.0)).within(lease));
    }
}
