//! `GET /books`, `GET /books?topic=T`, `GET /books/{id}`: linearizable reads.

use std::collections::HashMap;

use api::{ApiError, Book, BookList};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;

use super::read_barrier;
use crate::state::{all_books, book, AppState};

/// Every book, or those of `?topic=`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<BookList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    read_barrier(&state).await?;
    let books = all_books(
        &state.replica.view(),
        query.get("topic").map(String::as_str),
    );
    Ok(Json(BookList { books }))
}

/// One book.
pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Book>, ApiError> {
    let Path(raw) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = api::parse_id("book id", &raw)?;
    read_barrier(&state).await?;
    book(&state.replica.view(), id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no book with id {id}")))
}
