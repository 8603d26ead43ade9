//! Every metric a Pygmy process exports, in one table: its name (`pygmy_` first), its kind
//! (histograms with their buckets) and its HELP text.
//!
//! The table lives here, beside the recorder, rather than with the code that records each
//! metric, so that the recorder describes every metric and sets every histogram's buckets when
//! it is installed, before anything is recorded, in every process (a description given to no
//! recorder yet is lost), and so that one test holds every name to the conventions below.
//!
//! Conventions: counters end in `_total`; durations are in seconds and end in `_seconds`;
//! histograms of counts end in `_entries`. Replica metrics carry the labels `group`
//! (`catalog` or `orders`) and `replica` (its id), so that one Prometheus can scrape all six
//! replicas; frontend metrics carry none of those.

use metrics::{Counter, Gauge, Histogram, Label};

/// Buckets of request and round-trip latencies: 100 µs to 10 s.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of snapshot builds and installs: 10 ms to 5 min (a 500k-order image takes seconds).
pub const SNAPSHOT_BUCKETS_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Buckets of entries per batch: 0 (a flush of metadata only), then powers of two to 4096
/// (openraft sends at most `PAYLOAD_ENTRIES_MAX` entries per append; an apply batch can be
/// longer after a catch-up).
pub const BATCH_BUCKETS_ENTRIES: &[f64] = &[
    0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A monotonic count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution, rendered as a Prometheus histogram with these bucket bounds.
    Histogram(&'static [f64]),
}

/// One exported metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Its name in `/metrics`.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its HELP text: what it counts or measures, and where.
    pub help: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        help,
    }
}

const fn histogram(name: &'static str, buckets: &'static [f64], help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram(buckets),
        help,
    }
}

// --- every process: HTTP (runtime::telemetry) ---

/// Answers by method, route and status.
pub const HTTP_REQUESTS: Metric = counter(
    "pygmy_http_requests_total",
    "Answers given, by method, matched route and status (shed requests and passed deadlines included).",
);
/// Answer latency by method, route and status.
pub const HTTP_REQUEST_DURATION: Metric = histogram(
    "pygmy_http_request_duration_seconds",
    LATENCY_BUCKETS_SECONDS,
    "Time from a request reaching its route to its answer, by method, route and status.",
);

// --- replicas: Raft state (storage::replica::metrics) ---

/// Current term.
pub const RAFT_TERM: Metric = gauge("pygmy_raft_term", "Current Raft term of this replica.");
/// Leader id as this replica knows it.
pub const RAFT_LEADER_ID: Metric = gauge(
    "pygmy_raft_leader_id",
    "Id of the leader this replica knows (0: none known).",
);
/// Leaders this replica learned of.
pub const RAFT_LEADER_CHANGES: Metric = counter(
    "pygmy_raft_leader_changes_total",
    "Leader changes seen by this replica: each new (term, leader) it learns of, its own elections included.",
);
/// Last log index.
pub const RAFT_LAST_LOG_INDEX: Metric = gauge(
    "pygmy_raft_last_log_index",
    "Index of the last entry in this replica's log.",
);
/// Committed index.
pub const RAFT_COMMITTED_INDEX: Metric = gauge(
    "pygmy_raft_committed_index",
    "Index of the last entry this replica knows committed (as its log store recorded it).",
);
/// Applied index.
pub const RAFT_APPLIED_INDEX: Metric = gauge(
    "pygmy_raft_applied_index",
    "Index of the last entry applied to this replica's state.",
);
/// Per-follower lag, on the leader.
pub const RAFT_FOLLOWER_LAG: Metric = gauge(
    "pygmy_raft_follower_lag_entries",
    "On the leader, entries of its log a follower has not acknowledged, by follower (0 on a replica that does not lead).",
);
/// Votes refused while cache leases may run.
pub const RAFT_VOTES_REFUSED_FOR_LEASES: Metric = counter(
    "pygmy_raft_votes_refused_for_leases_total",
    "Votes this replica refused because cache leases granted under an earlier leader may still run.",
);

// --- replicas: storage (storage::metrics) ---

