//! The frontend's validated configuration: where the replicas are, the tokens, and every limit.
//!
//! Limits are documented constants (unit in the name) turned into `Duration`s named for their
//! role; `FrontendConfig::from_cluster` takes the addresses and tokens from `cluster.toml`.

use std::time::Duration;

use runtime::Cluster;

use crate::error::{Error, Result};

/// Deadline of a whole public request, in ms: past it the client gets 503 `timeout` with
/// `Retry-After`. Above [`WRITE_DEADLINE_MS`] so that a buy can use all its retries.
pub const REQUEST_TIMEOUT_MS: u64 = 15_000;
/// How long a buy or admin write keeps trying replicas (rounds with capped backoff), in ms:
/// the buy deadline. Past it the client gets 503 `outcome_unknown` (something may have applied)
/// or `no_leader` (nothing was applied).
pub const WRITE_DEADLINE_MS: u64 = 10_000;
/// How long a read keeps trying replicas, in ms; past it the client gets 503 `no_leader`.
pub const READ_DEADLINE_MS: u64 = 5_000;
/// Timeout of one request to one replica, in ms. Above the replicas' own write deadline
/// (`write_timeout_ms`, 5 s by default) so that their `outcome_unknown` arrives before we give up.
pub const BACKEND_TIMEOUT_MS: u64 = 6_000;
/// Timeout of opening a TCP connection to a replica, in ms: a dead host fails fast.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Period of the health probes (`GET /status` of every replica), in ms.
pub const PROBE_INTERVAL_MS: u64 = 500;
/// Timeout of one probe, in ms; a replica that does not answer within it is marked unhealthy.
pub const PROBE_TIMEOUT_MS: u64 = 1_000;
/// Public requests in flight at once; beyond it requests are shed with 429 `overloaded`.
pub const INFLIGHT_REQUESTS_MAX: usize = 1_024;
/// Largest public request body, in bytes; a larger one gets 413 `payload_too_large`.
pub const BODY_BYTES_MAX: usize = 16 * 1024;

/// Client connections open at once. One more is closed as soon as it is accepted (never
/// queued), so a flood of idle connections cannot exhaust the process's file descriptors
/// (`run` raises the soft `RLIMIT_NOFILE` to the hard one, and `serve` lowers this bound to
/// fit under it, keeping [`FDS_RESERVED`] for replicas and files).
pub const CONNECTIONS_MAX: usize = 4_096;
/// Descriptors kept free of client connections: replica connections, logs, the listener.
pub const FDS_RESERVED: u64 = 256;
/// How long a connection may take to send a complete request head, in ms, counted from its
/// accept or from its previous answer; past it the connection is closed without an answer.
/// hyper starts this timer whenever it waits for a head, so it is also the keep-alive idle
/// timeout: idle and half-sent connections both end after it.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// How long a request body may take to arrive, in ms, read before the request takes a slot of
/// the concurrency limit; past it the client gets 408 `body_timeout` and nothing is sent on.
pub const BODY_READ_TIMEOUT_MS: u64 = 5_000;
/// Longest request target (path and query), in bytes; a longer one gets 414 `uri_too_long`.
pub const URI_BYTES_MAX: usize = 4 * 1024;
/// Largest request head (target and headers), in bytes; a larger one gets 431
/// `headers_too_large`. Heads past 4x this (hyper's read buffer) are refused by hyper itself,
/// with a 431 and an empty body.
pub const HEADERS_BYTES_MAX: usize = 16 * 1024;

/// Entries of the read cache, unless `cluster.toml` says otherwise.
pub const CACHE_CAPACITY: u64 = 10_000;
/// Weighted size of the read cache in bytes (keys, bodies and a per-entry overhead), unless
/// `cluster.toml` says otherwise: what bounds its memory, whatever the entries hold.
pub const CACHE_CAPACITY_BYTES: u64 = 32 << 20;
/// Cache lease asked of the catalog leader, in ms, unless `cluster.toml` says otherwise (the
/// leader's figure is the one used).
pub const CACHE_LEASE_MS: u64 = 1_000;

const _: () = assert!(WRITE_DEADLINE_MS < REQUEST_TIMEOUT_MS);
const _: () = assert!(READ_DEADLINE_MS < REQUEST_TIMEOUT_MS);
const _: () = assert!(CONNECT_TIMEOUT_MS < BACKEND_TIMEOUT_MS);
const _: () = assert!(PROBE_TIMEOUT_MS < BACKEND_TIMEOUT_MS);
const _: () = assert!(URI_BYTES_MAX < HEADERS_BYTES_MAX);
// hyper refuses a read buffer under 8 KiB.
const _: () = assert!(HEADERS_BYTES_MAX * 4 >= 8 * 1024);

