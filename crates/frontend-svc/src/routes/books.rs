//! `GET /books?topic=T` and `GET /books/{id}`: linearizable reads on any catalog replica.

use std::collections::HashMap;

use api::{ApiError, Book, BookList, ErrorBody};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};

use super::{path_id, path_with_query, query_params, tagged, Tagged};
use crate::context::RequestContext;
use crate::state::AppState;

/// The books of `?topic=`, or every book.
#[utoipa::path(
    get,
    path = "/books",
    operation_id = "list_books",
    tag = "books",
    params(
        ("topic" = Option<String>, Query, nullable = false, max_length = 256,
         description = "Only the books of this topic (at most 256 bytes)"),
    ),
    responses(
        (status = 200, description = "The books, by id", body = BookList),
        (status = 400, description = "`bad_request`: a malformed query or a topic over 256 bytes", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Tagged<BookList>, ApiError> {
    let params = query_params(query)?;
    let topic = params.get("topic").map(String::as_str);
    if let Some(topic) = topic {
        api::book::check_topic(topic)?;
    }
    let books = search(&state, &ctx, topic).await?;
    Ok(tagged(&ctx, books))
}

/// One book.
#[utoipa::path(
    get,
    path = "/books/{id}",
    operation_id = "get_book",
    tag = "books",
    params(("id" = u64, Path, minimum = 1, description = "Book id")),
    responses(
        (status = 200, description = "The book", body = Book),
        (status = 400, description = "`bad_request`: the id is not a positive integer in plain decimal", body = ErrorBody),
        (status = 404, description = "`not_found`: no such book", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ctx: RequestContext,
    id: Result<Path<String>, PathRejection>,
) -> Result<Tagged<Book>, ApiError> {
    let id = path_id("book id", id)?;
    let book = lookup(&state, &ctx, id).await?;
    Ok(tagged(&ctx, book))
}

/// The books of `topic` (all if `None`), as the catalog lists them.
pub(crate) async fn search(
    state: &AppState,
    ctx: &RequestContext,
    topic: Option<&str>,
) -> Result<BookList, ApiError> {
    let pairs: Vec<(&str, &str)> = topic.map(|t| ("topic", t)).into_iter().collect();
    Ok(state
        .read_catalog(ctx, path_with_query("/books", &pairs))
        .await?)
}

/// Book `id`.
pub(crate) async fn lookup(
    state: &AppState,
    ctx: &RequestContext,
    id: u64,
) -> Result<Book, ApiError> {
    Ok(state.read_catalog(ctx, format!("/books/{id}")).await?)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::testutil::{get_req, send, Fake, FakeServer, Harness, CLUSTER_TOKEN};

    #[tokio::test]
    async fn books_of_a_topic_come_from_the_catalog_with_its_timing_and_our_request_id() {
        // Goal: a topic search is forwarded with the cluster token and the request id, and the
        // answer carries both the frontend's and the catalog's Server-Timing entries.
        let h = Harness::start().await;
        let answer = send(&h.app, get_req("/books?topic=ds")).await;
        assert_eq!(answer.status, StatusCode::OK);
        let ids: Vec<u64> = answer.json()["books"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2]);
        let timing = answer.server_timing();
        assert!(
            timing.contains("frontend;dur=") && timing.contains("catalog;dur=1.250"),
            "{timing}"
        );
        let seen = h.catalog.fake.seen("/books");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/books?topic=ds");
        assert_eq!(
            seen[0].authorization.as_deref(),
            Some(&*format!("Bearer {CLUSTER_TOKEN}"))
        );
        let request_id = answer
            .header("x-request-id")
            .expect("the answer echoes the request id");
        assert_eq!(seen[0].request_id.as_deref(), Some(request_id));
    }

    #[tokio::test]
    async fn all_books_without_topic_one_book_by_id_and_json_errors_for_bad_ids() {
        // Goal: /books lists everything, /books/{id} finds one, unknown ids are 404 JSON and
        // malformed ids 400 JSON without reaching the catalog.
        let h = Harness::start().await;
        let all = send(&h.app, get_req("/books")).await;
        assert_eq!(all.json()["books"].as_array().unwrap().len(), 3);
        let one = send(&h.app, get_req("/books/2")).await;
        assert_eq!(
            (one.status, one.json()["title"].as_str()),
            (StatusCode::OK, Some("RPCs for Dummies"))
        );
        let unknown = send(&h.app, get_req("/books/99")).await;
        assert_eq!(
            (unknown.status, unknown.error_code()),
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        // `+1` and `01` are issue #11 item 12: one id, one spelling (and one cache key).
        for bad in [
            "/books/abc",
            "/books/0",
            "/books/-1",
            "/books/+1",
            "/books/01",
        ] {
            let answer = send(&h.app, get_req(bad)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into()),
                "{bad}"
            );
        }
        assert_eq!(
            h.catalog.fake.seen("/books/").len(),
            2,
            "bad ids never reach the catalog"
        );
    }

    #[tokio::test]
    async fn reads_rotate_over_replicas_and_fail_over_when_one_stops() {
        // Goal: reads go round-robin; once a replica stops serving, every read still succeeds
        // through the other one.
        let mut first = FakeServer::start(Fake::new("catalog", 1)).await;
        let second = FakeServer::start(Fake::new("catalog", 2)).await;
        let config = crate::testutil::config(&[&first.addr, &second.addr], &["127.0.0.1:9"]);
        let app = crate::router(crate::AppState::new(config).unwrap());
        for _ in 0..2 {
            assert_eq!(send(&app, get_req("/books/1")).await.status, StatusCode::OK);
        }
        assert_eq!(
            (
                first.fake.seen("/books").len(),
                second.fake.seen("/books").len()
            ),
            (1, 1)
        );
        first.stop().await;
        for _ in 0..4 {
            assert_eq!(send(&app, get_req("/books/1")).await.status, StatusCode::OK);
        }
        assert_eq!(first.fake.seen("/books").len(), 1);
        assert_eq!(second.fake.seen("/books").len(), 5);
    }

    #[tokio::test]
    async fn no_reachable_catalog_replica_is_503_no_leader_with_retry_after() {
        // Goal: when nothing answers, the read ends at its deadline with 503 and Retry-After.
        let dead = crate::testutil::dead_addr().await;
        let mut config = crate::testutil::config(&[&dead], &[&dead]);
        config.read_deadline = std::time::Duration::from_millis(200);
        let app = crate::router(crate::AppState::new(config).unwrap());
        let answer = send(&app, get_req("/books")).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.error_code(), "no_leader");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
}
