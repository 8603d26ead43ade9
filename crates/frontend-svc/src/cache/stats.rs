//! Counters of the cache, kept for `/cluster` and exported to `/metrics`, and its gauges.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use runtime::metric_catalog::{
    Metric, FRONTEND_CACHE_ENTRIES, FRONTEND_CACHE_EVICTIONS, FRONTEND_CACHE_HITS,
    FRONTEND_CACHE_INVALIDATIONS, FRONTEND_CACHE_LEASE_HELD, FRONTEND_CACHE_LEASE_RENEWALS,
    FRONTEND_CACHE_LEASE_RENEWAL_DURATION, FRONTEND_CACHE_MISSES,
    FRONTEND_CACHE_REFUSED_STALE_INSERTS, FRONTEND_CACHE_WEIGHTED_BYTES,
};

/// One counter, both here (for `/cluster`) and in the metrics registry (for `/metrics`).
#[derive(Debug)]
pub(crate) struct Counter {
    value: AtomicU64,
    /// Registered once: hits are counted on the cache's fastest path.
    exported: metrics::Counter,
}

impl Counter {
    fn new(metric: &Metric) -> Self {
        Self {
            value: AtomicU64::new(0),
            exported: metric.counter(&[]),
        }
    }

    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        if n > 0 {
            self.value.fetch_add(n, Relaxed);
            self.exported.increment(n);
        }
    }

    /// The count so far.
    pub(crate) fn get(&self) -> u64 {
        self.value.load(Relaxed)
    }
}

/// Every counter of one cache.
#[derive(Debug)]
pub(crate) struct CacheStats {
    /// Answers served from the cache.
    pub(crate) hits: Counter,
    /// Cacheable requests that went to a replica.
    pub(crate) misses: Counter,
    /// Entries dropped by notices and resets.
    pub(crate) invalidations: Counter,
    /// Entries evicted for capacity.
    pub(crate) evictions: Counter,
    /// Values refused because a write on their slot was in flight or done after their read.
    pub(crate) refused_stale_inserts: Counter,
}

impl Default for CacheStats {
    fn default() -> Self {
        Self {
            hits: Counter::new(&FRONTEND_CACHE_HITS),
            misses: Counter::new(&FRONTEND_CACHE_MISSES),
            invalidations: Counter::new(&FRONTEND_CACHE_INVALIDATIONS),
            evictions: Counter::new(&FRONTEND_CACHE_EVICTIONS),
            refused_stale_inserts: Counter::new(&FRONTEND_CACHE_REFUSED_STALE_INSERTS),
        }
    }
}

/// Records whether the lease is held (1) or not (0).
pub(crate) fn record_lease(held: bool) {
    metrics::gauge!(FRONTEND_CACHE_LEASE_HELD.name).set(if held { 1.0 } else { 0.0 });
}

/// Records the number of entries.
pub(crate) fn record_entries(entries: u64) {
    // Precision loss only past 2^53 entries.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(FRONTEND_CACHE_ENTRIES.name).set(entries as f64);
}

/// Records the entries' weighted size in bytes.
pub(crate) fn record_weighted_bytes(weighted_bytes: u64) {
    // Precision loss only past 2^53 bytes.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(FRONTEND_CACHE_WEIGHTED_BYTES.name).set(weighted_bytes as f64);
}

/// Records one lease renewal: whether a replica granted it, and how long it took.
pub(crate) fn record_renewal(granted: bool, took: Duration) {
    let outcome = if granted { "granted" } else { "failed" };
    metrics::counter!(FRONTEND_CACHE_LEASE_RENEWALS.name, "outcome" => outcome).increment(1);
    metrics::histogram!(FRONTEND_CACHE_LEASE_RENEWAL_DURATION.name, "outcome" => outcome)
        .record(took);
}
