//! `POST /admin/books/{id}`: restock and/or reprice, behind the admin token (checked by the
//! router's `require_token` layer), forwarded to the catalog group with the cluster token.

use api::{ApiError, ApiJson, Book, ErrorBody, UpdateBook};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;

use super::path_id;
use crate::context::RequestContext;
use crate::state::AppState;

/// Applies `{"stock_delta": k}` and/or `{"cost": c}` to one book; answers the updated book.
#[utoipa::path(
    post,
    path = "/admin/books/{id}",
    operation_id = "update_book",
    tag = "admin",
    params(("id" = u64, Path, minimum = 1, description = "Book id")),
    request_body = UpdateBook,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The updated book", body = Book),
        (status = 400, description = "`bad_request`: a malformed body, an unknown field, neither \
                                      field, a zero or out-of-range `stock_delta`, a cost over \
                                      10^9", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or wrong admin token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such book", body = ErrorBody),
        (status = 409, description = "`conflict`: the change would make the stock negative",
         body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not \
                                      `application/json`", body = ErrorBody),
    )
)]
pub(crate) async fn update_book(
    State(state): State<AppState>,
    ctx: RequestContext,
    id: Result<Path<String>, PathRejection>,
    ApiJson(update): ApiJson<UpdateBook>,
) -> Result<Json<Book>, ApiError> {
    let id = path_id("book id", id)?;
    update.validate()?;
    Ok(Json(state.update_book(&ctx, id, &update).await?))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::testutil::{error_body, post_json, send, Harness, ADMIN_TOKEN, CLUSTER_TOKEN};

    fn restock(body: &str, token: Option<&str>) -> axum::extract::Request {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        post_json("/admin/books/2", body, &headers)
    }

    #[tokio::test]
    async fn updates_need_the_admin_token_and_reach_the_catalog_with_the_cluster_token() {
        // Goal: no or wrong token is 401 JSON with nothing sent on; the right one updates the
        // book, and the catalog sees the cluster token, never the admin token.
        let h = Harness::start().await;
        for token in [None, Some("wrong"), Some(CLUSTER_TOKEN)] {
            let answer = send(&h.app, restock(r#"{"stock_delta": 3}"#, token)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::UNAUTHORIZED, "unauthorized".into()),
                "{token:?}"
            );
        }
        assert!(h.catalog.fake.seen("/admin").is_empty());
        let answer = send(
            &h.app,
            restock(r#"{"stock_delta": 3, "cost": 250}"#, Some(ADMIN_TOKEN)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            (
                answer.json()["stock"].as_u64(),
                answer.json()["cost"].as_u64()
            ),
            (Some(8), Some(250))
        );
        let seen = h.catalog.fake.seen("/admin/books/2");
        assert_eq!(
            seen[0].authorization.as_deref(),
            Some(&*format!("Bearer {CLUSTER_TOKEN}"))
        );
        let empty = send(&h.app, restock("{}", Some(ADMIN_TOKEN))).await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        let negative = send(
            &h.app,
            restock(r#"{"stock_delta": -100}"#, Some(ADMIN_TOKEN)),
        )
        .await;
        assert_eq!(
            (negative.status, negative.error_code()),
            (StatusCode::CONFLICT, "conflict".into())
        );
    }

    #[tokio::test]
    async fn a_restock_with_an_unknown_outcome_is_not_resent() {
        // Goal: a restock carries no key, so after outcome_unknown it is reported, not retried
        // (a second send could add the stock twice); a no_leader refusal is retried.
        let h = Harness::start().await;
        h.catalog.fake.script(
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("outcome_unknown"),
        );
        let answer = send(&h.app, restock(r#"{"stock_delta": 1}"#, Some(ADMIN_TOKEN))).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown".into())
        );
        assert_eq!(h.catalog.fake.seen("/admin").len(), 1);
        h.catalog
            .fake
            .script(StatusCode::SERVICE_UNAVAILABLE, error_body("no_leader"));
        let answer = send(&h.app, restock(r#"{"stock_delta": 1}"#, Some(ADMIN_TOKEN))).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(h.catalog.fake.seen("/admin").len(), 3);
        assert_eq!(h.catalog.fake.stock(2), 6);
    }

    #[tokio::test]
    async fn a_stock_delta_at_the_i64_edges_is_400_and_never_reaches_the_catalog() {
        // Goal: issue #11 item 9: `-9223372036854775808` passed the range check (abs()
        // overflowed); it and its neighbours are now 400 JSON before any backend call.
        let h = Harness::start().await;
        for delta in [
            i64::MIN.to_string(),
            i64::MAX.to_string(),
            "1000000001".into(),
        ] {
            let body = format!(r#"{{"stock_delta": {delta}}}"#);
            let answer = send(&h.app, restock(&body, Some(ADMIN_TOKEN))).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into()),
                "{delta}"
            );
        }
        assert!(h.catalog.fake.seen("/admin").is_empty());
    }

    #[tokio::test]
    async fn a_null_field_is_400_and_a_whole_float_is_a_number() {
        // Goal: two answers schemathesis found against the OpenAPI description (#17): a
        // `null` field was taken as absent (the description says a number or nothing), and
        // `-2.0`, an integer to JSON, was refused.
        let h = Harness::start().await;
        for body in [
            r#"{"cost": null, "stock_delta": -1}"#,
            r#"{"stock_delta": null}"#,
        ] {
            let answer = send(&h.app, restock(body, Some(ADMIN_TOKEN))).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into()),
                "{body}"
            );
        }
        assert!(h.catalog.fake.seen("/admin").is_empty());
        let answer = send(
            &h.app,
            restock(r#"{"stock_delta": -2.0}"#, Some(ADMIN_TOKEN)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["stock"].as_u64(), Some(3));
    }
}
