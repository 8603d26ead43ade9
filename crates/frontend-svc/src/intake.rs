//! Request intake, ahead of the load shedder: a request whose target or head is too large is
//! refused (414, 431), and its body is read in full under its own deadline (408) and size
//! bound (413) *before* the request takes a slot of the global concurrency limit and before
//! the request deadline starts. A client that sends its body slowly therefore holds only its
//! own connection, never a slot others need (issue #11 item 5), and a body that never arrives
//! is answered 408 with nothing sent to a replica, not 503 "a buy may still apply".

use std::time::Duration;

use api::{ApiError, ErrorCode};
use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::config::FrontendConfig;
use runtime::throttle::LogThrottle;

/// Bytes a header line adds beyond its name and value (`: ` and CRLF).
const HEADER_LINE_OVERHEAD_BYTES: usize = 4;

/// The limits [`read_request`] applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntakeLimits {
    uri_bytes_max: usize,
    headers_bytes_max: usize,
    body_bytes_max: usize,
    body_read_timeout: Duration,
}

impl IntakeLimits {
    /// The limits of `config`.
    pub(crate) fn of(config: &FrontendConfig) -> Self {
        Self {
            uri_bytes_max: config.uri_bytes_max,
            headers_bytes_max: config.headers_bytes_max,
            body_bytes_max: config.body_bytes_max,
            body_read_timeout: config.body_read_timeout,
        }
    }
}

/// Middleware: checks the request's head, then reads its body whole under the body deadline.
pub(crate) async fn read_request(
    State(limits): State<IntakeLimits>,
    req: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = check_head(&limits, &req) {
        return refusal.into_response();
    }
    if req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    match read_body(&limits, req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => {
            // The rest of the body will not be read: the connection cannot carry another request.
            let mut response = refusal.into_response();
            let close = HeaderValue::from_static("close");
            response.headers_mut().insert(CONNECTION, close);
            response
        }
    }
}

/// 414 for a target over `uri_bytes_max`, 431 for a head over `headers_bytes_max`.
pub(crate) fn check_head<B>(
    limits: &IntakeLimits,
    req: &axum::http::Request<B>,
) -> Result<(), ApiError> {
    let uri_bytes = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_bytes > limits.uri_bytes_max {
        let max = limits.uri_bytes_max;
        let message = format!("the request target is {uri_bytes} bytes, more than {max}");
        return Err(ApiError::new(ErrorCode::UriTooLong, message));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + HEADER_LINE_OVERHEAD_BYTES)
        .sum();
    if uri_bytes + header_bytes > limits.headers_bytes_max {
        let max = limits.headers_bytes_max;
        let message = format!("the request head is more than {max} bytes");
        return Err(ApiError::new(ErrorCode::HeadersTooLarge, message));
    }
    Ok(())
}

