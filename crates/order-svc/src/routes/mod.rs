//! The order replica's HTTP routes; one file per route group.

pub mod buy;
pub mod orders;

use api::{ApiError, ErrorCode};

/// 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// 405 for a known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}
