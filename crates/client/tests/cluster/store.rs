//! The whole store through the frontend, as real processes: the buy flow, the legacy routes,
//! exactly-once buys, crashes of both groups' leaders mid-stream, bad input.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use api::{Book, BookList, ErrorBody, ErrorCode, Order, OrderList};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::store::STORE_SETTLE;
use test_support::{poll_until, ClusterDir, Store};

fn pygmy() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pygmy"))
}

async fn buy(store: &Store<'_>, item: u64, quantity: u64, key: Option<&str>) -> reqwest::Response {
    let mut req = store
        .client()
        .post(store.url("/orders"))
        .json(&json!({"item": item, "quantity": quantity}));
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.expect("frontend answers")
}

async fn legacy_buy(store: &Store<'_>, item: u64) -> (StatusCode, String, String) {
    let resp = store
        .client()
        .get(store.url(&format!("/buy?item={item}")))
        .send()
        .await
        .unwrap();
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    (resp.status(), ctype, resp.text().await.unwrap())
}

pub(crate) async fn restock(store: &Store<'_>, item: u64, delta: i64) -> reqwest::Response {
    store
        .client()
        .post(store.url(&format!("/admin/books/{item}")))
        .bearer_auth(store.admin_token())
        .json(&json!({ "stock_delta": delta }))
        .send()
        .await
        .unwrap()
}

async fn code(resp: reqwest::Response) -> ErrorCode {
    resp.json::<ErrorBody>()
        .await
        .expect("JSON error body")
        .error
        .code
}

/// Every order of one order replica, read straight from it.
async fn replica_orders(store: &Store<'_>, id: u64) -> Vec<Order> {
    let url = store.orders.url(id, "/orders?from=1&limit=1000");
    let list: OrderList = store
        .orders
        .client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.orders
}

/// Stock of every book on one catalog replica.
async fn replica_stock(store: &Store<'_>, id: u64) -> BTreeMap<u64, u64> {
    let url = store.catalog.url(id, "/books");
    let list: BookList = store
        .catalog
        .client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.books.into_iter().map(|b| (b.id, b.stock)).collect()
}

