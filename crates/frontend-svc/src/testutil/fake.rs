//! A fake catalog or order replica: a small axum router on 127.0.0.1:0 that records what it
//! is sent, answers like a replica, and can be scripted, held or stopped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use api::membership::MEMBERS_PATH;
use api::{
    Book, BookList, BuyAllItem, BuyAllOutcome, BuyAllRequest, BuyRequest, MembershipView, Order,
    OrderStatus, ReplicaRole, ReplicaStatus, UpdateBook, BUY_ALL_PATH,
};
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};

use super::CLUSTER_TOKEN;

/// What a fake replica saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Value,
}

/// A fake replica: a catalog (books, admin) or an order replica (buy, orders), one process-less
/// stand-in that records what it was sent.
pub(crate) struct Fake {
    tier: &'static str,
    books: Mutex<BTreeMap<u64, Book>>,
    orders: Mutex<Vec<Order>>,
    order_keys: Mutex<HashMap<String, u64>>,
    /// Answers given to the next writes, before any real handling.
    script: Mutex<VecDeque<(StatusCode, Value)>>,
    seen: Mutex<Vec<Seen>>,
    status: Mutex<ReplicaStatus>,
    /// What it answers on `/raft/members`; 404 while `None`.
    members: Mutex<Option<MembershipView>>,
    /// While set, reads take their answer, announce themselves on `entered` and wait for
    /// `release` before sending it (a slow read of an old state).
    hold_reads: AtomicBool,
    /// Log index reads are tagged with (`x-pygmy-read-index`); 0: untagged.
    read_index: AtomicU64,
    pub(crate) entered: Notify,
    pub(crate) release: Notify,
}

/// Three books: 1 and 2 in `ds`, 3 in `gs`, 5 copies each.
pub(crate) fn default_books() -> Vec<Book> {
    let book = |id, title: &str, topic: &str, cost| Book {
        id,
        title: title.into(),
        topic: topic.into(),
        cost,
        stock: 5,
    };
    vec![
        book(
            1,
            "How to get a good grade in 677 in 20 minutes a day",
            "ds",
            100,
        ),
        book(2, "RPCs for Dummies", "ds", 200),
        book(3, "Xen and the Art of Surviving Graduate School", "gs", 300),
    ]
}

impl Fake {
    /// A replica of `group` (`catalog` or `orders`) with id `id` and the default books.
    pub(crate) fn new(group: &'static str, id: u64) -> Self {
        let status = ReplicaStatus {
            group: group.into(),
            id,
            role: ReplicaRole::Follower,
            leader: None,
            term: 1,
            last_log_index: 0,
            last_applied: 0,
            snapshot_index: 0,
            last_purged: 0,
            digest: String::new(),
        };
        Self {
            tier: if group == "catalog" {
                "catalog"
            } else {
                "orders"
            },
            books: Mutex::new(default_books().into_iter().map(|b| (b.id, b)).collect()),
            orders: Mutex::default(),
            order_keys: Mutex::default(),
            script: Mutex::default(),
            seen: Mutex::default(),
            status: Mutex::new(status),
            members: Mutex::default(),
            hold_reads: AtomicBool::new(false),
            read_index: AtomicU64::new(0),
            entered: Notify::new(),
            release: Notify::new(),
        }
    }

    /// Sets the stock of book `id`.
    pub(crate) fn set_stock(&self, id: u64, stock: u64) {
        self.books.lock().unwrap().get_mut(&id).unwrap().stock = stock;
    }

    /// The stock of book `id`.
    pub(crate) fn stock(&self, id: u64) -> u64 {
        self.books.lock().unwrap()[&id].stock
    }

    /// The next write is answered `status` with `body`.
    pub(crate) fn script(&self, status: StatusCode, body: Value) {
        self.script.lock().unwrap().push_back((status, body));
    }

    /// Drops what is left of the script: writes are answered as a replica answers them.
    pub(crate) fn unscript(&self) {
        self.script.lock().unwrap().clear();
    }

