//! The bearer-token check of internal and admin routes.

use std::sync::Arc;

use api::{ApiError, ErrorCode};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware: 401 unless `Authorization: Bearer <token>` matches.
pub async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(ErrorCode::Unauthorized, "wrong token").into_response(),
        None => ApiError::new(
            ErrorCode::Unauthorized,
            "this route needs Authorization: Bearer <token>",
        )
        .into_response(),
    }
}

/// Compares in time independent of where the first difference is, so that timing does not
/// reveal a token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
