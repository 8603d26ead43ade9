//! Wire types shared by the Pygmy services and the client: the leaf of the crate graph.
//!
//! Layout:
//! - [`book`]: `Book` and the catalog's request and answer bodies.
//! - [`order`]: `Order` and the buy request.
//! - [`cluster`]: the frontend's `/cluster` view.
//! - [`coherence`]: leases and write notices that keep the frontends' caches coherent.
//! - [`replica`]: what a replica reports about itself (`/status`).
//! - [`membership`]: a group's members as a replica reports them, and the changes asked of it.
//! - [`readiness`]: the `/ready` answer of every process.
//! - [`error`]: `ApiError`, its `ErrorCode` and the JSON error body.
//! - `server` (feature `server`): axum glue, `IntoResponse` for `ApiError` and `ApiJson`.

pub mod book;
pub mod cluster;
pub mod coherence;
pub mod error;
pub mod membership;
mod number;
pub mod order;
pub mod readiness;
pub mod replica;
#[cfg(feature = "openapi")]
mod schema;
#[cfg(feature = "server")]
pub mod server;

pub use book::{
    parse_id, Book, BookList, ConfirmAllOutcome, ConfirmAllRequest, FenceOrdersOutcome,
    FenceOrdersRequest, Reservation, ReservationState, ReserveAllItem, ReserveAllOutcome,
    ReserveAllRequest, ReserveOutcome, ReserveRequest, UpdateBook, CONFIRM_ALL_KEYS_MAX,
    CONFIRM_ALL_PATH, FENCE_ORDERS_PATH, RESERVE_ALL_MAX, RESERVE_ALL_PATH,
};
pub use cluster::{CacheView, ClusterView, GroupView, ReplicaView};
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail, WriteOutcome};
pub use membership::{AddLearner, ChangeVoters, Member, MemberRole, MembershipView};
pub use order::{
    BuyAllItem, BuyAllOutcome, BuyAllRequest, BuyRequest, NewOrder, Order, OrderList, OrderStatus,
    BUY_ALL_MAX, BUY_ALL_PATH,
};
pub use readiness::Readiness;
pub use replica::{ReplicaRole, ReplicaStatus};
#[cfg(feature = "server")]
pub use server::ApiJson;