    /// What it reports on `/status`.
    pub(crate) fn status(&self) -> ReplicaStatus {
        self.status.lock().unwrap().clone()
    }

    /// Reports `role`, `leader` and `term` on `/status`.
    pub(crate) fn set_status(&self, role: ReplicaRole, leader: Option<u64>, term: u64) {
        let mut status = self.status.lock().unwrap();
        (status.role, status.leader, status.term) = (role, leader, term);
    }

    /// What it answers on `/raft/members`.
    pub(crate) fn members(&self) -> Option<MembershipView> {
        self.members.lock().unwrap().clone()
    }

    /// Answers `view` on `/raft/members`.
    pub(crate) fn set_members(&self, view: MembershipView) {
        *self.members.lock().unwrap() = Some(view);
    }

    /// Makes reads wait for `release`.
    pub(crate) fn hold_reads(&self) {
        self.hold_reads.store(true, Ordering::SeqCst);
    }

    /// Tags the next reads with log index `index`.
    pub(crate) fn set_read_index(&self, index: u64) {
        self.read_index.store(index, Ordering::SeqCst);
    }

    /// `body` with the read index header (if set), after the hold (if any).
    async fn read_answer(&self, body: Response) -> Response {
        let index = self.read_index.load(Ordering::SeqCst);
        if self.hold_reads.load(Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        let mut response = body;
        if index > 0 && response.status().is_success() {
            let value = HeaderValue::from(index);
            response
                .headers_mut()
                .insert(api::coherence::X_READ_INDEX, value);
        }
        response
    }

    /// Requests seen whose path starts with `prefix`.
    pub(crate) fn seen(&self, prefix: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// An error body as replicas answer it.
pub(crate) fn error_body(code: &str) -> Value {
    json!({"error": {"code": code, "message": format!("fake {code}")}})
}

type FakeState = Arc<Fake>;

fn fake_router(fake: FakeState) -> Router {
    Router::new()
        .route("/books", get(fake_list))
        .route("/books/{id}", get(fake_book))
        .route("/admin/books/{id}", post(fake_update))
        .route("/buy", post(fake_buy))
        .route(BUY_ALL_PATH, post(fake_buy_all))
        .route("/orders/{number}", get(fake_order))
        .route(
            "/status",
            get(|State(f): State<FakeState>| async move { Json(f.status.lock().unwrap().clone()) }),
        )
        .route(MEMBERS_PATH, get(fake_members))
        .layer(from_fn_with_state(fake.clone(), fake_record))
        .with_state(fake)
}

/// Checks the cluster token, records the request, adds the tier's `Server-Timing`.
async fn fake_record(State(fake): State<FakeState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let authorization = header("authorization");
    fake.seen.lock().unwrap().push(Seen {
        path: parts.uri.to_string(),
        authorization: authorization.clone(),
        request_id: header("x-request-id"),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    if authorization.as_deref() != Some(&format!("Bearer {CLUSTER_TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, Json(error_body("unauthorized"))).into_response();
    }
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let timing = HeaderValue::from_str(&format!("{};dur=1.250", fake.tier)).unwrap();
    response.headers_mut().append("server-timing", timing);
    response
}

async fn fake_members(State(fake): State<FakeState>) -> Response {
    match fake.members.lock().unwrap().clone() {
        Some(view) => Json(view).into_response(),
        None => (StatusCode::NOT_FOUND, Json(error_body("not_found"))).into_response(),
    }
}

fn scripted(fake: &Fake) -> Option<Response> {
    let next = fake.script.lock().unwrap().pop_front();
    next.map(|(status, body)| (status, Json(body)).into_response())
}

async fn fake_list(
    State(fake): State<FakeState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let books = {
        let books = fake.books.lock().unwrap();
        let topic = query.get("topic");
        let books = books
            .values()
            .filter(|b| topic.is_none_or(|t| &b.topic == t))
            .cloned();
        Json(BookList {
            books: books.collect(),
        })
        .into_response()
    };
    fake.read_answer(books).await
}

async fn fake_book(State(fake): State<FakeState>, Path(id): Path<u64>) -> Response {
    let answer = match fake.books.lock().unwrap().get(&id) {
        Some(book) => Json(book.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(error_body("not_found"))).into_response(),
    };
    fake.read_answer(answer).await
}

async fn fake_update(
    State(fake): State<FakeState>,
    Path(id): Path<u64>,
    Json(update): Json<UpdateBook>,
) -> Response {
    if let Some(answer) = scripted(&fake) {
        return answer;
    }
    let mut books = fake.books.lock().unwrap();
    let Some(book) = books.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, Json(error_body("not_found"))).into_response();
    };
    let delta = update.stock_delta.unwrap_or(0);
    let Some(stock) = book.stock.checked_add_signed(delta) else {
        return (StatusCode::CONFLICT, Json(error_body("conflict"))).into_response();
    };
    book.stock = stock;
    book.cost = update.cost.unwrap_or(book.cost);
    Json(book.clone()).into_response()
}

async fn fake_buy(State(fake): State<FakeState>, Json(buy): Json<BuyRequest>) -> Response {
    if let Some(answer) = scripted(&fake) {
        return answer;
    }
    match buy_one(&fake, buy) {
        Ok(order) => Json(order).into_response(),
        Err((status, body)) => (status, Json(body)).into_response(),
    }
}

/// Each buy as `/buy` answers it, but for the script, which answers the whole batch.
async fn fake_buy_all(State(fake): State<FakeState>, Json(all): Json<BuyAllRequest>) -> Response {
    if let Some(answer) = scripted(&fake) {
        return answer;
    }
    let items = all
        .buys
        .into_iter()
        .map(|buy| match buy_one(&fake, buy) {
            Ok(order) => BuyAllItem::Ordered(order),
            Err((_, body)) => BuyAllItem::Failed(serde_json::from_value(body).unwrap()),
        })
        .collect();
    Json(BuyAllOutcome { items }).into_response()
}

/// The order of `buy`: the key's, or a new one taking the stock; else the error answer.
fn buy_one(fake: &Fake, buy: BuyRequest) -> Result<Order, (StatusCode, Value)> {
    if let Some(number) = fake.order_keys.lock().unwrap().get(&buy.key) {
        return Ok(fake.orders.lock().unwrap()[*number as usize - 1].clone());
    }
    let mut books = fake.books.lock().unwrap();
    let Some(book) = books.get_mut(&buy.item) else {
        return Err((StatusCode::NOT_FOUND, error_body("not_found")));
    };
    let Some(stock) = book.stock.checked_sub(buy.quantity) else {
        return Err((StatusCode::CONFLICT, error_body("out_of_stock")));
    };
    book.stock = stock;
    let mut orders = fake.orders.lock().unwrap();
    let order = Order {
        number: orders.len() as u64 + 1,
        item: buy.item,
        title: book.title.clone(),
        quantity: buy.quantity,
        cost: book.cost * buy.quantity,
        status: OrderStatus::Committed,
    };
    orders.push(order.clone());
    fake.order_keys
        .lock()
        .unwrap()
        .insert(buy.key, order.number);
    Ok(order)
}

async fn fake_order(State(fake): State<FakeState>, Path(number): Path<u64>) -> Response {
    let orders = fake.orders.lock().unwrap();
    match orders.get((number as usize).wrapping_sub(1)) {
        Some(order) => Json(order.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(error_body("not_found"))).into_response(),
    }
}

/// A fake replica served on 127.0.0.1:0 until stopped (or dropped).
pub(crate) struct FakeServer {
    pub(crate) fake: Arc<Fake>,
    pub(crate) addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeServer {
    /// Serves `fake`.
    pub(crate) async fn start(fake: Fake) -> Self {
        let fake = Arc::new(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = fake_router(fake.clone());
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        });
        Self {
            fake,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving: new connections are refused from then on.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An address nothing listens on (bound, then released).
pub(crate) async fn dead_addr() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}
