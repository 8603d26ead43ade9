//! The frontend's accept loop, in place of `axum::serve` (issue #11 item 6):
//! - at most `connections_max` connections open at once; one more is closed as soon as it is
//!   accepted, never queued, so idle connections cannot use up the process's descriptors;
//! - hyper closes a connection that has not sent a complete request head within
//!   `header_read_timeout` of its accept or of its previous answer (idle or half-sent alike);
//! - hyper's read buffer is bounded (4x `headers_bytes_max`), past which it answers 431 itself;
//! - accept errors (EMFILE, ENFILE, ...) get a capped doubling pause, as mini-redis does;
//! - on shutdown: stop accepting, let every connection finish its request, close idle ones.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::cache::front::CacheFront;
use crate::config::{FrontendConfig, FDS_RESERVED};
use runtime::metric_catalog::{
    FRONTEND_ACCEPT_ERRORS, FRONTEND_CONNECTIONS_OPEN, FRONTEND_CONNECTIONS_REFUSED,
};
use runtime::throttle::LogThrottle;

/// First pause after a failed accept, in ms.
const ACCEPT_BACKOFF_MS_MIN: u64 = 1;
/// Longest pause after failed accepts, in ms: short enough to take connections again soon
/// after descriptors free up.
const ACCEPT_BACKOFF_MS_MAX: u64 = 1_000;

/// Serves `app` on `listener` until `shutdown` resolves, then drains open connections.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    app: CacheFront,
    config: &FrontendConfig,
    shutdown: impl Future<Output = ()>,
) {
    static REFUSED_LOG: LogThrottle = LogThrottle::new();
    static ACCEPT_ERROR_LOG: LogThrottle = LogThrottle::new();
    let connections_max = fit_descriptors(config.connections_max);
    let open = Arc::new(Semaphore::new(connections_max));
    let builder = http1_builder(config);
    let graceful = GracefulShutdown::new();
    let mut pause_ms = ACCEPT_BACKOFF_MS_MIN;
    // Registered once: every connection moves the open gauge twice.
    let (open_gauge, refused, accept_errors) = (
        FRONTEND_CONNECTIONS_OPEN.gauge(&[]),
        FRONTEND_CONNECTIONS_REFUSED.counter(&[]),
        FRONTEND_ACCEPT_ERRORS.counter(&[]),
    );
    tokio::pin!(shutdown);
    // Meant to run forever: it ends only when `shutdown` resolves.
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                pause_ms = ACCEPT_BACKOFF_MS_MIN;
                stream
            }
            Err(error) => {
                accept_errors.increment(1);
                if let Some(held_back) = ACCEPT_ERROR_LOG.admit() {
                    tracing::warn!(%error, pause_ms, held_back, "accept failed; pausing");
                }
                let pause = tokio::time::sleep(Duration::from_millis(pause_ms));
                pause_ms = (pause_ms * 2).min(ACCEPT_BACKOFF_MS_MAX);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = pause => continue,
                }
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            // Closed at once (the stream is dropped): a queued connection would still hold a
            // descriptor, and its client would wait for nothing.
            refused.increment(1);
            if let Some(held_back) = REFUSED_LOG.admit() {
                tracing::warn!(
                    connections_max,
                    held_back,
                    "too many open connections; closed one"
                );
            }
            continue;
        };
        // Small answers go out at once rather than waiting for Nagle's timer.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let open_gauge = open_gauge.clone();
        let served = async move {
            let _permit = permit;
            open_gauge.increment(1.0);
            if let Err(error) = connection.await {
                // Header timeouts, resets and malformed requests: the client's doing.
                tracing::debug!(%error, "connection ended with an error");
            }
            open_gauge.decrement(1.0);
        };
        tokio::spawn(served.in_current_span());
    }
    drop(listener);
    // Bounded: each request has its deadline, and a connection mid-head its header timeout.
    graceful.shutdown().await;
}

