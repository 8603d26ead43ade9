//! `POST /orders` (buy, exactly once per `Idempotency-Key`) and `GET /orders/{number}`.

use api::{ApiError, ApiJson, BuyRequest, ErrorBody, NewOrder, Order};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::Json;

use super::path_id;
use crate::context::RequestContext;
use crate::state::{new_buy_key, AppState};

/// The header a client names its buy with; retrying with the same value is safe.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Buys `quantity` copies of `item`: 201 with the committed order.
#[utoipa::path(
    post,
    path = "/orders",
    operation_id = "buy",
    tag = "orders",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$",
         description = "Names this buy: resending with the same key never buys twice and \
                        answers the same order. 1 to 128 visible ASCII characters; without \
                        one, the frontend makes one up (and a retry is a new buy)"),
    ),
    request_body = NewOrder,
    responses(
        (status = 201, description = "The committed order", body = Order,
         headers(("Location" = String, description = "`/orders/{number}`"))),
        (status = 400, description = "`bad_request`: a malformed body, an unknown field, item 0, \
                                      a quantity outside 1-1000, a bad or repeated key",
         body = ErrorBody),
        (status = 404, description = "`not_found`: no such book", body = ErrorBody),
        (status = 409, description = "`out_of_stock`: not enough copies, nothing taken; \
                                      `conflict`: the key was used for another buy",
         body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not \
                                      `application/json`", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewOrder>,
) -> Result<(StatusCode, [(HeaderName, String); 1], Json<Order>), ApiError> {
    let key = buy_key(&headers)?;
    if new.item == 0 {
        return Err(ApiError::bad_request(
            "item must be a positive integer, got 0",
        ));
    }
    api::book::check_quantity(new.quantity)?;
    let buy = BuyRequest {
        key,
        item: new.item,
        quantity: new.quantity,
    };
    let order = state.place_order(&ctx, &buy).await?;
    let location = format!("/orders/{}", order.number);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(order)))
}

/// One committed order.
#[utoipa::path(
    get,
    path = "/orders/{number}",
    operation_id = "get_order",
    tag = "orders",
    params(("number" = u64, Path, minimum = 1, description = "Order number")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 400, description = "`bad_request`: the number is not a positive integer in \
                                      plain decimal", body = ErrorBody),
        (status = 404, description = "`not_found`: no such order", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    ctx: RequestContext,
    number: Result<Path<String>, PathRejection>,
) -> Result<Json<Order>, ApiError> {
    let number = path_id("order number", number)?;
    Ok(Json(
        state.read_orders(&ctx, format!("/orders/{number}")).await?,
    ))
}

