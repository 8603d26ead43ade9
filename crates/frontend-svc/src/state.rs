//! The handle every route receives, and the backend operations routes are made of.

use std::sync::Arc;

use api::{Book, BuyRequest, Order, UpdateBook};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::backend::{Backend, BackendCall, CallKind};
use crate::buy_queue::BuyQueue;
use crate::cache::ReadCache;
use crate::config::FrontendConfig;
use crate::context::RequestContext;
use crate::error::Result;
use crate::pool::ReplicaPool;
use crate::ui::Recorders;

/// Shared state of the frontend routes: configuration, both groups' replica pools and the
/// client that reaches them. One `Arc`, since axum clones it for every request.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What an [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    pub(crate) config: Arc<FrontendConfig>,
    pub(crate) catalog: Arc<ReplicaPool>,
    pub(crate) orders: Arc<ReplicaPool>,
    pub(crate) backend: Arc<Backend>,
    /// The order group's buys, sent in batches.
    pub(crate) buys: BuyQueue,
    /// The read cache; `None` without one.
    pub(crate) cache: Option<Arc<ReadCache>>,
    /// What `/ui` shows beside the probes' view: answers per second, leader changes.
    pub(crate) ui: Arc<Recorders>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state of a frontend for `config` (not validated here: [`crate::serve`] does it).
    ///
    /// # Errors
    /// [`crate::Error::HttpClient`] if the HTTP client cannot be built.
    pub fn new(config: FrontendConfig) -> Result<Self> {
        let orders = Arc::new(ReplicaPool::new("orders", &config.order_replicas));
        let backend = Arc::new(Backend::new(&config)?);
        Ok(Self(Arc::new(Shared {
            catalog: Arc::new(ReplicaPool::new("catalog", &config.catalog_replicas)),
            buys: BuyQueue::new(Arc::clone(&backend), Arc::clone(&orders)),
            orders,
            backend,
            cache: config.cache_capacity.map(|capacity| {
                Arc::new(ReadCache::bounded(capacity, config.cache_capacity_bytes))
            }),
            config: Arc::new(config),
            ui: Arc::new(Recorders::default()),
        })))
    }

    /// The read cache, if this frontend runs one.
    pub fn cache(&self) -> Option<Arc<ReadCache>> {
        self.cache.clone()
    }

    /// A read of `path_and_query` on any catalog replica.
    pub(crate) async fn read_catalog<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path_and_query: String,
    ) -> Result<T> {
        let call = BackendCall::read(path_and_query, Instant::now() + self.config.read_deadline);
        self.backend.call(&self.catalog, &call, ctx).await
    }

    /// A read of `path_and_query` on any order replica.
    pub(crate) async fn read_orders<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path_and_query: String,
    ) -> Result<T> {
        let call = BackendCall::read(path_and_query, Instant::now() + self.config.read_deadline);
        self.backend.call(&self.orders, &call, ctx).await
    }

    /// Places a buy with the order group, leader first, in a batch with the buys queued beside
    /// it (`buy_queue`). Retries (on any replica, until the write deadline) resend the same
    /// key, so the buy applies at most once.
    pub(crate) async fn place_order(
        &self,
        ctx: &RequestContext,
        buy: &BuyRequest,
    ) -> Result<Order> {
        let deadline = Instant::now() + self.config.write_deadline;
        self.buys.place(buy, ctx, deadline).await
    }

    /// Restocks and/or reprices book `id` through the catalog group. A restock carries no key,
    /// so it is resent only when it surely was not taken.
    pub(crate) async fn update_book(
        &self,
        ctx: &RequestContext,
        id: u64,
        update: &UpdateBook,
    ) -> Result<Book> {
        let deadline = Instant::now() + self.config.write_deadline;
        let call = BackendCall::post(
            format!("/admin/books/{id}"),
            update,
            CallKind::Write,
            deadline,
        );
        self.backend.call(&self.catalog, &call, ctx).await
    }
}

/// A fresh buy key, for buys that came without an `Idempotency-Key`: a v7 uuid, whose leading
/// timestamp puts each new key at the end of the replicas' key-ordered trees (reservations and
/// order keys) instead of at a random place in them, so their inserts touch the few pages
/// written last (#13). Within a millisecond its counter starts at a random 41-bit value and 32
/// more bits are random, so two frontends never pick the same key.
pub(crate) fn new_buy_key() -> String {
    uuid::Uuid::now_v7().to_string()
}
