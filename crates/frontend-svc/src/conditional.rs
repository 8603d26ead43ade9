//! Conditional reads: a `GET` whose `If-None-Match` names the answer's `ETag` gets
//! `304 Not Modified` with no body (RFC 9110 section 13.1.2, weak comparison).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware: turns a `200` whose `ETag` the request's `If-None-Match` lists into a `304`.
pub(crate) async fn conditional_get(req: Request, next: Next) -> Response {
    let wanted = req.headers().get(IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    let Some(wanted) = wanted else {
        return response;
    };
    let etag = response.headers().get(ETAG).cloned();
    match etag {
        Some(etag) if response.status() == StatusCode::OK && matches(&wanted, &etag) => {
            let (mut parts, _) = response.into_parts();
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(axum::http::header::CONTENT_TYPE);
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::empty())
        }
        _ => response,
    }
}

/// Whether the `If-None-Match` list `wanted` matches `etag`.
fn matches(wanted: &HeaderValue, etag: &HeaderValue) -> bool {
    let (Ok(wanted), Ok(etag)) = (wanted.to_str(), etag.to_str()) else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let etag = opaque(etag);
    wanted
        .split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_compare_weakly() {
        let etag = HeaderValue::from_static("\"c42\"");
        for wanted in ["\"c42\"", "W/\"c42\"", "\"c1\", \"c42\"", "*"] {
            assert!(
                matches(&HeaderValue::from_static(wanted), &etag),
                "{wanted}"
            );
        }
        for wanted in ["\"c41\"", "c42", ""] {
            assert!(
                !matches(&HeaderValue::from_static(wanted), &etag),
                "{wanted}"
            );
        }
    }
}
