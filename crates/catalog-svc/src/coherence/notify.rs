//! Sending write notices to the frontends.

use std::time::Duration;

use api::coherence::{CacheNotice, NoticeAck, NOTICE_PATH};
use tokio::time::Instant;

/// How sending one notice ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The frontend took it and knows this highest term.
    Taken(u64),
    /// It may not have taken it (why).
    Failed(String),
}

/// The HTTP client notices go out on, with the cluster token.
#[derive(Debug, Clone)]
pub(crate) struct NoticeSender {
    http: reqwest::Client,
    token: String,
}

impl NoticeSender {
    /// A sender presenting `token`.
    pub(crate) fn new(token: &str) -> Self {
        let http = runtime::internal_http::client_builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a client without TLS or proxies always builds");
        Self {
            http,
            token: token.to_string(),
        }
    }

    /// Sends `notice` to `notify_url` and waits for its answer until `deadline`.
    pub(crate) async fn send(
        &self,
        notify_url: &str,
        notice: &CacheNotice,
        deadline: Instant,
    ) -> Delivery {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Delivery::Failed("no time left".into());
        }
        let sent = self
            .http
            .post(format!("{notify_url}{NOTICE_PATH}"))
            .bearer_auth(&self.token)
            .timeout(wait)
            .json(notice)
            .send()
            .await;
        let response = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return Delivery::Failed(format!("answered {}", r.status())),
            Err(e) => return Delivery::Failed(e.to_string()),
        };
        match response.json::<NoticeAck>().await {
            Ok(ack) => Delivery::Taken(ack.term),
            Err(e) => Delivery::Failed(format!("undecodable answer: {e}")),
        }
    }
}
