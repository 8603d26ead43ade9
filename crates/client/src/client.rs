//! [`PygmyClient`]: one typed method per route of the public API (DESIGN §4).

use std::time::Duration;

use api::{Book, BookList, ClusterView, NewOrder, Order, UpdateBook};

use crate::error::{Error, Result};
use crate::request::{check_base_url, send, Answer};

/// Default request timeout, in milliseconds (10 s): longer than the services' write deadline
/// (`write_timeout_ms`, 5 s by default), so that a server's own `outcome_unknown` answer
/// normally arrives before the client gives up and has to call the outcome unknown itself.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// Connect timeout, in milliseconds (3 s): a host that does not answer SYNs is reported as
/// unreachable well before the request timeout. Capped by the request timeout.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;

const _: () = assert!(CONNECT_TIMEOUT_MS < REQUEST_TIMEOUT_MS_DEFAULT);

/// The header carrying a buy's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A client of the Pygmy public API (the frontend). Cheap to clone: clones share connections.
#[derive(Debug, Clone)]
pub struct PygmyClient {
    http: reqwest::Client,
    /// `http://host:port[/prefix]`, without a trailing `/`.
    base: String,
    request_timeout: Duration,
}

impl PygmyClient {
    /// A client of the frontend at `base_url` (e.g. `http://127.0.0.1:8080`; a bare
    /// `host:port` means `http://`), with the default request timeout
    /// ([`REQUEST_TIMEOUT_MS_DEFAULT`]). Proxies from the environment are never used.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] if `base_url` is not an `http://` URL; [`Error::Setup`] if the
    /// HTTP client cannot be built.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_timeout(base_url, Duration::from_millis(REQUEST_TIMEOUT_MS_DEFAULT))
    }

    /// As [`PygmyClient::new`], with `request_timeout` as the deadline of every request
    /// (connecting, sending and reading the whole answer). Past it a request fails with
    /// [`Error::Timeout`].
    ///
    /// # Errors
    /// As [`PygmyClient::new`].
    pub fn with_timeout(base_url: &str, request_timeout: Duration) -> Result<Self> {
        let base = check_base_url(base_url)?;
        let connect_timeout = request_timeout.min(Duration::from_millis(CONNECT_TIMEOUT_MS));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(request_timeout)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(Error::Setup)?;
        Ok(Self {
            http,
            base,
            request_timeout,
        })
    }

    /// The base URL, normalized (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /books?topic=T`: the books of `topic` (every book if `None`), in id order.
    ///
    /// # Errors
    /// Any [`Error`]; an unknown topic is not an error but an empty list.
    pub async fn search(&self, topic: Option<&str>) -> Result<Vec<Book>> {
        let url = self.url("/books");
        let mut request = self.http.get(&url);
        if let Some(topic) = topic {
            request = request.query(&[("topic", topic)]);
        }
        let list: BookList = self.send(request, &url).await?.json()?;
        Ok(list.books)
    }

    /// `GET /books/{id}`: one book.
    ///
    /// # Errors
    /// [`Error::Api`] with `not_found` for an unknown id, or any other [`Error`].
    pub async fn lookup(&self, id: u64) -> Result<Book> {
        let url = self.url(&format!("/books/{id}"));
        self.send(self.http.get(&url), &url).await?.json()
    }

    /// `POST /orders`: buys `quantity` copies of book `item`; the committed order.
    ///
    /// With `key`, retrying the same buy (same key) returns the same order and never buys
    /// twice; without one, the frontend makes one up and a retry is a new buy.
    ///
    /// # Errors
    /// [`Error::Api`] with `out_of_stock`, `not_found`, `bad_request`, ...; when
    /// [`Error::is_outcome_unknown`] holds, the order may exist: retry with the same key.
    pub async fn buy(&self, item: u64, quantity: u64, key: Option<&str>) -> Result<Order> {
        let url = self.url("/orders");
        let mut request = self.http.post(&url).json(&NewOrder { item, quantity });
        if let Some(key) = key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        self.send(request, &url).await?.json()
    }

    /// `GET /orders/{number}`: one committed order.
    ///
    /// # Errors
    /// [`Error::Api`] with `not_found` for an unknown number, or any other [`Error`].
    pub async fn order(&self, number: u64) -> Result<Order> {
        let url = self.url(&format!("/orders/{number}"));
        self.send(self.http.get(&url), &url).await?.json()
    }

    /// `POST /admin/books/{id}`: adds `stock_delta` copies (negative: removes) and/or sets the
    /// cost, both at once; the updated book. Needs the admin token.
    ///
    /// # Errors
    /// [`Error::Api`] with `unauthorized` (wrong token), `conflict` (stock would go below
    /// zero), `bad_request` (nothing to change, out of range), or any other [`Error`]. A
    /// restock carries no idempotency key: when [`Error::is_outcome_unknown`] holds, read the
    /// book before trying again.
    pub async fn update_book(
        &self,
        id: u64,
        stock_delta: Option<i64>,
        cost: Option<u64>,
        admin_token: &str,
    ) -> Result<Book> {
        let url = self.url(&format!("/admin/books/{id}"));
        let body = UpdateBook { stock_delta, cost };
        let request = self.http.post(&url).bearer_auth(admin_token).json(&body);
        self.send(request, &url).await?.json()
    }

    /// `GET /cluster`: leaders, terms and replica health as the frontend sees them.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn cluster(&self) -> Result<ClusterView> {
        let url = self.url("/cluster");
        self.send(self.http.get(&url), &url).await?.json()
    }

    /// `GET /health`: `Ok` if the frontend answers 2xx.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn health(&self) -> Result<()> {
        let url = self.url("/health");
        self.send(self.http.get(&url), &url).await?.empty()
    }

    /// `GET /ready`: whether the frontend can serve now (leaders known, cache lease held), and
    /// if not, why; a 503 answer is a `Readiness`, not an error.
    ///
    /// # Errors
    /// The frontend cannot be reached, or its answer is not a readiness report.
    pub async fn ready(&self) -> Result<api::Readiness> {
        let url = self.url("/ready");
        let answer = self.send(self.http.get(&url), &url).await?;
        serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url,
            status: answer.status,
            reason: e.to_string(),
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET request of `url` with this client's settings.
    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url)
    }

    /// A POST request of `url` with this client's settings.
    pub(crate) fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.post(url)
    }

    /// Sends `request` to `url` and reads the whole answer.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Answer> {
        send(request, url, self.request_timeout).await
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{json, Value};

    use super::*;
    use crate::testutil::{book, order, FakeServer};

    fn fake() -> Router {
        let books = get(|q: Query<Vec<(String, String)>>| async move {
            let topic =
                q.0.iter()
                    .find(|(k, _)| k == "topic")
                    .map(|(_, v)| v.clone());
            let books = match topic.as_deref() {
                Some("ds") | None => vec![book(1), book(2)],
                _ => vec![],
            };
            Json(BookList { books })
        });
        let one_book = get(|Path(id): Path<u64>| async move { Json(book(id)) });
        let buy = post(|headers: HeaderMap, Json(new): Json<NewOrder>| async move {
            let key = headers.get(IDEMPOTENCY_KEY_HEADER).map(|v| v.len() as u64);
            let mut o = order(key.unwrap_or(1), new.item);
            o.quantity = new.quantity;
            (StatusCode::CREATED, Json(o))
        });
        let admin = post(
            |headers: HeaderMap, Path(id): Path<u64>, Json(u): Json<Value>| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                assert_eq!(auth, Some("Bearer secret"));
                assert_eq!(u, json!({"stock_delta": -2}));
                let mut b = book(id);
                b.stock = 3;
                Json(b)
            },
        );
        Router::new()
            .route("/books", books)
            .route("/books/{id}", one_book)
            .route("/orders", buy)
            .route(
                "/orders/{n}",
                get(|Path(n): Path<u64>| async move { Json(order(n, 4)) }),
            )
            .route("/admin/books/{id}", admin)
            .route("/cluster", get(|| async { Json(json!({"groups": []})) }))
            .route("/health", get(|| async { "ok" }))
    }

    #[tokio::test]
    async fn every_route_is_spoken() {
        let server = FakeServer::start(fake()).await;
        let c = PygmyClient::new(&format!("{}/", server.base_url())).unwrap();
        let ids = |books: Vec<Book>| books.iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(ids(c.search(Some("ds")).await.unwrap()), [1, 2]);
        assert_eq!(ids(c.search(None).await.unwrap()), [1, 2]);
        assert!(c.search(Some("a b&c")).await.unwrap().is_empty());
        assert_eq!(c.lookup(7).await.unwrap(), book(7));
        let bought = c.buy(3, 2, Some("key-12345")).await.unwrap();
        assert_eq!((bought.number, bought.item, bought.quantity), (9, 3, 2));
        assert_eq!(c.buy(3, 1, None).await.unwrap().number, 1);
        assert_eq!(c.order(5).await.unwrap(), order(5, 4));
        let restocked = c.update_book(6, Some(-2), None, "secret").await.unwrap();
        assert_eq!((restocked.id, restocked.stock), (6, 3));
        assert!(c.cluster().await.unwrap().groups.is_empty());
        c.health().await.unwrap();
    }

    #[tokio::test]
    async fn error_answers_become_api_errors() {
        let unknown = post(|| async {
            let body = api::ApiError::new(api::ErrorCode::OutcomeUnknown, "leader lost").body();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "2")],
                Json(body),
            )
        });
        let server = FakeServer::start(Router::new().route("/orders", unknown)).await;
        let c = PygmyClient::new(server.base_url()).unwrap();
        match c.buy(1, 1, Some("k")).await.unwrap_err() {
            e @ Error::Api { status: 503, .. } => {
                assert!(e.is_outcome_unknown());
                let Error::Api { retry_after, .. } = e else {
                    unreachable!()
                };
                assert_eq!(retry_after, Some(Duration::from_secs(2)));
            }
            other => panic!("{other:?}"),
        }
        // axum's own 404 has no JSON body: the status decides the code.
        let e = c.lookup(1).await.unwrap_err();
        assert_eq!(e.code(), Some(api::ErrorCode::NotFound), "{e}");
        assert!(!e.is_outcome_unknown());
    }

    #[tokio::test]
    async fn unreachable_and_slow_servers_are_told_apart() {
        let port = test_support::free_port();
        let c = PygmyClient::new(&format!("127.0.0.1:{port}")).unwrap();
        let e = c.buy(1, 1, Some("k")).await.unwrap_err();
        assert!(matches!(e, Error::Transport { .. }), "{e:?}");
        // Nothing was sent, so nothing was bought.
        assert!(e.is_unreachable() && !e.is_outcome_unknown());

        let slow = Router::new().route(
            "/orders",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
        let server = FakeServer::start(slow).await;
        let timeout = Duration::from_millis(200);
        let c = PygmyClient::with_timeout(server.base_url(), timeout).unwrap();
        let e = c.buy(1, 1, Some("k")).await.unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        assert!(e.is_outcome_unknown());
        assert!(e.to_string().contains("within 200 ms"), "{e}");
    }
}
