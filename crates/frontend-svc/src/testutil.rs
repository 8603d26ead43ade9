//! Test helpers: fake catalog and order replicas served on 127.0.0.1:0 (`fake`), a frontend
//! wired to them, one-shot requests through the router, and real sockets (`socket`).

mod fake;
pub(crate) mod socket;

use std::convert::Infallible;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tower::{Service, ServiceExt};

pub(crate) use fake::{dead_addr, error_body, Fake, FakeServer};

use crate::cache::front::CacheFront;
use crate::{app, AppState, FrontendConfig};

/// Cluster token the fakes require.
pub(crate) const CLUSTER_TOKEN: &str = "cluster-secret";
/// Admin token of the frontend under test.
pub(crate) const ADMIN_TOKEN: &str = "admin-secret";

/// A frontend configuration over these replica addresses, with the test tokens.
pub(crate) fn config(catalog: &[&str], orders: &[&str]) -> FrontendConfig {
    let own = |addrs: &[&str]| addrs.iter().map(|a| a.to_string()).collect();
    FrontendConfig::new(
        "127.0.0.1:0",
        own(catalog),
        own(orders),
        CLUSTER_TOKEN,
        ADMIN_TOKEN,
    )
}

/// A frontend over one fake catalog replica and one fake order replica.
pub(crate) struct Harness {
    pub(crate) catalog: FakeServer,
    pub(crate) orders: FakeServer,
    pub(crate) state: AppState,
    /// The whole service, as `serve` runs it (the cache's front, then the router).
    pub(crate) app: CacheFront,
}

impl Harness {
    /// Starts both fakes and builds the frontend over them.
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts both fakes and builds the frontend over them, its configuration changed by `edit`.
    pub(crate) async fn start_with(edit: impl FnOnce(&mut FrontendConfig)) -> Self {
        let catalog = FakeServer::start(Fake::new("catalog", 1)).await;
        let orders = FakeServer::start(Fake::new("orders", 1)).await;
        let mut config = config(&[&catalog.addr], &[&orders.addr]);
        edit(&mut config);
        let state = AppState::new(config).unwrap();
        let app = app(state.clone());
        Self {
            catalog,
            orders,
            state,
            app,
        }
    }
}

/// An answer of the router, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    /// The `code` of a JSON error body.
    pub(crate) fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_string()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every `Server-Timing` value, joined with `, `.
    pub(crate) fn server_timing(&self) -> String {
        let values = self.headers.get_all("server-timing").iter();
        values
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Sends `req` through `app` (the router, or the whole service) and reads the answer.
pub(crate) async fn send<S>(app: &S, req: Request) -> Answer
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET uri`.
pub(crate) fn get_req(uri: &str) -> Request {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// `POST uri` with a JSON body and extra headers.
pub(crate) fn post_json(uri: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::from(body.to_string())).unwrap()
}
