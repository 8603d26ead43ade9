//! The public HTTP routes; one file per route group.

pub(crate) mod admin;
pub(crate) mod books;
pub(crate) mod cache_notice;
pub(crate) mod cluster;
pub(crate) mod health;
pub(crate) mod legacy;
pub(crate) mod metrics;
pub(crate) mod orders;

use std::collections::HashMap;

use api::ApiError;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::header::ETAG;
use axum::http::HeaderName;
use axum::response::AppendHeaders;
use axum::Json;

use crate::context::RequestContext;

/// A catalog read's answer with its `ETag`: the catalog index it was read at.
pub(crate) type Tagged<T> = (AppendHeaders<Option<(HeaderName, String)>>, Json<T>);

/// `body` tagged with the index `ctx`'s catalog read was served at.
pub(crate) fn tagged<T>(ctx: &RequestContext, body: T) -> Tagged<T> {
    let etag = ctx
        .read_index
        .get()
        .map(|index| (ETAG, api::coherence::etag(index)));
    (AppendHeaders(etag), Json(body))
}

/// The positive integer in a `{id}`-like path segment.
pub(crate) fn path_id(
    what: &str,
    segment: Result<Path<String>, PathRejection>,
) -> Result<u64, ApiError> {
    let Path(raw) = segment.map_err(|e| ApiError::bad_request(e.body_text()))?;
    api::parse_id(what, &raw)
}

/// The query parameters, or 400 if the query string is malformed.
pub(crate) fn query_params(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `path?name=value&...` with every value percent-encoded.
pub(crate) fn path_with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://replica").expect("a constant URL parses");
    url.set_path(path);
    url.query_pairs_mut().extend_pairs(pairs);
    match url.query() {
        Some(query) if !query.is_empty() => format!("{}?{query}", url.path()),
        _ => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(path_with_query("/books", &[]), "/books");
        assert_eq!(
            path_with_query("/books", &[("topic", "a b&c")]),
            "/books?topic=a+b%26c"
        );
    }
}