/// Group-commit flush latency.
pub const STORAGE_FLUSH_DURATION: Metric = histogram(
    "pygmy_storage_flush_duration_seconds",
    LATENCY_BUCKETS_SECONDS,
    "Time of one group-commit flush of the replica's sled Db (every acknowledgement to Raft waits for one).",
);
/// Entries per flush.
pub const STORAGE_FLUSH_ENTRIES: Metric = histogram(
    "pygmy_storage_flush_entries",
    BATCH_BUCKETS_ENTRIES,
    "Log entries made durable by one group-commit flush (0: a flush of the vote, commit index, truncation or purge only).",
);
/// Entries per apply.
pub const STORAGE_APPLY_ENTRIES: Metric = histogram(
    "pygmy_storage_apply_entries",
    BATCH_BUCKETS_ENTRIES,
    "Committed entries applied to the state in one batch (one sled transaction).",
);
/// Snapshots built.
pub const SNAPSHOT_BUILDS: Metric = counter(
    "pygmy_snapshot_builds_total",
    "Snapshots this replica built of its own state (each lets it purge its log).",
);
/// Snapshot build time.
pub const SNAPSHOT_BUILD_DURATION: Metric = histogram(
    "pygmy_snapshot_build_duration_seconds",
    SNAPSHOT_BUCKETS_SECONDS,
    "Time to build one snapshot: its image written and synced, then made current.",
);
/// Snapshots installed.
pub const SNAPSHOT_INSTALLS: Metric = counter(
    "pygmy_snapshot_installs_total",
    "Snapshots received from the leader and installed in place of this replica's state.",
);
/// Snapshot install time.
pub const SNAPSHOT_INSTALL_DURATION: Metric = histogram(
    "pygmy_snapshot_install_duration_seconds",
    SNAPSHOT_BUCKETS_SECONDS,
    "Time to install one received snapshot: its image checked, then the state replaced.",
);

// --- services ---

/// Buys begun and not finished (order group).
pub const ORDERS_PENDING_BUYS: Metric = gauge(
    "pygmy_orders_pending_buys",
    "Buys this order leader began and has not seen end (their stock may be held at the catalog without an order yet); 0 on a follower.",
);
/// Catalog writes resolved by the lease grant.
pub const CATALOG_FENCE_OVERDUE_WRITES: Metric = counter(
    "pygmy_catalog_fence_overdue_writes_total",
    "Catalog writes still listed in flight two leases past their deadline, resolved by the leader (a bug if it grows).",
);

// --- frontend ---

/// Cache hits.
pub const FRONTEND_CACHE_HITS: Metric = counter(
    "pygmy_frontend_cache_hits_total",
    "Reads answered from the frontend's cache.",
);
/// Cache misses.
pub const FRONTEND_CACHE_MISSES: Metric = counter(
    "pygmy_frontend_cache_misses_total",
    "Cacheable reads that went to a catalog replica.",
);
/// Cache invalidations.
pub const FRONTEND_CACHE_INVALIDATIONS: Metric = counter(
    "pygmy_frontend_cache_invalidations_total",
    "Cache entries dropped by the catalog leader's notices and by resets.",
);
/// Cache evictions.
pub const FRONTEND_CACHE_EVICTIONS: Metric = counter(
    "pygmy_frontend_cache_evictions_total",
    "Cache entries evicted for capacity.",
);
/// Stale inserts refused.
pub const FRONTEND_CACHE_REFUSED_STALE_INSERTS: Metric = counter(
    "pygmy_frontend_cache_refused_stale_inserts_total",
    "Values not cached because a write on their slot was in flight or done after their read.",
);
/// Lease held.
pub const FRONTEND_CACHE_LEASE_HELD: Metric = gauge(
    "pygmy_frontend_cache_lease_held",
    "1 while the frontend holds a lease from the catalog leader (cache hits allowed), else 0.",
);
/// Lease renewals.
pub const FRONTEND_CACHE_LEASE_RENEWALS: Metric = counter(
    "pygmy_frontend_cache_lease_renewals_total",
    "Lease renewals with the catalog leader, by outcome (granted, failed: no catalog replica granted).",
);
/// Lease renewal latency.
pub const FRONTEND_CACHE_LEASE_RENEWAL_DURATION: Metric = histogram(
    "pygmy_frontend_cache_lease_renewal_duration_seconds",
    LATENCY_BUCKETS_SECONDS,
    "Time of one lease renewal, every replica it asked included, by outcome.",
);
/// Cache entries.
pub const FRONTEND_CACHE_ENTRIES: Metric = gauge(
    "pygmy_frontend_cache_entries",
    "Entries in the frontend's cache.",
);
/// Cache weighted bytes.
pub const FRONTEND_CACHE_WEIGHTED_BYTES: Metric = gauge(
    "pygmy_frontend_cache_weighted_bytes",
    "Weighted size of the frontend's cache entries, bytes (keys, bodies and a per-entry overhead).",
);
/// Open connections.
pub const FRONTEND_CONNECTIONS_OPEN: Metric = gauge(
    "pygmy_frontend_connections_open",
    "Client connections open on the frontend.",
);
/// Refused connections.
pub const FRONTEND_CONNECTIONS_REFUSED: Metric = counter(
    "pygmy_frontend_connections_refused_total",
    "Client connections closed at once because connections_max were open.",
);
/// Accept errors.
pub const FRONTEND_ACCEPT_ERRORS: Metric = counter(
    "pygmy_frontend_accept_errors_total",
    "Failed accepts of client connections (each followed by a capped pause).",
);
/// Backend attempts.
pub const FRONTEND_BACKEND_ATTEMPTS: Metric = counter(
    "pygmy_frontend_backend_attempts_total",
    "Requests the frontend sent to a replica, by group and outcome.",
);
/// Healthy replicas.
pub const FRONTEND_REPLICAS_HEALTHY: Metric = gauge(
    "pygmy_frontend_replicas_healthy",
    "Replicas of each group that answered the frontend's last probe.",
);