/// The client's `Idempotency-Key` if it sent one (checked), else a fresh key.
fn buy_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(new_buy_key());
    };
    // Two keys name two buys: taking either one silently could apply the one not meant.
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "send one Idempotency-Key, not several",
        ));
    }
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
    api::book::check_buy_key(key)?;
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use api::{ReplicaRole, ReplicaStatus};
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testutil::{
        config, dead_addr, error_body, get_req, post_json, send, Fake, FakeServer, Harness,
    };

    #[tokio::test]
    async fn an_order_is_created_once_per_idempotency_key_and_can_be_read_back() {
        // Goal: 201 with the order and its Location; the client's key reaches the order group
        // unchanged, so a retry with it returns the same order and takes stock once.
        let h = Harness::start().await;
        let buy = || {
            post_json(
                "/orders",
                r#"{"item": 2, "quantity": 2}"#,
                &[("idempotency-key", "k-1")],
            )
        };
        let first = send(&h.app, buy()).await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(first.header("location"), Some("/orders/1"));
        let order = first.json();
        assert_eq!(
            (order["number"].as_u64(), order["quantity"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(order["cost"].as_u64(), Some(400));
        let again = send(&h.app, buy()).await;
        assert_eq!(
            (again.status, again.json()),
            (StatusCode::CREATED, order.clone())
        );
        assert_eq!(h.orders.fake.stock(2), 3, "two copies taken once");
        let seen = h.orders.fake.seen("/buy");
        assert_eq!(
            seen[0].body,
            json!({"key": "k-1", "item": 2, "quantity": 2})
        );
        let read = send(&h.app, get_req("/orders/1")).await;
        assert_eq!((read.status, read.json()), (StatusCode::OK, order));
        let missing = send(&h.app, get_req("/orders/7")).await;
        assert_eq!(
            (missing.status, missing.error_code()),
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        assert_eq!(
            send(&h.app, get_req("/orders/zero")).await.status,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn an_order_without_key_gets_a_fresh_uuid_key_and_quantity_one() {
        // Goal: each keyless order is a new buy under a generated v7 uuid, later keys sorting
        // after earlier ones.
        let h = Harness::start().await;
        for _ in 0..2 {
            let answer = send(&h.app, post_json("/orders", r#"{"item": 1}"#, &[])).await;
            assert_eq!(answer.status, StatusCode::CREATED);
        }
        let keys: Vec<String> = h
            .orders
            .fake
            .seen("/buy")
            .iter()
            .map(|s| s.body["key"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
        for key in &keys {
            assert_eq!(uuid::Uuid::parse_str(key).unwrap().get_version_num(), 7);
        }
        assert!(keys[0] < keys[1], "{keys:?}");
        assert_eq!(h.orders.fake.seen("/buy")[0].body["quantity"], 1);
    }

    #[tokio::test]
    async fn whole_numbers_written_as_floats_are_numbers() {
        // Goal: `{"item": 1.0, "quantity": 2.0}` is the order `{"item": 1, "quantity": 2}`,
        // as JSON (and JSON Schema's `integer`) mean it; 2.5 copies is 400 (#17, found by
        // schemathesis).
        let h = Harness::start().await;
        let body = r#"{"item": 1.0, "quantity": 2.0}"#;
        let answer = send(&h.app, post_json("/orders", body, &[])).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(h.orders.fake.seen("/buy")[0].body["quantity"], 2);
        let half = r#"{"item": 1, "quantity": 2.5}"#;
        let answer = send(&h.app, post_json("/orders", half, &[])).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(
            answer.text().contains("not a whole number"),
            "{}",
            answer.text()
        );
    }

    #[tokio::test]
    async fn refusals_pass_through_and_bad_orders_never_reach_the_group() {
        // Goal: 409 out_of_stock, 404 and 409 conflict come back as the replica said them;
        // malformed orders are 400 JSON before any backend call.
        let h = Harness::start().await;
        h.orders.fake.set_stock(3, 0);
        let out = send(&h.app, post_json("/orders", r#"{"item": 3}"#, &[])).await;
        assert_eq!(
            (out.status, out.error_code()),
            (StatusCode::CONFLICT, "out_of_stock".into())
        );
        let unknown = send(&h.app, post_json("/orders", r#"{"item": 99}"#, &[])).await;
        assert_eq!(
            (unknown.status, unknown.error_code()),
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        h.orders
            .fake
            .script(StatusCode::CONFLICT, error_body("conflict"));
        let reused = send(&h.app, post_json("/orders", r#"{"item": 1}"#, &[])).await;
        assert_eq!(reused.error_code(), "conflict");
        let calls = h.orders.fake.seen("/buy").len();
        let bad = [
            (r#"{"item": 0}"#, vec![]),
            (r#"{"item": 1, "quantity": 0}"#, vec![]),
            (r#"{"item": 1, "quantity": 1001}"#, vec![]),
            (r#"{"item": 1, "colour": "red"}"#, vec![]),
            (r#"{"item": 1}"#, vec![("idempotency-key", "has space")]),
            // Issue #11 item 12: an array is not an order, and two keys are not one.
            ("[1,1]", vec![]),
            ("[1]", vec![]),
            (
                r#"{"item": 1}"#,
                vec![("idempotency-key", "k-a"), ("idempotency-key", "k-b")],
            ),
        ];
        for (body, headers) in bad {
            let answer = send(&h.app, post_json("/orders", body, &headers)).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (StatusCode::BAD_REQUEST, "bad_request".into()),
                "{body}"
            );
        }
        assert_eq!(h.orders.fake.seen("/buy").len(), calls);
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_retried_with_the_same_key() {
        // Goal: after 503 outcome_unknown the frontend resends the very same buy, and the
        // client gets the order, not an error.
        let h = Harness::start().await;
        h.orders.fake.script(
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("outcome_unknown"),
        );
        let answer = send(
            &h.app,
            post_json(
                "/orders",
                r#"{"item": 1}"#,
                &[("idempotency-key", "retry-me")],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let seen = h.orders.fake.seen("/buy");
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|s| s.body["key"] == "retry-me"));
        assert_eq!(h.orders.fake.stock(1), 4);
    }

    #[tokio::test]
    async fn a_buy_answered_internal_is_retried_with_the_same_key() {
        // Goal: a 500 `internal` may hide a buy that applied, so it is treated as unknown:
        // the frontend resends the same key instead of reporting a failure.
        let h = Harness::start().await;
        h.orders
            .fake
            .script(StatusCode::INTERNAL_SERVER_ERROR, error_body("internal"));
        let answer = send(
            &h.app,
            post_json("/orders", r#"{"item": 1}"#, &[("idempotency-key", "k-500")]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let seen = h.orders.fake.seen("/buy");
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|s| s.body["key"] == "k-500"));
        assert_eq!(h.orders.fake.stock(1), 4);
    }

    #[tokio::test]
    async fn a_buy_whose_outcome_stays_unknown_is_503_outcome_unknown() {
        // Goal: past the buy deadline, a buy that may have applied is reported as unknown
        // (never as failed), with Retry-After, after several sends of the same key.
        let h = Harness::start().await;
        let mut config = config(&[&h.catalog.addr], &[&h.orders.addr]);
        config.write_deadline = Duration::from_millis(300);
        let app = crate::router(crate::AppState::new(config).unwrap());
        for _ in 0..50 {
            h.orders.fake.script(
                StatusCode::SERVICE_UNAVAILABLE,
                error_body("outcome_unknown"),
            );
        }
        let answer = send(
            &app,
            post_json("/orders", r#"{"item": 1}"#, &[("idempotency-key", "k")]),
        )
        .await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown".into())
        );
        assert_eq!(answer.header("retry-after"), Some("1"));
        let seen = h.orders.fake.seen("/buy");
        assert!(
            seen.len() >= 2 && seen.iter().all(|s| s.body["key"] == "k"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_buy_fails_over_from_an_unreachable_replica_and_marks_it_down() {
        // Goal: a refused connection moves the buy to the next replica at once and the dead
        // replica shows as unhealthy in /cluster.
        let live = FakeServer::start(Fake::new("orders", 2)).await;
        let dead = dead_addr().await;
        let state = crate::AppState::new(config(&[&live.addr], &[&dead, &live.addr])).unwrap();
        let app = crate::router(state);
        let answer = send(&app, post_json("/orders", r#"{"item": 1}"#, &[])).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(live.fake.seen("/buy").len(), 1);
        let cluster = send(&app, get_req("/cluster")).await.json();
        let replicas = &cluster["groups"][1]["replicas"];
        assert_eq!(
            (
                replicas[0]["healthy"].as_bool(),
                replicas[1]["healthy"].as_bool()
            ),
            (Some(false), Some(true))
        );
    }

    #[tokio::test]
    async fn buys_go_to_the_leader_the_probes_found() {
        // Goal: once the probes learned the order leader, buys skip the follower's hop.
        let follower = FakeServer::start(Fake::new("orders", 1)).await;
        let leader = FakeServer::start(Fake::new("orders", 2)).await;
        follower.fake.set_status(ReplicaRole::Follower, Some(2), 3);
        leader.fake.set_status(ReplicaRole::Leader, Some(2), 3);
        let state =
            crate::AppState::new(config(&[&leader.addr], &[&follower.addr, &leader.addr])).unwrap();
        crate::probe::probe_all(&state).await;
        let app = crate::router(state);
        for _ in 0..3 {
            let answer = send(&app, post_json("/orders", r#"{"item": 1}"#, &[])).await;
            assert_eq!(answer.status, StatusCode::CREATED);
        }
        assert_eq!(
            (
                follower.fake.seen("/buy").len(),
                leader.fake.seen("/buy").len()
            ),
            (0, 3)
        );
    }

    #[tokio::test]
    async fn a_buy_waiting_on_a_leader_that_was_replaced_moves_to_the_new_one() {
        // Goal: a buy sent to the order leader, which then stops answering (cut off from its
        // group, it never learns it was replaced), moves to the new leader as soon as the
        // probes see it, instead of waiting on the old one until the deadline. Method: an old
        // leader that accepts and never answers, a live replica the probes then see leading in
        // a higher term; one replica call may last longer than the whole buy's deadline.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        let live = FakeServer::start(Fake::new("orders", 2)).await;
        let catalog = FakeServer::start(Fake::new("catalog", 1)).await;
        let mut config = config(&[&catalog.addr], &[&silent_addr, &live.addr]);
        config.backend_timeout = Duration::from_secs(60);
        let state = crate::AppState::new(config).unwrap();
        let status = |id, role, leader, term| ReplicaStatus {
            id,
            role,
            leader: Some(leader),
            term,
            ..live.fake.status()
        };
        let orders = state.orders.clone();
        orders
            .replica(1)
            .record_status(status(1, ReplicaRole::Leader, 1, 3));
        orders
            .replica(2)
            .record_status(status(2, ReplicaRole::Follower, 1, 3));
        let app = crate::router(state);
        let buy =
            tokio::spawn(
                async move { send(&app, post_json("/orders", r#"{"item": 1}"#, &[])).await },
            );
        tokio::time::sleep(Duration::from_millis(300)).await;
        orders
            .replica(2)
            .record_status(status(2, ReplicaRole::Leader, 2, 4));
        let answer = buy.await.unwrap();
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        assert_eq!(live.fake.seen("/buy").len(), 1);
    }
}