/// hyper's HTTP/1 server settings for `config`.
fn http1_builder(config: &FrontendConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        // Above `headers_bytes_max`, so that most oversized heads reach `intake` and get a JSON
        // 431; hyper answers past this itself (431, empty body). At least hyper's 8 KiB.
        .max_buf_size((config.headers_bytes_max * 4).max(8 * 1024));
    builder
}

/// `connections_max`, lowered to leave [`FDS_RESERVED`] descriptors under the soft
/// `RLIMIT_NOFILE` if it would not fit.
fn fit_descriptors(connections_max: usize) -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    let Ok((soft, _hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return connections_max;
    };
    let room = usize::try_from(soft.saturating_sub(FDS_RESERVED)).unwrap_or(usize::MAX);
    if room >= connections_max {
        return connections_max;
    }
    let fitted = room.max(1);
    tracing::warn!(
        connections_max,
        fitted,
        soft_limit = soft,
        "connections_max lowered to fit the open-file limit"
    );
    fitted
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so that the connection bound, not the
/// OS's (often 1024) default, decides when connections are refused. Best effort.
pub(crate) fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open-file limit"),
            Err(error) => tracing::warn!(%error, soft, hard, "cannot raise the open-file limit"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use crate::testutil::socket::{
        closed_by_server, get_fresh, raise_descriptor_limit, read_answer, Served,
    };
    use crate::testutil::{config, Harness};

    /// Connections opened against one frontend: what issue #11 item 6 measured with.
    const IDLE_CONNECTIONS: usize = 2_000;

    #[tokio::test]
    async fn idle_and_half_sent_connections_leave_health_up_and_are_closed_after_the_timeout() {
        // Goal: issue #11 item 6: connections sending nothing or half a head stayed open for
        // good, until the frontend ran out of descriptors. Method: 2000 such connections (half
        // silent, half stopped mid-head) plus one idle keep-alive connection after a full
        // request; /health on a fresh connection answers 200 meanwhile, and the server closes
        // every one of them after the header-read timeout (short here).
        raise_descriptor_limit();
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.header_read_timeout = Duration::from_secs(3);
        let served = Served::start(config).await;
        let mut idle = Vec::with_capacity(IDLE_CONNECTIONS + 1);
        for i in 0..IDLE_CONNECTIONS {
            let mut stream = TcpStream::connect(served.addr).await.unwrap();
            if i % 2 == 1 {
                stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: py")
                    .await
                    .unwrap();
            }
            idle.push(stream);
        }
        let mut kept_alive = TcpStream::connect(served.addr).await.unwrap();
        kept_alive
            .write_all(b"GET /health HTTP/1.1\r\nHost: pygmy\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_answer(&mut kept_alive).await.unwrap().status, 200);
        idle.push(kept_alive);
        let health = get_fresh(served.addr, "/health").await.unwrap();
        assert_eq!(health.status, 200, "{health:?}");
        for stream in &mut idle {
            closed_by_server(stream).await;
        }
        served.stop().await;
    }

    #[tokio::test]
    async fn a_connection_past_the_bound_is_closed_at_once_and_health_returns_when_some_go() {
        // Goal: with connections_max open (and a long header timeout), one more connection is
        // closed at once instead of queued; once a few clients leave, a fresh connection is
        // served again.
        const BOUND: usize = 50;
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.connections_max = BOUND;
        config.header_read_timeout = Duration::from_secs(600);
        let served = Served::start(config).await;
        let mut open = Vec::new();
        for _ in 0..BOUND {
            open.push(TcpStream::connect(served.addr).await.unwrap());
        }
        let mut extra = TcpStream::connect(served.addr).await.unwrap();
        closed_by_server(&mut extra).await;
        open.truncate(BOUND - 5);
        // Poll: the server frees a slot once it has seen a client leave.
        let deadline = tokio::time::Instant::now() + crate::testutil::socket::SOCKET_PATIENCE;
        loop {
            if let Some(health) = get_fresh(served.addr, "/health").await {
                assert_eq!(health.status, 200, "{health:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never served again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(open);
        served.stop().await;
    }
}
