//! Counters of the cache, kept for `/cluster` and exported to `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One counter, both here (for `/cluster`) and in the metrics registry (for `/metrics`).
#[derive(Debug)]
pub(crate) struct Counter {
    value: AtomicU64,
    name: &'static str,
}

impl Counter {
    const fn new(name: &'static str) -> Self {
        Self {
            value: AtomicU64::new(0),
            name,
        }
    }

    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        if n > 0 {
            self.value.fetch_add(n, Relaxed);
            metrics::counter!(self.name).increment(n);
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
            hits: Counter::new("frontend_cache_hits_total"),
            misses: Counter::new("frontend_cache_misses_total"),
            invalidations: Counter::new("frontend_cache_invalidations_total"),
            evictions: Counter::new("frontend_cache_evictions_total"),
            refused_stale_inserts: Counter::new("frontend_cache_refused_stale_inserts_total"),
        }
    }
}

/// Records whether the lease is held (1) or not (0).
pub(crate) fn record_lease(held: bool) {
    metrics::gauge!("frontend_cache_lease_held").set(if held { 1.0 } else { 0.0 });
}

/// Records the number of entries.
pub(crate) fn record_entries(entries: u64) {
    // Precision loss only past 2^53 entries.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("frontend_cache_entries").set(entries as f64);
}

/// Records the entries' weighted size in bytes.
pub(crate) fn record_weighted_bytes(weighted_bytes: u64) {
    // Precision loss only past 2^53 bytes.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("frontend_cache_weighted_bytes").set(weighted_bytes as f64);
}
