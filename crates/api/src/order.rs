//! Orders and the buy request.

use serde::{Deserialize, Serialize};

/// Where an order stands. Orders are only ever shown once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderStatus {
    /// Committed to the order log: the stock is sold.
    Committed,
}

/// A committed order, as every route shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// Order number: 1, 2, 3, ... with no gaps.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub number: u64,
    /// Book id.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub item: u64,
    /// Book title at the time of the order.
    pub title: String,
    /// Copies.
    pub quantity: u64,
    /// Total cost (unit cost at the time of the order times quantity).
    pub cost: u64,
    /// Status.
    pub status: OrderStatus,
}

/// Body of the public `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrder {
    /// Book id.
    #[serde(deserialize_with = "crate::number::whole")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub item: u64,
    /// Copies, 1 to 1000 (`QUANTITY_MAX`); 1 if absent.
    #[serde(default = "one", deserialize_with = "crate::number::whole")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000, default = 1))]
    pub quantity: u64,
}

fn one() -> u64 {
    1
}

/// Body of `POST /buy` on an order replica: one buy under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    /// Buy key (the client's idempotency key, or one the frontend made up).
    pub key: String,
    /// Book id.
    pub item: u64,
    /// Copies.
    pub quantity: u64,
}

impl BuyRequest {
    /// Checks key and quantity.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        crate::book::check_buy_key(&self.key)?;
        crate::book::check_quantity(self.quantity)
    }
}

/// `{"orders": [...]}`: a page of the order log, by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Orders in number order.
    pub orders: Vec<Order>,
}
