//! OpenAPI schemas written by hand where the derive cannot say what the server checks:
//! [`UpdateBook`] needs at least one field (utoipa-gen 5.5.0's `min_properties` emits
//! `maxProperties`) and a `stock_delta` that is not zero.

use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::book::{COST_MAX, STOCK_DELTA_ABS_MAX};
use crate::UpdateBook;

/// An integer from `min` to `max`.
fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .minimum(Some(min))
        .maximum(Some(max))
}

impl PartialSchema for UpdateBook {
    fn schema() -> RefOr<Schema> {
        let stock_delta = OneOfBuilder::new()
            .item(integer(-STOCK_DELTA_ABS_MAX, -1))
            .item(integer(1, STOCK_DELTA_ABS_MAX))
            .description(Some(
                "Copies to add (negative: remove), not zero; stock never goes below zero",
            ));
        let cost_max = i64::try_from(COST_MAX).expect("COST_MAX fits an i64");
        ObjectBuilder::new()
            .description(Some(
                "A restock and/or a new cost, applied together: at least one of the two",
            ))
            .property("stock_delta", stock_delta)
            .property("cost", integer(0, cost_max).description(Some("New cost")))
            .min_properties(Some(1))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for UpdateBook {}
