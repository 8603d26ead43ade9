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
/// Longest topic a search may name, in bytes: far above any real topic (`ds`, `gs`), so a
/// longer one is malformed (and never fills a cache entry).
pub const TOPIC_BYTES_MAX: usize = 256;

/// A book of the catalog, as every route shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Book {
    /// Catalog id (item number), starting at 1.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookList {
    /// The books found, ordered by id.
    pub books: Vec<Book>,
}

/// One reservation of a [`ReserveAllRequest`]: take `quantity` copies of `item` under `key`.
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

/// Route of a catalog replica confirming many reservations in one entry.
pub const CONFIRM_ALL_PATH: &str = "/reservations/confirm-all";
/// Most keys in one [`ConfirmAllRequest`]: bounds the entry and the request body.
pub const CONFIRM_ALL_KEYS_MAX: usize = 512;

/// Body of `POST /reservations/confirm-all` on a catalog replica: the reservations of these
/// committed orders are sold for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmAllRequest {
    /// Buy keys, 1 to [`CONFIRM_ALL_KEYS_MAX`].
    pub keys: Vec<String>,
}

/// Answer of `POST /reservations/confirm-all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmAllOutcome {
    /// Reservations of the request now confirmed (some may have been before); the others are
    /// unknown, released or refused, and unchanged.
    pub confirmed: u64,
    /// Log index at which it was applied.
    pub log_index: u64,
}

/// Route of a catalog replica taking many reservations in one entry.
pub const RESERVE_ALL_PATH: &str = "/reservations/reserve-all";
/// Most reservations in one [`ReserveAllRequest`]: bounds the entry and the request body.
pub const RESERVE_ALL_MAX: usize = 256;

/// Body of `POST /reservations/reserve-all` on a catalog replica: the reservations of many
/// buys, applied in order in one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveAllRequest {
    /// 1 to [`RESERVE_ALL_MAX`] reservations.
    pub reservations: Vec<ReserveRequest>,
    /// The Raft term of the order leader sending them: refused, storing nothing, once an
    /// order leader of a later term has fenced (`POST /reservations/fence-orders`).
    #[serde(default)]
    pub order_term: u64,
}

/// Route of a catalog replica fencing out order leaders of earlier terms.
pub const FENCE_ORDERS_PATH: &str = "/reservations/fence-orders";

/// Body of `POST /reservations/fence-orders`: a new order leader refuses, from now on, the
/// reservations of every order leader of a term before its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FenceOrdersRequest {
    /// The new order leader's Raft term.
    pub order_term: u64,
}

/// Answer of `POST /reservations/fence-orders`: every reservation holding stock unconfirmed
/// once the fence applied, with its book; none of an earlier order term can join them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceOrdersOutcome {
    /// The held reservations (an order leader of the fencing term may add more meanwhile).
    pub held: Vec<ReserveOutcome>,
    /// Log index at which the fence was applied.
    pub log_index: u64,
}

/// How one reservation of a [`ReserveAllRequest`] ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReserveAllItem {
    /// The stock is held (or was held or confirmed before) under the key.
    Held(ReserveOutcome),
    /// Refused, with the error body a single reservation would answer (out of stock, unknown
    /// book, key conflict, released; `no_leader` when the order term is fenced).
    Refused(crate::ErrorBody),
}

/// Answer of `POST /reservations/reserve-all`: one item per reservation, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveAllOutcome {
    /// In the order of the request's reservations.
    pub items: Vec<ReserveAllItem>,
    /// Log index at which they were applied.
    pub log_index: u64,
}

/// Body of `POST /admin/books/{id}`: a restock and/or a new cost, applied together.
/// (Its OpenAPI schema is written by hand, in `schema.rs`.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBook {
    /// Copies to add (negative: remove); stock never goes below zero.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::number::some_whole"
    )]
    pub stock_delta: Option<i64>,
    /// New cost.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::number::some_whole"
    )]
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

/// The outcome of one reservation: the reservation under the key and the book after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveOutcome {
    /// The reservation stored under the key (state `held`, `confirmed`, `released` or `refused`).
    pub reservation: Reservation,
    /// The book as it is once the reservation is applied.
    pub book: Book,
    /// Log index at which the outcome was applied.
    pub log_index: u64,
}