/// Every metric above.
pub const ALL: &[Metric] = &[
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    RAFT_TERM,
    RAFT_LEADER_ID,
    RAFT_LEADER_CHANGES,
    RAFT_LAST_LOG_INDEX,
    RAFT_COMMITTED_INDEX,
    RAFT_APPLIED_INDEX,
    RAFT_FOLLOWER_LAG,
    RAFT_VOTES_REFUSED_FOR_LEASES,
    STORAGE_FLUSH_DURATION,
    STORAGE_FLUSH_ENTRIES,
    STORAGE_APPLY_ENTRIES,
    SNAPSHOT_BUILDS,
    SNAPSHOT_BUILD_DURATION,
    SNAPSHOT_INSTALLS,
    SNAPSHOT_INSTALL_DURATION,
    ORDERS_PENDING_BUYS,
    CATALOG_FENCE_OVERDUE_WRITES,
    FRONTEND_CACHE_HITS,
    FRONTEND_CACHE_MISSES,
    FRONTEND_CACHE_INVALIDATIONS,
    FRONTEND_CACHE_EVICTIONS,
    FRONTEND_CACHE_REFUSED_STALE_INSERTS,
    FRONTEND_CACHE_LEASE_HELD,
    FRONTEND_CACHE_LEASE_RENEWALS,
    FRONTEND_CACHE_LEASE_RENEWAL_DURATION,
    FRONTEND_CACHE_ENTRIES,
    FRONTEND_CACHE_WEIGHTED_BYTES,
    FRONTEND_CONNECTIONS_OPEN,
    FRONTEND_CONNECTIONS_REFUSED,
    FRONTEND_ACCEPT_ERRORS,
    FRONTEND_BACKEND_ATTEMPTS,
    FRONTEND_REPLICAS_HEALTHY,
];

impl Metric {
    /// Its counter with `labels`, registered now: keep the handle where it is used often.
    ///
    /// # Panics
    /// It is not a counter (a bug).
    pub fn counter(&self, labels: &[Label]) -> Counter {
        assert_eq!(self.kind, Kind::Counter, "{} is not a counter", self.name);
        crate::telemetry::metrics_handle();
        metrics::counter!(self.name, labels.to_vec())
    }

    /// Its gauge with `labels`, registered now: keep the handle where it is used often.
    ///
    /// # Panics
    /// It is not a gauge (a bug).
    pub fn gauge(&self, labels: &[Label]) -> Gauge {
        assert_eq!(self.kind, Kind::Gauge, "{} is not a gauge", self.name);
        crate::telemetry::metrics_handle();
        metrics::gauge!(self.name, labels.to_vec())
    }

    /// Its histogram with `labels`, registered now: keep the handle where it is used often.
    ///
    /// # Panics
    /// It is not a histogram (a bug).
    pub fn histogram(&self, labels: &[Label]) -> Histogram {
        assert!(
            matches!(self.kind, Kind::Histogram(_)),
            "{} is not a histogram",
            self.name
        );
        crate::telemetry::metrics_handle();
        metrics::histogram!(self.name, labels.to_vec())
    }
}

/// Gives every metric of [`ALL`] its HELP text in the current recorder.
pub(crate) fn describe_all() {
    for metric in ALL {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram(_) => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_name_follows_the_conventions_once() {
        // Goal: one namespace, unique names, units and kinds readable from the name, a HELP
        // text for each, increasing bucket bounds.
        let mut seen = HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} is listed twice", m.name);
            assert!(m.name.starts_with("pygmy_"), "{}", m.name);
            assert!(m.help.len() > 10 && m.help.ends_with('.'), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                m.name
            );
            if let Kind::Histogram(buckets) = m.kind {
                assert!(
                    m.name.ends_with("_seconds") || m.name.ends_with("_entries"),
                    "{}: a histogram names its unit",
                    m.name
                );
                assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
            }
        }
    }
}
