//! The routes of the original Flask system, kept byte-compatible so its clients keep working:
//! `GET /search?topic=T`, `GET /lookup?item=N` (both `{"books": [...]}`) and `GET /buy?item=N`
//! (`text/plain` `Bought <title>` or `Out of Stock`). Bad parameters are 400 JSON errors.

use std::collections::HashMap;

use api::{ApiError, BookList, BuyRequest, ErrorBody, ErrorCode};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

use super::books::{lookup as lookup_book, search as search_books};
use super::{query_params, tagged, Tagged};
use crate::context::RequestContext;
use crate::state::{new_buy_key, AppState};

/// `GET /search?topic=T`: the books of a topic.
#[utoipa::path(
    get,
    path = "/search",
    operation_id = "legacy_search",
    tag = "legacy",
    params(("topic" = String, Query, max_length = 256, description = "Topic (at most 256 bytes)")),
    responses(
        (status = 200, description = "The books of the topic, by id", body = BookList),
        (status = 400, description = "`bad_request`: no topic, or one over 256 bytes",
         body = ErrorBody),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Tagged<BookList>, ApiError> {
    let params = query_params(query)?;
    let topic = params
        .get("topic")
        .ok_or_else(|| ApiError::bad_request("give the topic: /search?topic=<topic>"))?;
    api::book::check_topic(topic)?;
    let books = search_books(&state, &ctx, Some(topic)).await?;
    Ok(tagged(&ctx, books))
}

/// `GET /lookup?item=N`: one book, in a one-element list.
#[utoipa::path(
    get,
    path = "/lookup",
    operation_id = "legacy_lookup",
    tag = "legacy",
    params(ItemQuery),
    responses(
        (status = 200, description = "The book, alone in the list", body = BookList),
        (status = 400, description = "`bad_request`: no item, or not a positive integer in \
                                      plain decimal", body = ErrorBody),
        (status = 404, description = "`not_found`: no such book", body = ErrorBody),
    )
)]
pub(crate) async fn lookup(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Tagged<BookList>, ApiError> {
    let item = item_param(query)?;
    let book = lookup_book(&state, &ctx, item).await?;
    Ok(tagged(&ctx, BookList { books: vec![book] }))
}

/// `GET /buy?item=N`: buys one copy under a fresh key; `Bought <title>` or `Out of Stock`.
/// (`HEAD /buy` is 405: a HEAD never buys.)
#[utoipa::path(
    get,
    path = "/buy",
    operation_id = "legacy_buy",
    tag = "legacy",
    params(ItemQuery),
    responses(
        (status = 200, description = "`Bought <title>`, or `Out of Stock` (nothing bought)",
         body = String, content_type = "text/plain"),
        (status = 400, description = "`bad_request`: no item, or not a positive integer in \
                                      plain decimal", body = ErrorBody),
        (status = 404, description = "`not_found`: no such book", body = ErrorBody),
    )
)]
pub(crate) async fn buy(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<String, ApiError> {
    let item = item_param(query)?;
    let buy = BuyRequest {
        key: new_buy_key(),
        item,
        quantity: 1,
    };
    match state.place_order(&ctx, &buy).await {
        Ok(order) => Ok(format!("Bought {}", order.title)),
        Err(e) if e.rejection_code() == Some(ErrorCode::OutOfStock) => Ok("Out of Stock".into()),
        Err(e) => Err(e.into()),
    }
}

/// The `?item=N` of `/lookup` and `/buy`, as the description shows it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by hand in `item_param`, for its error messages.
pub(crate) struct ItemQuery {
    /// Book id: a positive integer in plain decimal.
    #[param(minimum = 1)]
    item: u64,
}

fn item_param(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<u64, ApiError> {
    let params = query_params(query)?;
    let raw = params
        .get("item")
        .ok_or_else(|| ApiError::bad_request("give the book id: ?item=<id>"))?;
    api::parse_id("item", raw)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;

    use crate::testutil::{get_req, send, Harness};

    const BOOK_3: &str = r#"{"id":3,"title":"Xen and the Art of Surviving Graduate School","topic":"gs","cost":300,"stock":5}"#;

    #[tokio::test]
    async fn search_and_lookup_answer_the_flask_bodies() {
        // Goal: the old clients' JSON, byte for byte, with a JSON content type.
        let h = Harness::start().await;
        let search = send(&h.app, get_req("/search?topic=gs")).await;
        assert_eq!(search.status, StatusCode::OK);
        assert_eq!(search.header("content-type"), Some("application/json"));
        assert_eq!(search.text(), format!(r#"{{"books":[{BOOK_3}]}}"#));
        let ds = send(&h.app, get_req("/search?topic=ds")).await.json();
        assert_eq!(ds["books"].as_array().unwrap().len(), 2);
        let lookup = send(&h.app, get_req("/lookup?item=3")).await;
        assert_eq!(lookup.status, StatusCode::OK);
        assert_eq!(lookup.text(), format!(r#"{{"books":[{BOOK_3}]}}"#));
        let none = send(&h.app, get_req("/search?topic=cooking")).await;
        assert_eq!(none.text(), r#"{"books":[]}"#);
    }

    #[tokio::test]
    async fn buy_answers_plain_text_and_each_buy_has_its_own_key() {
        // Goal: `Bought <title>` while stock lasts, then `Out of Stock`, both 200 text/plain;
        // every legacy buy is a new buy of one copy.
        let h = Harness::start().await;
        h.orders.fake.set_stock(3, 2);
        for _ in 0..2 {
            let bought = send(&h.app, get_req("/buy?item=3")).await;
            assert_eq!(bought.status, StatusCode::OK);
            assert_eq!(
                bought.header("content-type"),
                Some("text/plain; charset=utf-8")
            );
            assert_eq!(
                bought.text(),
                "Bought Xen and the Art of Surviving Graduate School"
            );
        }
        let out = send(&h.app, get_req("/buy?item=3")).await;
        assert_eq!((out.status, out.text()), (StatusCode::OK, "Out of Stock"));
        assert_eq!(
            out.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let seen = h.orders.fake.seen("/buy");
        let keys: std::collections::HashSet<_> =
            seen.iter().map(|s| s.body["key"].to_string()).collect();
        assert_eq!((seen.len(), keys.len()), (3, 3));
        assert!(seen.iter().all(|s| s.body["quantity"] == 1));
    }

    #[tokio::test]
    async fn bad_or_missing_parameters_are_400_json_and_unknown_items_404_json() {
        // Goal: where Flask answered an HTML 500 page, Pygmy answers a JSON error.
        let h = Harness::start().await;
        for uri in [
            "/search",
            "/lookup",
            "/lookup?item=abc",
            "/lookup?item=0",
            "/buy",
            "/buy?item=x",
        ] {
            let answer = send(&h.app, get_req(uri)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into()),
                "{uri}"
            );
        }
        for uri in ["/lookup?item=99", "/buy?item=99"] {
            let answer = send(&h.app, get_req(uri)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::NOT_FOUND, "not_found".into()),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn head_never_buys_on_any_route() {
        // Goal: issue #11 item 4: `HEAD /buy?item=5` bought a copy (axum's GET handler also
        // answers HEAD). Every route that writes now refuses HEAD with 405 JSON, and no HEAD
        // reaches a write route of any replica.
        let h = Harness::start().await;
        for uri in ["/buy?item=1", "/orders", "/admin/books/1"] {
            let head = Request::head(uri).body(Body::empty()).unwrap();
            let answer = send(&h.app, head).await;
            assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
            assert_eq!(
                answer.header("content-type"),
                Some("application/json"),
                "{uri}"
            );
        }
        for uri in ["/books", "/books/1", "/search?topic=ds", "/lookup?item=1"] {
            let head = Request::head(uri).body(Body::empty()).unwrap();
            assert_eq!(send(&h.app, head).await.status, StatusCode::OK, "{uri}");
        }
        assert!(h.orders.fake.seen("/buy").is_empty());
        assert!(h.catalog.fake.seen("/admin").is_empty());
        assert_eq!(h.orders.fake.stock(1), 5);
        let bought = send(&h.app, get_req("/buy?item=1")).await;
        assert_eq!(bought.status, StatusCode::OK, "GET still buys");
    }

    #[tokio::test]
    async fn a_topic_longer_than_any_real_one_is_400_and_not_sent_on() {
        // Goal: issue #11 item 7: unique 60 KB topics each filled a cache entry; a topic past
        // TOPIC_BYTES_MAX is now 400 JSON before the catalog or the cache sees it.
        let h = Harness::start().await;
        let long = "t".repeat(api::book::TOPIC_BYTES_MAX + 1);
        for uri in [
            format!("/search?topic={long}"),
            format!("/books?topic={long}"),
        ] {
            let answer = send(&h.app, get_req(&uri)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into())
            );
        }
        assert!(h.catalog.fake.seen("/books").is_empty());
        let longest = "t".repeat(api::book::TOPIC_BYTES_MAX);
        let answer = send(&h.app, get_req(&format!("/search?topic={longest}"))).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}
