//! The routes of the original Flask system, kept byte-compatible (DESIGN §4): raw access for
//! tests that check their exact status, content type and body.

use crate::client::PygmyClient;
use crate::error::Result;

/// An answer as received: what the legacy routes promise is its exact form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, invalid UTF-8 replaced.
    pub body: String,
}

impl PygmyClient {
    /// `GET /search?topic=T`; answers `{"books": [...]}`.
    ///
    /// # Errors
    /// Only [`crate::Error::Transport`] and [`crate::Error::Timeout`]: any status is an answer.
    pub async fn legacy_search(&self, topic: &str) -> Result<RawAnswer> {
        self.legacy("/search", "topic", topic).await
    }

    /// `GET /lookup?item=N`, `item` sent as given (so malformed ids can be tried); answers
    /// `{"books": [{...}]}`.
    ///
    /// # Errors
    /// As [`PygmyClient::legacy_search`].
    pub async fn legacy_lookup(&self, item: &str) -> Result<RawAnswer> {
        self.legacy("/lookup", "item", item).await
    }

    /// `GET /buy?item=N`, `item` sent as given; answers `text/plain` `Bought <title>` or
    /// `Out of Stock`.
    ///
    /// # Errors
    /// As [`PygmyClient::legacy_search`].
    pub async fn legacy_buy(&self, item: &str) -> Result<RawAnswer> {
        self.legacy("/buy", "item", item).await
    }

    async fn legacy(&self, path: &str, name: &str, value: &str) -> Result<RawAnswer> {
        let url = self.url(path);
        let request = self.get(&url).query(&[(name, value)]);
        let answer = self.send(request, &url).await?;
        Ok(RawAnswer {
            status: answer.status,
            body: answer.text(),
            content_type: answer.content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use std::collections::HashMap;

    use super::*;
    use crate::testutil::FakeServer;

    #[tokio::test]
    async fn legacy_answers_are_returned_as_received() {
        let buy = get(|Query(q): Query<HashMap<String, String>>| async move {
            match q.get("item").map(String::as_str) {
                Some("3") => (StatusCode::OK, "Bought Xen"),
                _ => (StatusCode::BAD_REQUEST, "bad item"),
            }
        });
        let search = get(|Query(q): Query<HashMap<String, String>>| async move {
            format!("topic={}", q["topic"])
        });
        let router = Router::new().route("/buy", buy).route("/search", search);
        let server = FakeServer::start(router).await;
        let c = PygmyClient::new(server.base_url()).unwrap();
        let bought = c.legacy_buy("3").await.unwrap();
        assert_eq!((bought.status, bought.body.as_str()), (200, "Bought Xen"));
        let ct = bought.content_type.unwrap();
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert_eq!(c.legacy_buy("x y").await.unwrap().status, 400);
        assert_eq!(c.legacy_search("d&s").await.unwrap().body, "topic=d&s");
        assert_eq!(c.legacy_lookup("1").await.unwrap().status, 404);
    }
}
