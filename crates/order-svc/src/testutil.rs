//! Test helpers for the catalog client's tests: a fake catalog replica served on 127.0.0.1:0,
//! the catalog membership views it answers, and a reservation sent through a client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::membership::MEMBERS_PATH;
use api::{
    Book, ConfirmAllOutcome, ConfirmAllRequest, Member, MemberRole, MembershipView, Reservation,
    ReservationState, ReserveAllItem, ReserveAllOutcome, ReserveAllRequest, ReserveOutcome,
    ReserveRequest, CONFIRM_ALL_PATH, RESERVE_ALL_PATH,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalog_client::{CatalogClient, ReserveAnswer};
use crate::reservations::Reservations;

/// The catalog membership as replica `answered_by` reports it, in `term` (its membership
/// entry at index `term * 10`); `members` are `(id, addr)` pairs.
pub(crate) fn catalog_view(
    answered_by: u64,
    leader: Option<u64>,
    term: u64,
    members: &[(u64, &str)],
) -> MembershipView {
    let members = members.iter().map(|&(id, addr)| Member {
        id,
        addr: addr.to_string(),
        role: MemberRole::Voter,
        matched_index: None,
    });
    MembershipView {
        group: "catalog".into(),
        answered_by,
        cluster_id: "c".into(),
        leader,
        term,
        last_log_index: term * 10,
        config_index: term * 10,
        changing: false,
        members: members.collect(),
    }
}

/// A reservation through `client`, sent again until held or 5 s have passed.
pub(crate) async fn reserve(client: &Arc<CatalogClient>) -> ReserveAnswer {
    let cancel = CancellationToken::new();
    let (reservations, sender) = Reservations::new(Arc::clone(client), || Some(1), cancel.clone());
    let sender = tokio::spawn(sender);
    let request = ReserveRequest {
        key: "k".into(),
        item: 1,
        quantity: 1,
    };
    let answer = reservations
        .reserve(request, 1, Instant::now() + Duration::from_secs(5))
        .await;
    cancel.cancel();
    sender.await.unwrap();
    answer
}

/// A `host:port` where nothing listens (a port bound, then let go).
pub(crate) async fn dead_addr() -> String {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    dead.local_addr().unwrap().to_string()
}

/// What a fake catalog replica answers and counts.
#[derive(Default)]
struct Fake {
    view: Mutex<Option<MembershipView>>,
    reserves: AtomicUsize,
    confirm_batches: Mutex<Vec<usize>>,
}

/// A fake catalog replica on 127.0.0.1:0: its view on `/raft/members` (404 until set), a
/// held reservation for each of a batch on `/reservations/reserve-all`, and every batch of
/// `/reservations/confirm-all` counted.
pub(crate) struct FakeCatalog {
    /// `host:port` it serves on.
    pub(crate) addr: String,
    fake: Arc<Fake>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeCatalog {
    /// Serves a fake with no view.
    pub(crate) async fn start() -> Self {
        let fake = Arc::new(Fake::default());
        let app = Router::new()
            .route(MEMBERS_PATH, get(fake_view))
            .route(RESERVE_ALL_PATH, post(fake_reserve_all))
            .route(CONFIRM_ALL_PATH, post(fake_confirm_all))
            .with_state(Arc::clone(&fake));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
                .unwrap();
        });
        Self {
            addr,
            fake,
            stop,
            task,
        }
    }

    /// Answers `view` on `/raft/members`.
    pub(crate) fn set_view(&self, view: MembershipView) {
        *self.fake.view.lock().unwrap() = Some(view);
    }

    /// Reservations it was sent (each of a batch counts).
    pub(crate) fn reserves(&self) -> usize {
        self.fake.reserves.load(Ordering::SeqCst)
    }

    /// The size of each confirmation batch it was sent, in order.
    pub(crate) fn confirm_batches(&self) -> Vec<usize> {
        self.fake.confirm_batches.lock().unwrap().clone()
    }

    /// Stops serving: connections are refused from then on.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

async fn fake_view(State(fake): State<Arc<Fake>>) -> Response {
    match fake.view.lock().unwrap().clone() {
        Some(view) => Json(view).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn fake_reserve_all(
    State(fake): State<Arc<Fake>>,
    Json(req): Json<ReserveAllRequest>,
) -> Json<ReserveAllOutcome> {
    fake.reserves
        .fetch_add(req.reservations.len(), Ordering::SeqCst);
    let items = req.reservations.into_iter().map(|req| {
        let book = Book {
            id: req.item,
            title: "t".into(),
            topic: "ds".into(),
            cost: 1,
            stock: 4,
        };
        let reservation = Reservation {
            key: req.key,
            item: req.item,
            quantity: req.quantity,
            state: ReservationState::Held,
        };
        ReserveAllItem::Held(ReserveOutcome {
            reservation,
            book,
            log_index: 7,
        })
    });
    Json(ReserveAllOutcome {
        items: items.collect(),
        log_index: 7,
    })
}

async fn fake_confirm_all(
    State(fake): State<Arc<Fake>>,
    Json(req): Json<ConfirmAllRequest>,
) -> Json<ConfirmAllOutcome> {
    fake.confirm_batches.lock().unwrap().push(req.keys.len());
    Json(ConfirmAllOutcome {
        confirmed: req.keys.len() as u64,
        log_index: 7,
    })
}
