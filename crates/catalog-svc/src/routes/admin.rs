//! `POST /admin/books/{id}`: restock and/or reprice.

use api::{ApiError, ApiJson, Book, ErrorCode, UpdateBook};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use super::commit;
use crate::command::{self, CatalogCommand};
use crate::state::AppState;
use crate::CatalogResponse;

/// Applies `{"stock_delta": k}` and/or `{"cost": c}` to one book; answers the updated book.
pub async fn update_book(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<UpdateBook>,
) -> Result<ApiJson<Book>, ApiError> {
    let Path(raw) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let item = api::parse_id("book id", &raw)?;
    req.validate()?;
    let command = CatalogCommand::UpdateBook(command::UpdateBook {
        item,
        stock_delta: req.stock_delta,
        cost: req.cost,
    });
    match commit(&state, command).await?.0 {
        CatalogResponse::Book(book) => Ok(ApiJson(book)),
        other => {
            tracing::error!(?other, "update answered something else");
            Err(ApiError::new(ErrorCode::Internal, "internal error"))
        }
    }
}
