//! What can go wrong talking to the public API, and whether a write's outcome is known.
//!
//! The line that matters for writes: an answer with an error code says what happened, as
//! [`api::ErrorCode::write_outcome`] reads it (nothing was applied, except for `outcome_unknown`,
//! `timeout` and `internal`); a request that was sent but got no answer may or may not have been
//! applied, and retrying it with the same idempotency key is safe (DESIGN §7).

use std::time::Duration;

use api::{ApiError, ErrorCode, WriteOutcome};

/// An error of [`crate::PygmyClient`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL given to [`crate::PygmyClient::new`] cannot be used.
    #[error("{url:?} is not a usable base URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    /// The server could not be reached, or the connection broke before the answer arrived.
    ///
    /// If it failed while connecting, the request was never sent; otherwise the outcome of a
    /// write is unknown ([`Error::is_outcome_unknown`] tells which).
    #[error("could not complete the request to {url}")]
    Transport {
        /// The request's URL.
        url: String,
        /// reqwest's error (without the URL, which is above).
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer within the client's request timeout: the outcome of a write is unknown.
    #[error("no answer from {url} within {} ms", timeout.as_millis())]
    Timeout {
        /// The request's URL.
        url: String,
        /// The request timeout that ran out.
        timeout: Duration,
    },
    /// The server answered with an error status and body.
    #[error("the server refused: {} ({status} {})", error.message, code_name(error.code))]
    Api {
        /// HTTP status.
        status: u16,
        /// Code and message of the answer (synthesized from the status if the body was not
        /// Pygmy's JSON error body).
        error: ApiError,
        /// The `Retry-After` header, if any (429 and 503 answers carry one).
        retry_after: Option<Duration>,
    },
    /// A success answer whose body is not what the route returns.
    #[error("cannot understand the answer of {url} (status {status}): {reason}")]
    Decode {
        /// The request's URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What did not parse.
        reason: String,
    },
}

/// Result with the client [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether a write that failed this way may nevertheless have been applied.
    ///
    /// True for a timeout, a connection that broke after connecting, and an answer whose code
    /// [`ErrorCode::write_outcome`] calls unknown (`outcome_unknown`, `timeout`, `internal`, and
    /// a 5xx without a Pygmy body, read as `internal`). Retrying the write with the same
    /// idempotency key is safe in every case. False for a connection that was never made:
    /// nothing was sent.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            Self::Transport { source, .. } => !source.is_connect(),
            Self::Timeout { .. } => true,
            Self::Api { error, .. } => error.code.write_outcome() == WriteOutcome::Unknown,
            Self::InvalidUrl { .. } | Self::Setup(_) | Self::Decode { .. } => false,
        }
    }

    /// The error code of an API answer, if this is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// Whether the server could not be reached or did not answer in time.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Transport { .. } | Self::Timeout { .. })
    }
}

/// The snake_case wire name of `code`, e.g. `out_of_stock`.
pub fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

/// The code an error status stands for when the body is not Pygmy's JSON error body.
///
/// 503 and 504 become `timeout` and other 5xx `internal`, so that [`Error::is_outcome_unknown`]
/// errs on the safe side for a write answered by something other than a Pygmy service.
pub(crate) fn code_for_status(status: u16) -> ErrorCode {
    match status {
        401 | 403 => ErrorCode::Unauthorized,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::BodyTimeout,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        414 => ErrorCode::UriTooLong,
        415 => ErrorCode::UnsupportedMediaType,
        431 => ErrorCode::HeadersTooLarge,
        429 => ErrorCode::Overloaded,
        503 | 504 => ErrorCode::Timeout,
        400..=499 => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode) -> Error {
        Error::Api {
            status: code.status(),
            error: ApiError::new(code, "m"),
            retry_after: None,
        }
    }

    #[test]
    fn only_uncertain_answers_are_outcome_unknown() {
        assert!(api(ErrorCode::OutcomeUnknown).is_outcome_unknown());
        assert!(api(ErrorCode::Timeout).is_outcome_unknown());
        for code in [
            ErrorCode::NoLeader,
            ErrorCode::Overloaded,
            ErrorCode::Unauthorized,
            ErrorCode::OutOfStock,
            ErrorCode::NotFound,
        ] {
            assert!(!api(code).is_outcome_unknown(), "{code:?}");
        }
        let timeout = Error::Timeout {
            url: "u".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_outcome_unknown() && timeout.is_unreachable());
    }

    #[test]
    fn a_write_answered_internal_may_have_applied() {
        // Goal: a buy answered 500 `internal` (a fault that may have struck after the apply)
        // is unknown to the client, never a definite failure; so is a bare 502 from a proxy.
        assert!(api(ErrorCode::Internal).is_outcome_unknown());
        let bare = Error::Api {
            status: 502,
            error: ApiError::new(code_for_status(502), "bad gateway"),
            retry_after: None,
        };
        assert!(bare.is_outcome_unknown());
    }

    #[test]
    fn api_errors_read_well() {
        let e = api(ErrorCode::OutOfStock).to_string();
        assert_eq!(e, "the server refused: m (409 out_of_stock)");
        assert_eq!(code_for_status(502), ErrorCode::Internal);
        assert_eq!(code_for_status(418), ErrorCode::BadRequest);
    }
}