#[tokio::test]
async fn whole_flow_through_the_frontend_with_legacy_routes() {
    // Goal: search, lookup, buy, order lookup and restock through the frontend; the legacy
    // routes answer the documented bodies and content types.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let c = store.client();
    let ds: BookList = c
        .get(store.url("/books?topic=ds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ds.books.iter().map(|b| b.id).collect::<Vec<_>>(), [1, 2, 5]);
    let book: Book = c
        .get(store.url("/books/3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (book.title.as_str(), book.stock),
        ("Xen and the Art of Surviving Graduate School", 5)
    );
    let resp = buy(&store, 3, 2, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get("server-timing").is_some());
    let order: Order = resp.json().await.unwrap();
    assert_eq!(
        (order.number, order.item, order.quantity, order.cost),
        (1, 3, 2, 600)
    );
    let again: Order = c
        .get(store.url("/orders/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, order);
    let restocked: Book = restock(&store, 3, 10).await.json().await.unwrap();
    assert_eq!(restocked.stock, 13);

    let resp = c.get(store.url("/search?topic=gs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["books"].as_array().unwrap().len(), 4);
    assert_eq!(
        body["books"][0],
        json!({"id": 3, "title": "Xen and the Art of Surviving Graduate School", "topic": "gs", "cost": 300, "stock": 13})
    );
    let body: Value = c
        .get(store.url("/lookup?item=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"books": [{"id": 2, "title": "RPCs for Dummies", "topic": "ds", "cost": 200, "stock": 5}]})
    );
    let (status, ctype, text) = legacy_buy(&store, 2).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "Bought RPCs for Dummies")
    );
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    for _ in 0..4 {
        legacy_buy(&store, 2).await;
    }
    let (status, ctype, text) = legacy_buy(&store, 2).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "Out of Stock"));
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    store.assert_no_panics();
}

#[tokio::test]
async fn hundred_concurrent_buys_of_five_copies_sell_exactly_five() {
    // Goal: no oversell. 100 concurrent buys of book 4 (stock 5), half v1 and half legacy:
    // exactly 5 orders, stock 0 on every catalog replica, every other buy refused.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let attempts = (0..100).map(|i| {
        let store = &store;
        async move {
            if i % 2 == 0 {
                let resp = buy(store, 4, 1, None).await;
                match resp.status() {
                    StatusCode::CREATED => true,
                    StatusCode::CONFLICT => {
                        assert_eq!(code(resp).await, ErrorCode::OutOfStock);
                        false
                    }
                    other => panic!("v1 buy answered {other}"),
                }
            } else {
                let (status, _, text) = legacy_buy(store, 4).await;
                assert_eq!(status, StatusCode::OK);
                match text.as_str() {
                    "Bought Cooking for the Impatient Graduate Student" => true,
                    "Out of Stock" => false,
                    other => panic!("legacy buy answered {other:?}"),
                }
            }
        }
    });
    let sold = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|b| *b)
        .count();
    assert_eq!(sold, 5);
    store.catalog.wait_converged(STORE_SETTLE).await;
    store.orders.wait_converged(STORE_SETTLE).await;
    for id in store.catalog.ids() {
        assert_eq!(
            replica_stock(&store, id).await[&4],
            0,
            "catalog replica {id}"
        );
    }
    for id in store.orders.ids() {
        let orders = replica_orders(&store, id).await;
        assert_eq!(orders.len(), 5, "order replica {id}");
        assert!(orders.iter().all(|o| o.item == 4 && o.quantity == 1));
    }
    store.assert_no_panics();
}

#[tokio::test]
async fn an_idempotency_key_yields_one_order_sequentially_and_concurrently() {
    // Goal: the same Idempotency-Key, retried one after another and all at once, makes one order;
    // so does a batch of the order replicas' `/buy-all`, resent.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let first: Order = buy(&store, 1, 2, Some("seq-key"))
        .await
        .json()
        .await
        .unwrap();
    for _ in 0..3 {
        let resp = buy(&store, 1, 2, Some("seq-key")).await;
        assert!(resp.status().is_success());
        assert_eq!(resp.json::<Order>().await.unwrap(), first);
    }
    let same = (0..20).map(|_| buy(&store, 6, 1, Some("par-key")));
    let orders: Vec<Order> =
        futures::future::join_all(futures::future::join_all(same).await.into_iter().map(
            |r| async move {
                assert!(r.status().is_success(), "{}", r.status());
                r.json::<Order>().await.unwrap()
            },
        ))
        .await;
    assert!(orders.windows(2).all(|w| w[0] == w[1]));
    let reused = buy(&store, 2, 1, Some("seq-key")).await;
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    let book: Book = store
        .client()
        .get(store.url("/books/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(book.stock, 3);
    let book: Book = store
        .client()
        .get(store.url("/books/6"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(book.stock, 4);
    assert_eq!(replica_orders(&store, 1).await.len(), 2);
    // An order replica's `/buy-all` (what the frontend sends buys in), sent to a follower:
    // forwarded once to the leader, each buy answered as `/buy` alone would answer it, the same
    // again when resent; a batch naming one key twice is refused whole.
    let leader = store.orders.wait_leader(STORE_SETTLE).await;
    let batch_url = store
        .orders
        .url(follower(&store.orders, leader), "/buy-all");
    let batch = json!({"buys": [
        {"key": "seq-key", "item": 1, "quantity": 2},
        {"key": "batch-a", "item": 3, "quantity": 1},
        {"key": "batch-b", "item": 99, "quantity": 1},
    ]});
    let mut answers = Vec::new();
    for _ in 0..2 {
        let resp = store
            .orders
            .client()
            .post(&batch_url)
            .json(&batch)
            .send()
            .await;
        let resp = resp.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let items: Value = resp.json().await.unwrap();
        assert_eq!(items["items"][0]["ordered"], json!(first));
        assert_eq!(items["items"][1]["ordered"]["item"], 3);
        assert_eq!(items["items"][2]["failed"]["error"]["code"], "not_found");
        answers.push(items);
    }
    assert_eq!(answers[0], answers[1]);
    let twice = json!({"buys": [
        {"key": "k", "item": 1, "quantity": 1},
        {"key": "k", "item": 1, "quantity": 1},
    ]});
    let resp = store
        .orders
        .client()
        .post(&batch_url)
        .json(&twice)
        .send()
        .await;
    assert_eq!(code(resp.unwrap()).await, ErrorCode::BadRequest);
    assert_eq!(replica_orders(&store, leader).await.len(), 3);
    store.assert_no_panics();
}

/// Buys from `clients` concurrent clients, `rounds` each, on books 1..=7; returns acked orders.
pub(crate) async fn buy_stream(
    store: &Store<'_>,
    clients: usize,
    rounds: usize,
    tag: &str,
) -> Vec<Order> {
    let workers = (0..clients).map(|c| async move {
        let mut acked = Vec::new();
        for r in 0..rounds {
            let item = ((c + r) % 7 + 1) as u64;
            let key = format!("{tag}-{c}-{r}");
            let resp = buy(store, item, 1 + (r % 2) as u64, Some(&key)).await;
            if resp.status() == StatusCode::CREATED {
                acked.push(resp.json::<Order>().await.unwrap());
            }
        }
        acked
    });
    futures::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Checks the invariants once the store has recovered: every acked order unchanged on every
/// order replica, numbers 1..=n, and per book 5 + restocked - ordered = stock everywhere.
async fn assert_recovered(store: &Store<'_>, acked: &[Order], restocked: &BTreeMap<u64, u64>) {
    let conserved = poll_until(
        STORE_SETTLE,
        "stock conservation after recovery",
        || async {
            let orders = replica_orders(store, store.orders.wait_leader(STORE_SETTLE).await).await;
            let stock = replica_stock(store, store.catalog.wait_leader(STORE_SETTLE).await).await;
            let holds = stock.iter().all(|(item, s)| {
                let sold: u64 = orders
                    .iter()
                    .filter(|o| o.item == *item)
                    .map(|o| o.quantity)
                    .sum();
                5 + restocked.get(item).copied().unwrap_or(0) == s + sold
            });
            holds.then_some(orders)
        },
    )
    .await;
    store.orders.wait_converged(STORE_SETTLE).await;
    store.catalog.wait_converged(STORE_SETTLE).await;
    for id in store.orders.ids() {
        let orders = replica_orders(store, id).await;
        assert_eq!(orders, conserved, "order replica {id} differs");
        for (i, o) in orders.iter().enumerate() {
            assert_eq!(o.number, i as u64 + 1, "gap in the order numbers");
        }
        for a in acked {
            assert_eq!(
                &orders[a.number as usize - 1],
                a,
                "acknowledged order changed"
            );
        }
    }
    for id in store.catalog.ids() {
        let stock = replica_stock(store, id).await;
        assert_eq!(
            stock,
            replica_stock(store, store.catalog.ids()[0]).await,
            "catalog replica {id}"
        );
    }
}

#[tokio::test]
async fn order_leader_then_catalog_leader_killed_mid_stream_loses_nothing() {
    // Goal: SIGKILL the order leader, then the catalog leader, while 8 clients buy; afterwards
    // every acked order is intact, numbers have no gaps, and stock is conserved on every replica.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let mut restocked = BTreeMap::new();
    for item in 1..=7u64 {
        assert_eq!(restock(&store, item, 20).await.status(), StatusCode::OK);
        restocked.insert(item, 20);
    }
    let mut acked = buy_stream(&store, 8, 3, "warm").await;
    let order_leader = store.orders.wait_leader(STORE_SETTLE).await;
    let (during, ()) = tokio::join!(buy_stream(&store, 8, 6, "a"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        store.orders.kill(order_leader);
    });
    acked.extend(during);
    let catalog_leader = store.catalog.wait_leader(STORE_SETTLE).await;
    let (during, ()) = tokio::join!(buy_stream(&store, 8, 6, "b"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        store.catalog.kill(catalog_leader);
    });
    acked.extend(during);
    store.orders.restart(order_leader);
    store.catalog.restart(catalog_leader);
    assert!(!acked.is_empty());
    assert_recovered(&store, &acked, &restocked).await;
    store.assert_no_panics();
}

#[tokio::test]
async fn replicas_killed_and_restarted_during_buys_converge() {
    // Goal: a follower of each group killed and restarted while buys go on catches up.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let order_follower = follower(&store.orders, store.orders.wait_leader(STORE_SETTLE).await);
    let catalog_follower = follower(
        &store.catalog,
        store.catalog.wait_leader(STORE_SETTLE).await,
    );
    store.orders.kill(order_follower);
    store.catalog.kill(catalog_follower);
    let acked = buy_stream(&store, 4, 3, "down").await;
    store.orders.restart(order_follower);
    store.catalog.restart(catalog_follower);
    let (more, ()) = tokio::join!(buy_stream(&store, 4, 3, "back"), async {});
    let all: Vec<Order> = acked.into_iter().chain(more).collect();
    assert_recovered(&store, &all, &BTreeMap::new()).await;
    store.assert_no_panics();
}

pub(crate) fn follower(set: &test_support::ReplicaSet<'_>, leader: u64) -> u64 {
    set.ids().into_iter().find(|id| *id != leader).unwrap()
}

#[tokio::test]
async fn bad_input_on_every_public_route_gets_the_documented_error() {
    // Goal: unknown ids, non-numeric ids, bad quantities, oversized and non-JSON bodies, missing
    // admin token, unknown routes: the documented status and JSON error, no panic anywhere.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(pygmy(), &dir).await;
    let c = store.client();
    let gets = [
        ("/books/99", StatusCode::NOT_FOUND),
        ("/books/abc", StatusCode::BAD_REQUEST),
        ("/books/0", StatusCode::BAD_REQUEST),
        ("/orders/99", StatusCode::NOT_FOUND),
        ("/orders/x", StatusCode::BAD_REQUEST),
        ("/lookup?item=99", StatusCode::NOT_FOUND),
        ("/lookup?item=abc", StatusCode::BAD_REQUEST),
        ("/lookup", StatusCode::BAD_REQUEST),
        ("/buy?item=abc", StatusCode::BAD_REQUEST),
        ("/buy?item=99", StatusCode::NOT_FOUND),
        ("/nowhere", StatusCode::NOT_FOUND),
    ];
    for (path, status) in gets {
        let resp = c.get(store.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        resp.json::<ErrorBody>()
            .await
            .unwrap_or_else(|e| panic!("{path}: no JSON error: {e}"));
    }
    let posts: [(&str, &str, StatusCode); 7] = [
        (
            "/orders",
            r#"{"item": 1, "quantity": 0}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/orders",
            r#"{"item": 1, "quantity": -3}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/orders",
            r#"{"item": 1, "quantity": 99999999999}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/orders",
            r#"{"item": 99, "quantity": 1}"#,
            StatusCode::NOT_FOUND,
        ),
        ("/orders", r#"{"item": "#, StatusCode::BAD_REQUEST),
        (
            "/orders",
            r#"{"item": 1, "color": "red"}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("/books/1", r#"{}"#, StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (path, body, status) in posts {
        let resp = c
            .post(store.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{path} {body}");
        resp.json::<ErrorBody>()
            .await
            .unwrap_or_else(|e| panic!("{path} {body}: no JSON error: {e}"));
    }
    let resp = c
        .post(store.url("/orders"))
        .header("content-type", "text/plain")
        .body("item=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(r#"{{"item": 1, "pad": "{}"}}"#, "x".repeat(64 << 10));
    // The server closes a connection whose body it refused unread: use one of its own.
    let once = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = once
        .post(store.url("/orders"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let resp = c
        .post(store.url("/orders"))
        .header("Idempotency-Key", "has space")
        .json(&json!({"item": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = c
        .post(store.url("/admin/books/1"))
        .json(&json!({"stock_delta": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = c
        .post(store.url("/admin/books/1"))
        .bearer_auth("wrong")
        .json(&json!({"stock_delta": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = restock(&store, 1, -100).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    store.assert_no_panics();
}