/// Everything the frontend needs; build it with [`FrontendConfig::from_cluster`] or
/// [`FrontendConfig::new`], adjust the public fields, and [`crate::serve`] validates it.
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// `host:port` [`crate::run`] binds (`[frontend] addr`); [`crate::serve`] takes a bound listener.
    pub listen_addr: String,
    /// `host:port` the catalog leader sends cache notices to (`[frontend] advertise`); `None`:
    /// the address the listener is bound to, which must then not be a wildcard.
    pub advertise_addr: Option<String>,
    /// Catalog replica addresses (`host:port`), replica id = index + 1.
    pub catalog_replicas: Vec<String>,
    /// Order replica addresses (`host:port`), replica id = index + 1.
    pub order_replicas: Vec<String>,
    /// Bearer token of the replicas' internal routes; never empty.
    pub cluster_token: String,
    /// Bearer token of the public admin routes; never empty.
    pub admin_token: String,
    /// Deadline of a public request (default [`REQUEST_TIMEOUT_MS`]).
    pub request_timeout: Duration,
    /// Deadline of a buy or admin write over all its retries (default [`WRITE_DEADLINE_MS`]).
    pub write_deadline: Duration,
    /// Deadline of a read over all its retries (default [`READ_DEADLINE_MS`]).
    pub read_deadline: Duration,
    /// Timeout of one request to one replica (default [`BACKEND_TIMEOUT_MS`]).
    pub backend_timeout: Duration,
    /// Period of the health probes (default [`PROBE_INTERVAL_MS`]).
    pub probe_interval: Duration,
    /// Timeout of one probe (default [`PROBE_TIMEOUT_MS`]).
    pub probe_timeout: Duration,
    /// Public requests in flight before shedding (default [`INFLIGHT_REQUESTS_MAX`]).
    pub inflight_requests_max: usize,
    /// Largest public request body in bytes (default [`BODY_BYTES_MAX`]).
    pub body_bytes_max: usize,
    /// Client connections open at once (default [`CONNECTIONS_MAX`]).
    pub connections_max: usize,
    /// Longest wait for a complete request head, and keep-alive idle timeout (default
    /// [`HEADER_READ_TIMEOUT_MS`]).
    pub header_read_timeout: Duration,
    /// Longest wait for a request body (default [`BODY_READ_TIMEOUT_MS`]).
    pub body_read_timeout: Duration,
    /// Longest request target in bytes (default [`URI_BYTES_MAX`]).
    pub uri_bytes_max: usize,
    /// Largest request head in bytes (default [`HEADERS_BYTES_MAX`]).
    pub headers_bytes_max: usize,
    /// Entries of the read cache; `None` runs without it (`--no-cache`).
    pub cache_capacity: Option<u64>,
    /// Weighted size of the read cache in bytes (default [`CACHE_CAPACITY_BYTES`]).
    pub cache_capacity_bytes: u64,
    /// Lease period: how often the lease is renewed (four times per period).
    pub cache_lease: Duration,
}

impl FrontendConfig {
    /// A configuration with every limit at its default.
    pub fn new(
        listen_addr: impl Into<String>,
        catalog_replicas: Vec<String>,
        order_replicas: Vec<String>,
        cluster_token: impl Into<String>,
        admin_token: impl Into<String>,
    ) -> Self {
        Self {
            listen_addr: listen_addr.into(),
            advertise_addr: None,
            catalog_replicas,
            order_replicas,
            cluster_token: cluster_token.into(),
            admin_token: admin_token.into(),
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
            write_deadline: Duration::from_millis(WRITE_DEADLINE_MS),
            read_deadline: Duration::from_millis(READ_DEADLINE_MS),
            backend_timeout: Duration::from_millis(BACKEND_TIMEOUT_MS),
            probe_interval: Duration::from_millis(PROBE_INTERVAL_MS),
            probe_timeout: Duration::from_millis(PROBE_TIMEOUT_MS),
            inflight_requests_max: INFLIGHT_REQUESTS_MAX,
            body_bytes_max: BODY_BYTES_MAX,
            connections_max: CONNECTIONS_MAX,
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(BODY_READ_TIMEOUT_MS),
            uri_bytes_max: URI_BYTES_MAX,
            headers_bytes_max: HEADERS_BYTES_MAX,
            cache_capacity: Some(CACHE_CAPACITY),
            cache_capacity_bytes: CACHE_CAPACITY_BYTES,
            cache_lease: Duration::from_millis(CACHE_LEASE_MS),
        }
    }

    /// The frontend of `cluster`: its address, both groups' replicas and the tokens.
    ///
    /// # Errors
    /// [`Error::Config`] as [`FrontendConfig::validate`] (e.g. an empty token).
    pub fn from_cluster(cluster: &Cluster) -> Result<Self> {
        let mut config = Self::new(
            cluster.frontend_addr.clone(),
            cluster.catalog.clone(),
            cluster.orders.clone(),
            cluster.cluster_token.clone(),
            cluster.admin_token.clone(),
        );
        config.advertise_addr = cluster.frontend_advertise.clone();
        config.cache_capacity = cluster.cache.enabled.then_some(cluster.cache.capacity);
        config.cache_capacity_bytes = cluster.cache.capacity_bytes;
        config.cache_lease = cluster.cache.lease;
        config.validate()?;
        Ok(config)
    }

