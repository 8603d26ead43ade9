//! The catalog's replicated commands: one file per command; this module holds the enums and
//! dispatches.
//!
//! The buy protocol (DESIGN.md section 5) uses three of them, all keyed by the buy key and
//! idempotent: `Reserve` takes stock (or records a refusal), `Confirm` marks it sold once the
//! order is committed (`ConfirmAll`: many at once, as the order leader sends them), `Release`
//! gives it back for a buy that will never commit (and, for a key never reserved, records a
//! tombstone so that a late `Reserve` cannot take stock). `ReserveAll` applies many `Reserve`s
//! in one entry, as the order leader batches concurrent buys. `FenceOrders` shuts out the
//! reservations of order leaders of earlier terms, so that a new order leader can list every
//! reservation still held ([`HELD`]) knowing none can be added behind its back.

mod confirm;
mod confirm_all;
mod fence_orders;
mod release;
mod reserve;
mod reserve_all;
mod restock_due;
mod seed;
mod update_book;

use api::{Book, Reservation, ReservationState};
use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

pub use confirm::Confirm;
pub use confirm_all::ConfirmAll;
pub use fence_orders::FenceOrders;
pub use release::Release;
pub use reserve::Reserve;
pub use reserve_all::ReserveAll;
pub use restock_due::{RestockDue, RestockRound, RestockedBook, RESTOCK_LAST_KEY};
pub use seed::Seed;
pub use update_book::UpdateBook;

/// State tree of books: id (u64 big-endian) -> `Book`.
pub const BOOKS: &str = "books";
/// State tree of reservations: buy key (UTF-8) -> `Reservation`.
pub const RESERVATIONS: &str = "reservations";
/// State tree indexing the reservations that hold stock unconfirmed: buy key (UTF-8) -> `()`.
/// Kept by [`store_reservation`], so it always lists exactly the `held` reservations.
pub const HELD: &str = "held_reservations";
/// State tree holding the order fence (the term below which reservations are refused) under
/// [`ORDER_FENCE_KEY`].
pub const ORDER_FENCE: &str = "order_fence";
/// Key of the order fence in [`ORDER_FENCE`].
pub const ORDER_FENCE_KEY: &[u8] = b"term";
/// State tree of timed restock rounds: period (u64 big-endian) -> [`RestockRound`]. One per
/// period that applied, so it grows with sell-outs, as `reservations` grows with buys.
pub const RESTOCKS: &str = "restocks";
/// State tree holding the last period of a timed restock applied, under
/// [`RESTOCK_LAST_KEY`]: what makes a round of an earlier or equal period stale.
pub const RESTOCK_LAST: &str = "restock_last";

/// A command of the catalog log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CatalogCommand {
    /// Fill an empty catalog.
    Seed(Seed),
    /// Take stock under a buy key.
    Reserve(Reserve),
    /// Take stock under many buy keys, in order.
    ReserveAll(ReserveAll),
    /// Mark a reservation sold.
    Confirm(Confirm),
    /// Mark many reservations sold.
    ConfirmAll(ConfirmAll),
    /// Give a reservation's stock back.
    Release(Release),
    /// Refuse reservations of order leaders of earlier terms.
    FenceOrders(FenceOrders),
    /// Restock and/or reprice a book.
    UpdateBook(UpdateBook),
    /// The leader's timed restock of one period.
    RestockDue(RestockDue),
}

/// What applying a catalog command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogResponse {
    /// The catalog holds this many books (seeded now or before).
    Seeded(u64),
    /// The book after the change.
    Book(Book),
    /// The reservation under the key and its book afterwards.
    Reservation {
        /// The stored reservation.
        reservation: Reservation,
        /// The book after it.
        book: Book,
    },
    /// The answers of a [`ReserveAll`]'s reservations, in order: each a `Reservation` or a
    /// `Rejected`, as a `Reserve` alone answers.
    Reservations(Vec<CatalogResponse>),
    /// This many of a [`ConfirmAll`]'s reservations are confirmed (now or before).
    Confirmed(u64),
    /// Reservations of order leaders of terms below this one are refused from now on.
    OrdersFenced(u64),
    /// A timed restock round applied (its books restocked, perhaps none).
    Restocked(RestockRound),
    /// A timed restock round of a period at or before the last one applied: nothing changed.
    RestockStale {
        /// The round's period.
        period: u64,
        /// The last period applied.
        last_period: u64,
    },
    /// The command was refused; nothing changed.
    Rejected(Rejection),
}

/// Why a command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// No such book.
    #[error("no book with id {item}")]
    UnknownBook {
        /// Book id asked for.
        item: u64,
    },
    /// No reservation under the key.
    #[error("no reservation under key {key:?}")]
    UnknownReservation {
        /// The key.
        key: String,
    },
    /// The key is already used for another item or quantity.
    #[error("buy key {key:?} is already used for a different buy")]
    KeyConflict {
        /// The key.
        key: String,
    },
    /// The reservation is in a state that forbids the command.
    #[error("reservation {key:?} is {state:?}")]
    WrongState {
        /// The key.
        key: String,
        /// Its state.
        state: ReservationState,
    },
    /// The reservation comes from an order leader of a term already fenced: that leader has
    /// been replaced, and its successor has taken over its buys.
    #[error("the order leader of term {term} has been replaced (reservations are fenced below term {fence}); nothing was applied")]
    StaleOrderLeader {
        /// The sender's term.
        term: u64,
        /// The fence.
        fence: u64,
    },
    /// The stock change would leave fewer than zero copies.
    #[error("book {item} has {stock} in stock; a change of {delta} would make it negative")]
    NegativeStock {
        /// Book id.
        item: u64,
        /// Stock now.
        stock: u64,
        /// Change asked for.
        delta: i64,
    },
}

impl CatalogCommand {
    /// Applies the command inside the runner's transaction.
    pub fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        match self {
            Self::Seed(c) => c.apply(txn),
            Self::Reserve(c) => c.apply(txn),
            Self::ReserveAll(c) => c.apply(txn),
            Self::Confirm(c) => c.apply(txn),
            Self::ConfirmAll(c) => c.apply(txn),
            Self::Release(c) => c.apply(txn),
            Self::FenceOrders(c) => c.apply(txn),
            Self::UpdateBook(c) => c.apply(txn),
            Self::RestockDue(c) => c.apply(txn),
        }
    }
}

/// Reads a book by id.
pub(crate) fn load_book(txn: &StateTxn<'_>, item: u64) -> TxnResult<Option<Book>> {
    txn.get(BOOKS, &storage::keys::u64_key(item))
}

/// Stores a book under its id.
pub(crate) fn store_book(txn: &StateTxn<'_>, book: &Book) -> TxnResult<()> {
    txn.insert(BOOKS, &storage::keys::u64_key(book.id), book)
}

/// Reads the reservation under a buy key.
pub(crate) fn load_reservation(txn: &StateTxn<'_>, key: &str) -> TxnResult<Option<Reservation>> {
    txn.get(RESERVATIONS, key.as_bytes())
}

/// Stores a reservation under its key, and keeps [`HELD`] listing it exactly while it is held.
pub(crate) fn store_reservation(txn: &StateTxn<'_>, r: &Reservation) -> TxnResult<()> {
    if r.state == ReservationState::Held {
        txn.insert(HELD, r.key.as_bytes(), &())?;
    } else {
        txn.remove(HELD, r.key.as_bytes())?;
    }
    txn.insert(RESERVATIONS, r.key.as_bytes(), r)
}
