//! What one attempt on one replica came to: the replica's answer read (bounded) and sorted
//! into the endings the retry rounds of `backend.rs` act on.

use api::{ApiError, ErrorBody, WriteOutcome};
use axum::body::Bytes;
use axum::http::StatusCode;
use runtime::metric_catalog::FRONTEND_BACKEND_ATTEMPTS;

/// Largest replica answer read, in bytes (a catalog of some ten thousand books).
const ANSWER_BYTES_MAX: usize = 16 * 1024 * 1024;

/// How one attempt on one replica ended.
#[derive(Debug)]
pub(super) enum Attempt {
    /// 2xx with this body.
    Success(Bytes),
    /// A final answer that nothing was applied (404, 409 `out_of_stock`, 400, 401, ...).
    Refused(ApiError),
    /// An answer that is not the documented form; final.
    Garbled(String),
    /// Surely not applied (connection refused, `no_leader`, shed): try the next replica.
    NotTaken {
        /// What happened.
        reason: String,
        /// The replica could not be reached at all: mark it down.
        unreachable: bool,
    },
    /// May have been applied (timeout, dropped connection, `outcome_unknown`, 5xx).
    Unknown(String),
}

/// Reads an answer's body, at most [`ANSWER_BYTES_MAX`].
pub(super) async fn read_body(
    mut response: reqwest::Response,
) -> std::result::Result<Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > ANSWER_BYTES_MAX {
            return Err(format!("answer is larger than {ANSWER_BYTES_MAX} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Sorts a replica's answer into the five endings of an attempt.
pub(super) fn classify(who: &str, status: StatusCode, body: Bytes) -> Attempt {
    if status.is_success() {
        return Attempt::Success(body);
    }
    let Ok(error) = serde_json::from_slice::<ErrorBody>(&body).map(ApiError::from) else {
        let reason = format!("{who}: HTTP {status} without a JSON error body");
        return if status.is_server_error() {
            Attempt::Unknown(reason)
        } else {
            Attempt::Garbled(reason)
        };
    };
    sort_error(who, error)
}

/// Sorts an error a replica answered (for a request, or for one buy of a batch) into the
/// endings an attempt of it can have: refused, not taken, or unknown.
pub(super) fn sort_error(who: &str, error: ApiError) -> Attempt {
    let reason = format!("{who}: {error}");
    match error.code.write_outcome() {
        WriteOutcome::Unknown => Attempt::Unknown(reason),
        // Passing (no leader here, shedding): another replica or round may take it.
        WriteOutcome::NotApplied if error.code.is_retryable() => Attempt::NotTaken {
            reason,
            unreachable: false,
        },
        // Nothing applied, and every replica would say the same (a refused cluster token, a
        // refused buy): final.
        WriteOutcome::NotApplied | WriteOutcome::Refused => Attempt::Refused(error),
    }
}

/// A reqwest error with its causes (its `Display` leaves them out).
pub(super) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(super) fn count(group: &'static str, attempt: &Attempt) {
    let outcome = match attempt {
        Attempt::Success(_) => "success",
        Attempt::Refused(_) => "refused",
        Attempt::Garbled(_) => "garbled",
        Attempt::NotTaken { .. } => "not_taken",
        Attempt::Unknown(_) => "unknown",
    };
    metrics::counter!(FRONTEND_BACKEND_ATTEMPTS.name, "group" => group, "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use api::ErrorCode;

    fn sorted(status: u16, body: serde_json::Value) -> Attempt {
        let status = StatusCode::from_u16(status).unwrap();
        classify("replica 1", status, Bytes::from(body.to_string()))
    }

    fn error(code: &str) -> serde_json::Value {
        json!({"error": {"code": code, "message": "m"}})
    }

    #[test]
    fn answers_are_sorted_by_whether_they_may_have_applied() {
        // Goal: only answers that surely applied nothing let a keyless write move on.
        assert!(matches!(sorted(200, json!({})), Attempt::Success(_)));
        assert!(
            matches!(sorted(409, error("out_of_stock")), Attempt::Refused(e) if e.code == ErrorCode::OutOfStock)
        );
        assert!(matches!(
            sorted(404, error("not_found")),
            Attempt::Refused(_)
        ));
        assert!(matches!(
            sorted(503, error("no_leader")),
            Attempt::NotTaken {
                unreachable: false,
                ..
            }
        ));
        assert!(matches!(
            sorted(429, error("overloaded")),
            Attempt::NotTaken { .. }
        ));
        assert!(matches!(
            sorted(503, error("outcome_unknown")),
            Attempt::Unknown(_)
        ));
        assert!(matches!(
            sorted(500, error("internal")),
            Attempt::Unknown(_)
        ));
        assert!(matches!(
            sorted(502, json!("proxy page")),
            Attempt::Unknown(_)
        ));
        assert!(matches!(
            sorted(404, json!("html page")),
            Attempt::Garbled(_)
        ));
    }
}