    /// Checks tokens, replica lists and the relations between limits.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem (and the variable that sets a missing token).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.cluster_token.is_empty() {
            return bad("cluster_token is empty: set it in cluster.toml or PYGMY_CLUSTER_TOKEN (pygmy up sets one)");
        }
        if self.admin_token.is_empty() {
            return bad("admin_token is empty: set it in cluster.toml or PYGMY_ADMIN_TOKEN (pygmy up sets one)");
        }
        if self.catalog_replicas.is_empty() || self.order_replicas.is_empty() {
            return bad("the catalog and order groups each need at least one replica address");
        }
        if self.write_deadline >= self.request_timeout || self.read_deadline >= self.request_timeout
        {
            return bad("write and read deadlines must be shorter than the request timeout");
        }
        let zero = Duration::ZERO;
        if [
            self.backend_timeout,
            self.probe_interval,
            self.probe_timeout,
        ]
        .contains(&zero)
        {
            return bad("backend timeout, probe interval and probe timeout must be positive");
        }
        if self.inflight_requests_max == 0 || self.body_bytes_max == 0 {
            return bad("inflight_requests_max and body_bytes_max must be positive");
        }
        if self.cache_capacity == Some(0) || self.cache_lease < Duration::from_millis(100) {
            return bad("the cache needs a positive capacity and a lease of at least 100 ms");
        }
        self.validate_intake()
    }

    /// Checks the limits on connections and request heads and bodies.
    fn validate_intake(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.connections_max == 0 {
            return bad("connections_max must be positive");
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return bad("the header and body read timeouts must be positive");
        }
        if self.uri_bytes_max == 0 || self.uri_bytes_max >= self.headers_bytes_max {
            return bad("uri_bytes_max must be positive and below headers_bytes_max");
        }
        if self.cache_capacity_bytes < 1 << 20 {
            return bad("the cache needs at least 1 MiB (cache capacity_bytes)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FrontendConfig {
        let replicas = vec!["127.0.0.1:1".to_string()];
        FrontendConfig::new("127.0.0.1:0", replicas.clone(), replicas, "c", "a")
    }

    #[test]
    fn empty_tokens_name_their_variable() {
        // Goal: a frontend without tokens refuses to start and says how to set them.
        let mut c = config();
        assert!(c.validate().is_ok());
        c.admin_token.clear();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("PYGMY_ADMIN_TOKEN"));
        let mut c = config();
        c.cluster_token.clear();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("PYGMY_CLUSTER_TOKEN"));
    }

    #[test]
    fn intake_limits_must_be_positive_and_consistent() {
        // Goal: zero connections, zero timeouts, a target bound above the head bound and a
        // cache under 1 MiB are each refused.
        let broken: [fn(&mut FrontendConfig); 5] = [
            |c| c.connections_max = 0,
            |c| c.header_read_timeout = Duration::ZERO,
            |c| c.body_read_timeout = Duration::ZERO,
            |c| c.uri_bytes_max = c.headers_bytes_max,
            |c| c.cache_capacity_bytes = 1000,
        ];
        for breaks in broken {
            let mut c = config();
            breaks(&mut c);
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn deadlines_must_fit_in_the_request_timeout() {
        // Goal: a buy deadline longer than the request timeout is refused.
        let mut c = config();
        c.write_deadline = c.request_timeout;
        assert!(c.validate().unwrap_err().to_string().contains("deadline"));
    }
}

#[cfg(test)]
mod cluster_tests {
    use runtime::cluster::{ClusterFile, DEFAULT_CLUSTER_TOML};

    use super::*;

    #[test]
    fn from_cluster_takes_addresses_and_tokens() {
        // Goal: the frontend reads its address, both groups and the tokens from cluster.toml.
        let mut file: ClusterFile = toml::from_str(DEFAULT_CLUSTER_TOML).unwrap();
        file.cluster_token = "cluster-token-0123".into();
        file.admin_token = "admin-token-012345".into();
        let cluster = Cluster::validate(file).unwrap();
        let config = FrontendConfig::from_cluster(&cluster).unwrap();
        assert_eq!(config.listen_addr, "127.0.0.1:8080");
        assert_eq!(
            (config.catalog_replicas.len(), config.order_replicas.len()),
            (3, 3)
        );
        assert_eq!(config.order_replicas[1], "127.0.0.1:8202");
        assert_eq!(
            (config.cluster_token.as_str(), config.admin_token.as_str()),
            ("cluster-token-0123", "admin-token-012345")
        );
        let mut cluster = cluster;
        cluster.cluster_token.clear();
        let error = FrontendConfig::from_cluster(&cluster)
            .unwrap_err()
            .to_string();
        assert!(error.contains("PYGMY_CLUSTER_TOKEN"), "{error}");
    }
}
