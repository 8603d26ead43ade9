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

/// Route of an order replica taking many buys in one request.
pub const BUY_ALL_PATH: &str = "/buy-all";

/// Most buys in one [`BuyAllRequest`]: bounds the request and its answer.
pub const BUY_ALL_MAX: usize = 256;

/// Body of `POST /buy-all` on an order replica: buys run together, each exactly as a
/// `POST /buy` of it alone would run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyAllRequest {
    /// 1 to [`BUY_ALL_MAX`] buys, under distinct keys.
    pub buys: Vec<BuyRequest>,
}

impl BuyAllRequest {
    /// Checks the count, each buy, and that no key names two of them.
    ///
    /// # Errors
    /// A 400 [`crate::ApiError`].
    pub fn validate(&self) -> Result<(), crate::ApiError> {
        if self.buys.is_empty() || self.buys.len() > BUY_ALL_MAX {
            return Err(crate::ApiError::bad_request(format!(
                "send 1 to {BUY_ALL_MAX} buys, not {}",
                self.buys.len()
            )));
        }
        let mut keys = std::collections::HashSet::with_capacity(self.buys.len());
        for buy in &self.buys {
            buy.validate()?;
            if !keys.insert(buy.key.as_str()) {
                return Err(crate::ApiError::bad_request(format!(
                    "buy key {:?} names two buys of one batch",
                    buy.key
                )));
            }
        }
        Ok(())
    }
}

/// How one buy of a [`BuyAllRequest`] ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyAllItem {
    /// Its order is committed.
    Ordered(Order),
    /// The error body `POST /buy` would have answered (a refusal, `no_leader`,
    /// `outcome_unknown`, ...).
    Failed(crate::ErrorBody),
}

/// Answer of `POST /buy-all`: one item per buy, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyAllOutcome {
    /// In the order of the request's buys.
    pub items: Vec<BuyAllItem>,
}

/// `{"orders": [...]}`: a page of the order log, by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Orders in number order.
    pub orders: Vec<Order>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buy(key: &str) -> BuyRequest {
        BuyRequest {
            key: key.into(),
            item: 1,
            quantity: 1,
        }
    }

    #[test]
    fn a_batch_of_buys_is_one_to_the_most_under_distinct_valid_keys() {
        // Goal: an empty or oversized batch, a bad buy, or a key naming two buys is a 400.
        let batch = |buys: Vec<BuyRequest>| BuyAllRequest { buys }.validate();
        assert!(batch(vec![buy("a"), buy("b")]).is_ok());
        let full: Vec<_> = (0..BUY_ALL_MAX).map(|i| buy(&format!("k{i}"))).collect();
        assert!(batch(full.clone()).is_ok());
        let mut over = full;
        over.push(buy("one-more"));
        for refused in [
            vec![],
            over,
            vec![buy("a"), buy("a")],
            vec![buy("a"), buy("")],
            vec![BuyRequest {
                quantity: 0,
                ..buy("b")
            }],
        ] {
            let error = batch(refused).unwrap_err();
            assert_eq!(error.code, crate::ErrorCode::BadRequest, "{error}");
        }
    }
}
