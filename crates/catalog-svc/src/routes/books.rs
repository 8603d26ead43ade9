//! `GET /books`, `GET /books?topic=T`, `GET /books/{id}`: linearizable reads.

use std::collections::HashMap;

use api::coherence::X_READ_INDEX;
use api::{ApiError, Book, BookList};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;

use super::read_barrier;
use crate::reads::{all_books, book};
use crate::state::AppState;

/// A read answer tagged with the log index it was read at (the frontends' cache versions).
type AtIndex<T> = ([(&'static str, String); 1], Json<T>);

fn at_index<T>(index: u64, body: T) -> AtIndex<T> {
    ([(X_READ_INDEX, index.to_string())], Json(body))
}

/// Every book, or those of `?topic=`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<AtIndex<BookList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let index = read_barrier(&state).await?;
    let books = all_books(
        &state.replica.view(),
        query.get("topic").map(String::as_str),
    );
    Ok(at_index(index, BookList { books }))
}

/// One book.
pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<AtIndex<Book>, ApiError> {
    let Path(raw) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = api::parse_id("book id", &raw)?;
    let index = read_barrier(&state).await?;
    book(&state.replica.view(), id)
        .map(|b| at_index(index, b))
        .ok_or_else(|| ApiError::not_found(format!("no book with id {id}")))
}