/// Parses a positive integer id from a path or query segment, in canonical decimal only
/// (`7`, never `+7` or `07`), so that one id has one spelling (and one cache key).
///
/// # Errors
/// A 400 [`crate::ApiError`] naming `what` and the raw text.
pub fn parse_id(what: &str, raw: &str) -> Result<u64, crate::ApiError> {
    // `str::parse` alone takes a sign and leading zeros.
    let canonical = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    match raw.parse::<u64>() {
        Ok(id) if id > 0 && canonical => Ok(id),
        _ => Err(crate::ApiError::bad_request(format!(
            "{what} must be a positive integer in plain decimal, got {raw:?}"
        ))),
    }
}

/// Checks a buy key: 1 to [`BUY_KEY_BYTES_MAX`] bytes of visible ASCII.
///
/// # Errors
/// A 400 [`crate::ApiError`] saying what is wrong.
pub fn check_buy_key(key: &str) -> Result<(), crate::ApiError> {
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > BUY_KEY_BYTES_MAX || !visible {
        return Err(crate::ApiError::bad_request(format!(
            "a buy key is 1 to {BUY_KEY_BYTES_MAX} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Checks a searched topic: at most [`TOPIC_BYTES_MAX`] bytes.
///
/// # Errors
/// A 400 [`crate::ApiError`].
pub fn check_topic(topic: &str) -> Result<(), crate::ApiError> {
    if topic.len() > TOPIC_BYTES_MAX {
        return Err(crate::ApiError::bad_request(format!(
            "a topic is at most {TOPIC_BYTES_MAX} bytes, got {}",
            topic.len()
        )));
    }
    Ok(())
}

/// Checks a quantity: 1 to [`QUANTITY_MAX`].
///
/// # Errors
/// A 400 [`crate::ApiError`].
pub fn check_quantity(quantity: u64) -> Result<(), crate::ApiError> {
    if quantity == 0 || quantity > QUANTITY_MAX {
        return Err(crate::ApiError::bad_request(format!(
            "quantity must be between 1 and {QUANTITY_MAX}, got {quantity}"
        )));
    }
    Ok(())
}

impl ReserveRequest {
    /// Checks key and quantity.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        check_buy_key(&self.key)?;
        check_quantity(self.quantity)
    }
}

impl ConfirmAllRequest {
    /// Checks the number of keys and each key.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        if self.keys.is_empty() || self.keys.len() > CONFIRM_ALL_KEYS_MAX {
            return Err(crate::ApiError::bad_request(format!(
                "give 1 to {CONFIRM_ALL_KEYS_MAX} keys, not {}",
                self.keys.len()
            )));
        }
        self.keys.iter().try_for_each(|k| check_buy_key(k))
    }
}

impl ReserveAllRequest {
    /// Checks the number of reservations and each one.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        let n = self.reservations.len();
        if n == 0 || n > RESERVE_ALL_MAX {
            return Err(crate::ApiError::bad_request(format!(
                "give 1 to {RESERVE_ALL_MAX} reservations, not {n}"
            )));
        }
        self.reservations
            .iter()
            .try_for_each(ReserveRequest::validate)
    }
}

impl UpdateBook {
    /// Checks that something changes and that the numbers are in range.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        let bad = |m: String| Err(crate::ApiError::bad_request(m));
        match (self.stock_delta, self.cost) {
            (None, None) => bad("give stock_delta and/or cost".into()),
            // `unsigned_abs`: `i64::MIN.abs()` overflows (a panic in debug, a pass in release).
            (Some(d), _) if d == 0 || d.unsigned_abs() > STOCK_DELTA_ABS_MAX.unsigned_abs() => {
                bad(format!(
                "stock_delta must be non-zero and at most {STOCK_DELTA_ABS_MAX} in size, got {d}"
            ))
            }
            (_, Some(c)) if c > COST_MAX => {
                bad(format!("cost must be at most {COST_MAX}, got {c}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keys_and_quantities_are_checked() {
        assert_eq!(parse_id("book id", "7").unwrap(), 7);
        assert_eq!(
            parse_id("book id", "18446744073709551615").unwrap(),
            u64::MAX
        );
        for bad in [
            "0",
            "-1",
            "abc",
            "",
            "99999999999999999999999",
            "18446744073709551616",
            "+1",
            "01",
            "00",
            " 1",
            "1 ",
            "1e3",
        ] {
            assert!(parse_id("book id", bad).is_err(), "{bad}");
        }
        assert!(check_buy_key("k-1").is_ok());
        assert!(check_buy_key("").is_err() && check_buy_key("a b").is_err());
        assert!(check_buy_key(&"x".repeat(BUY_KEY_BYTES_MAX + 1)).is_err());
        assert!(check_quantity(0).is_err() && check_quantity(QUANTITY_MAX + 1).is_err());
        assert!(check_topic("ds").is_ok() && check_topic(&"t".repeat(TOPIC_BYTES_MAX)).is_ok());
        assert!(check_topic(&"t".repeat(TOPIC_BYTES_MAX + 1)).is_err());
        assert!(UpdateBook::default().validate().is_err());
        let restock = UpdateBook {
            stock_delta: Some(3),
            cost: None,
        };
        assert!(restock.validate().is_ok());
    }

    #[test]
    fn stock_deltas_and_costs_are_checked_at_the_integer_edges() {
        // Goal: issue #11 item 9: i64::MIN passed the range check (abs() overflowed); every
        // edge of the client's numbers is refused or accepted without overflow.
        let update = |stock_delta, cost| UpdateBook { stock_delta, cost };
        for delta in [
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            -STOCK_DELTA_ABS_MAX - 1,
            STOCK_DELTA_ABS_MAX + 1,
            0,
        ] {
            assert!(update(Some(delta), None).validate().is_err(), "{delta}");
        }
        for delta in [-STOCK_DELTA_ABS_MAX, STOCK_DELTA_ABS_MAX, -1, 1] {
            assert!(update(Some(delta), None).validate().is_ok(), "{delta}");
        }
        for cost in [COST_MAX + 1, u64::MAX] {
            assert!(update(None, Some(cost)).validate().is_err(), "{cost}");
        }
        assert!(update(None, Some(0)).validate().is_ok());
        assert!(update(None, Some(COST_MAX)).validate().is_ok());
        assert!(check_quantity(u64::MAX).is_err());
    }

    #[test]
    fn a_stock_delta_of_i64_min_is_a_400_from_json() {
        // Goal: the body of issue #11 item 9, parsed as the admin route parses it, is refused.
        let body = r#"{"stock_delta": -9223372036854775808}"#;
        let update: UpdateBook = serde_json::from_str(body).unwrap();
        let error = update.validate().unwrap_err();
        assert_eq!(error.code, crate::ErrorCode::BadRequest);
        // One past i64's range is not a number serde takes for an i64.
        let past = r#"{"stock_delta": -9223372036854775809}"#;
        assert!(serde_json::from_str::<UpdateBook>(past).is_err());
    }

    proptest::proptest! {
        #[test]
        fn the_stock_delta_check_agrees_with_wide_arithmetic(delta: i64) {
            // Goal: for every i64, the check equals the same rule computed in i128 (no overflow).
            let wide = i128::from(delta);
            let allowed = wide != 0 && wide.abs() <= i128::from(STOCK_DELTA_ABS_MAX);
            let update = UpdateBook { stock_delta: Some(delta), cost: None };
            proptest::prop_assert_eq!(update.validate().is_ok(), allowed);
        }

        #[test]
        fn ids_have_exactly_one_spelling(id in 1..=u64::MAX, zeros in 1..3usize) {
            // Goal: the plain decimal of every id parses; a sign or leading zeros never do.
            proptest::prop_assert_eq!(parse_id("id", &id.to_string()).unwrap(), id);
            let signed = format!("+{id}");
            let padded = format!("{}{id}", "0".repeat(zeros));
            proptest::prop_assert!(parse_id("id", &signed).is_err());
            proptest::prop_assert!(parse_id("id", &padded).is_err());
        }
    }
}
