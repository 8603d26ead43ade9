//! Books and the catalog's request and answer bodies.

use serde::{Deserialize, Serialize};

/// Largest quantity one buy or reservation may ask for; larger asks are malformed.
pub const QUANTITY_MAX: u64 = 1_000;
/// Largest absolute stock change one restock may make.
pub const STOCK_DELTA_ABS_MAX: i64 = 1_000_000_000;
/// Largest cost a book may have.
pub const COST_MAX: u64 = 1_000_000_000;
/// Longest buy key accepted, in bytes.
pub const BUY_KEY_BYTES_MAX: usize = 128;

/// A book of the catalog, as every route shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// Catalog id (item number), starting at 1.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Topic, e.g. `ds` or `gs`.
    pub topic: String,
    /// Cost in whole currency units.
    pub cost: u64,
    /// Copies in stock.
    pub stock: u64,
}

/// The `{"books": [...]}` body of searches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookList {
    /// The books found, ordered by id.
    pub books: Vec<Book>,
}

/// Body of `POST /reserve` on a catalog replica: take `quantity` copies of `item` under `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// Buy key; the same key always gets the same outcome.
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies wanted, 1 to [`QUANTITY_MAX`].
    pub quantity: u64,
}

/// Body of `POST /admin/books/{id}`: a restock and/or a new cost, applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBook {
    /// Copies to add (negative: remove); stock never goes below zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_delta: Option<i64>,
    /// New cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u64>,
}

/// Where a reservation stands in the buy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Stock was taken; the order is not yet known to be committed.
    Held,
    /// The order was committed: the stock is sold for good.
    Confirmed,
    /// The buy was abandoned and its stock returned.
    Released,
    /// There was not enough stock: nothing was taken.
    Refused,
}

/// A reservation as the catalog stores it under its buy key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Buy key.
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies.
    pub quantity: u64,
    /// Where it stands.
    pub state: ReservationState,
}

/// Answer of `POST /reserve`: the reservation under the key and the book after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveOutcome {
    /// The reservation stored under the key (state `held`, `confirmed`, `released` or `refused`).
    pub reservation: Reservation,
    /// The book as it is once the reservation is applied.
    pub book: Book,
    /// Log index at which the outcome was applied.
    pub log_index: u64,
}
