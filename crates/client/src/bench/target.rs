//! [`Target`]: sends one planned request to the frontend and measures it.

use std::time::Instant;

use api::NewOrder;

use super::plan::Planned;
use super::recorder::{Outcome, Sample};
use super::timing::tier_durations;
use crate::client::{PygmyClient, IDEMPOTENCY_KEY_HEADER};

/// The frontend under load. Cheap to share: clones of the client share its connection pool
/// (HTTP/1.1 keep-alive), and every request carries the client's request timeout.
#[derive(Debug, Clone)]
pub struct Target {
    client: PygmyClient,
    key_prefix: String,
}

impl Target {
    /// A target reached through `client`. Buys carry the idempotency key
    /// `<key_prefix>-<sequence number>`: make the prefix unique per run (e.g. random), so
    /// that no buy is taken for the retry of an earlier run's. Keys must be visible ASCII of
    /// at most `api::book::BUY_KEY_BYTES_MAX` bytes, or the frontend refuses every buy.
    pub fn new(client: PygmyClient, key_prefix: &str) -> Target {
        Target {
            client,
            key_prefix: key_prefix.to_string(),
        }
    }

    /// Sends `planned`, reads the whole answer, and returns its latency, outcome and
    /// `Server-Timing` tiers. Never fails: a failure is an [`Outcome`].
    ///
    /// # Cancel safety
    /// Cancelling drops the request; a buy's outcome is then unknown.
    pub async fn send(&self, planned: Planned) -> Sample {
        let (url, request) = self.request(planned);
        let started = Instant::now();
        let answered = self.client.send(request, &url).await;
        let latency = started.elapsed();
        let (outcome, tiers) = match answered {
            Ok(answer) => {
                let tiers = tier_durations(&answer.server_timing);
                (Outcome::of(&answer.empty()), tiers)
            }
            Err(e) => (Outcome::of(&Err(e)), Vec::new()),
        };
        Sample {
            kind: planned.kind(),
            latency,
            outcome,
            tiers,
        }
    }

    /// The URL and request of `planned`.
    fn request(&self, planned: Planned) -> (String, reqwest::RequestBuilder) {
        match planned {
            Planned::Lookup { item } => {
                let url = self.client.url(&format!("/books/{item}"));
                let request = self.client.get(&url);
                (url, request)
            }
            Planned::Search { topic } => {
                let url = self.client.url("/books");
                let request = self.client.get(&url).query(&[("topic", topic)]);
                (url, request)
            }
            Planned::Buy { item, seq } => {
                let url = self.client.url("/orders");
                let key = format!("{}-{seq}", self.key_prefix);
                let request = self
                    .client
                    .post(&url)
                    .header(IDEMPOTENCY_KEY_HEADER, key)
                    .json(&NewOrder { item, quantity: 1 });
                (url, request)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    use super::*;
    use crate::bench::Kind;
    use crate::testutil::{book, FakeServer};

    /// Two `Server-Timing` headers, one of them naming the catalog twice.
    fn timing() -> HeaderMap {
        let mut headers = HeaderMap::new();
        let values = ["frontend;dur=2.5", "catalog;dur=1.25, catalog;dur=0.25"];
        for value in values {
            headers.append("server-timing", value.parse().unwrap());
        }
        headers
    }

    fn fake() -> Router {
        let lookup = get(|Path(id): Path<u64>| async move {
            if id == 7 {
                return api::ApiError::new(api::ErrorCode::NoLeader, "x").into_response();
            }
            (timing(), Json(book(id))).into_response()
        });
        let search = get(|q: Query<Vec<(String, String)>>| async move {
            assert_eq!(q.0, [("topic".to_string(), "gs".to_string())]);
            Json(api::BookList { books: vec![] })
        });
        let buy = post(|headers: HeaderMap, Json(new): Json<NewOrder>| async move {
            assert_eq!(headers[IDEMPOTENCY_KEY_HEADER], "run1-9");
            assert_eq!((new.item, new.quantity), (3, 1));
            let body = api::ApiError::new(api::ErrorCode::OutOfStock, "none left").body();
            (StatusCode::CONFLICT, Json(body))
        });
        Router::new()
            .route("/books/{id}", lookup)
            .route("/books", search)
            .route("/orders", buy)
    }

    #[tokio::test]
    async fn requests_are_sent_timed_and_classified() {
        let server = FakeServer::start(fake()).await;
        let target = Target::new(PygmyClient::new(server.base_url()).unwrap(), "run1");
        let lookup = target.send(Planned::Lookup { item: 2 }).await;
        assert_eq!((lookup.kind, &lookup.outcome), (Kind::Lookup, &Outcome::Ok));
        let expected = [("frontend".to_string(), 2_500), ("catalog".into(), 1_500)];
        assert_eq!(lookup.tiers, expected);
        assert!(!lookup.latency.is_zero());
        let refused = target.send(Planned::Lookup { item: 7 }).await;
        assert_eq!(refused.outcome, Outcome::Refused("no_leader".into()));
        let search = target.send(Planned::Search { topic: "gs" }).await;
        assert_eq!((search.outcome, search.tiers.len()), (Outcome::Ok, 0));
        let buy = target.send(Planned::Buy { item: 3, seq: 9 }).await;
        assert_eq!((buy.kind, buy.outcome), (Kind::Buy, Outcome::OutOfStock));
    }

    #[tokio::test]
    async fn an_absent_server_is_a_transport_failure() {
        let port = test_support::free_port();
        let client = PygmyClient::new(&format!("127.0.0.1:{port}")).unwrap();
        let sample = Target::new(client, "k")
            .send(Planned::Search { topic: "ds" })
            .await;
        assert_eq!(sample.outcome, Outcome::Failed("transport"));
    }
}