/// The request with its body read into memory; 413 if it is (or says it is) larger than
/// `body_bytes_max`, 408 if it has not arrived within `body_read_timeout`, 400 if the client
/// broke it off.
async fn read_body(limits: &IntakeLimits, req: Request) -> Result<Request, ApiError> {
    static BODY_TIMEOUT_LOG: LogThrottle = LogThrottle::new();
    let too_large = || {
        let max = limits.body_bytes_max;
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {max} bytes"),
        )
    };
    // Refused from its Content-Length alone, without waiting for a byte of it.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = u64::try_from(limits.body_bytes_max).unwrap_or(u64::MAX);
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let limited = Limited::new(body, limits.body_bytes_max);
    let collected = match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return Err(too_large()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "request body broken off");
            return Err(ApiError::bad_request("the request body could not be read"));
        }
        Err(_elapsed) => {
            if let Some(held_back) = BODY_TIMEOUT_LOG.admit() {
                tracing::warn!(
                    held_back,
                    "a request body did not arrive in time; answered 408"
                );
            }
            let seconds = limits.body_read_timeout.as_secs_f64();
            let message =
                format!("the request body did not arrive within {seconds} s; nothing was applied");
            return Err(ApiError::new(ErrorCode::BodyTimeout, message));
        }
    };
    Ok(Request::from_parts(parts, Body::from(collected)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use crate::testutil::socket::{exchange, get_fresh, read_answer, Served, SOCKET_PATIENCE};
    use crate::testutil::{config, get_req, send, Harness};

    /// Connections that each sent a buy's head and 1 byte of its 1000-byte body.
    const SLOW_BODIES: usize = 200;

    const SLOW_BUY_HEAD: &str = "POST /orders HTTP/1.1\r\nHost: pygmy\r\n\
        Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";

    #[tokio::test]
    async fn slow_bodies_hold_no_slot_and_get_408_with_nothing_sent_on() {
        // Goal: issue #11 item 5: connections sending a body one byte at a time held every
        // slot of the concurrency limit (all requests got 429), then each got 503 "a buy may
        // still apply". Method: 200 slow bodies against a limit of 8 in flight: /health and a
        // real buy on fresh connections still succeed; each slow body gets 408 body_timeout
        // (JSON, Connection: close) and no slow buy reaches the order group; a declared
        // Content-Length of 1 MiB gets 413 without its body being waited for.
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.inflight_requests_max = 8;
        config.body_read_timeout = Duration::from_secs(5);
        let served = Served::start(config).await;
        let mut slow = Vec::new();
        for _ in 0..SLOW_BODIES {
            let mut stream = TcpStream::connect(served.addr).await.unwrap();
            stream.write_all(SLOW_BUY_HEAD.as_bytes()).await.unwrap();
            stream.write_all(b"{").await.unwrap();
            slow.push(stream);
        }
        let health = get_fresh(served.addr, "/health").await.unwrap();
        assert_eq!(health.status, 200, "{health:?}");
        let body = r#"{"item": 1}"#;
        let buy = format!(
            "POST /orders HTTP/1.1\r\nHost: pygmy\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let bought = exchange(served.addr, buy.as_bytes()).await.unwrap();
        assert_eq!(bought.status, 201, "{bought:?}");
        let huge = format!(
            "{}{{\"item\": 1}}",
            SLOW_BUY_HEAD.replace("1000", "1048576")
        );
        let refused = exchange(served.addr, huge.as_bytes()).await.unwrap();
        assert_eq!(
            (refused.status, refused.error_code().as_deref()),
            (413, Some("payload_too_large"))
        );
        for stream in &mut slow {
            let answer = tokio::time::timeout(SOCKET_PATIENCE, read_answer(stream))
                .await
                .expect("an answer within the patience")
                .expect("an answer, not a closed connection");
            assert_eq!(
                (answer.status, answer.error_code().as_deref()),
                (408, Some("body_timeout")),
                "{answer:?}"
            );
            assert!(
                answer
                    .head
                    .to_ascii_lowercase()
                    .contains("connection: close"),
                "{answer:?}"
            );
        }
        assert_eq!(h.orders.fake.seen("/buy").len(), 1, "only the real buy");
        served.stop().await;
    }

    #[tokio::test]
    async fn oversized_targets_heads_and_bodies_get_json_errors() {
        // Goal: issue #11 item 12: 414 and 431 came with empty bodies. Within hyper's buffer,
        // a long target is 414 uri_too_long, a large head 431 headers_too_large, a body past
        // the limit 413, all JSON; none reaches a replica.
        let h = Harness::start().await;
        let long_target = format!("/books?x={}", "a".repeat(crate::config::URI_BYTES_MAX));
        let answer = send(&h.app, get_req(&long_target)).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (StatusCode::URI_TOO_LONG, "uri_too_long".into())
        );
        let mut req = Request::get("/books/1");
        for i in 0..4 {
            req = req.header(format!("x-pad-{i}"), "p".repeat(5_000));
        }
        let answer = send(&h.app, req.body(Body::empty()).unwrap()).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large".into()
            )
        );
        assert!(h.catalog.fake.seen("/books").is_empty());
    }

    #[tokio::test]
    async fn what_hyper_still_answers_itself_has_no_body() {
        // Goal: document (and notice any change in) the answers hyper gives before a request
        // reaches the router, which therefore carry no JSON body: a head far past hyper's read
        // buffer (431; hyper checks the buffer loosely, between reads) and a malformed request
        // line (400). A head past headers_bytes_max but within the buffer gets a JSON 431.
        let h = Harness::start().await;
        let served = Served::start(config(&[&h.catalog.addr], &[&h.orders.addr])).await;
        let within = format!(
            "GET /books/1 HTTP/1.1\r\nHost: pygmy\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(20_000)
        );
        let json = exchange(served.addr, within.as_bytes()).await.unwrap();
        assert_eq!(
            (json.status, json.error_code().as_deref()),
            (431, Some("headers_too_large"))
        );
        let past = format!(
            "GET /books/1 HTTP/1.1\r\nHost: pygmy\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(1_000_000)
        );
        let bare = exchange(served.addr, past.as_bytes()).await.unwrap();
        assert_eq!((bare.status, bare.body.len()), (431, 0), "{bare:?}");
        let garbled = exchange(served.addr, b"NOT HTTP AT ALL\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            (garbled.status, garbled.body.len()),
            (400, 0),
            "{garbled:?}"
        );
        served.stop().await;
    }
}
