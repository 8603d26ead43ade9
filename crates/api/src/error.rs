//! The JSON error every route answers with: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable snake_case code; each code has one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// Malformed request (400).
    BadRequest,
    /// Missing or wrong token (401).
    Unauthorized,
    /// Unknown book, order or route (404).
    NotFound,
    /// A peer request from a replica of another cluster (403).
    WrongCluster,
    /// Method not allowed on this route (405).
    MethodNotAllowed,
    /// The request body did not arrive in time; nothing was applied (408).
    BodyTimeout,
    /// Not enough stock (409).
    OutOfStock,
    /// A buy key reused for a different buy, or a change that would make stock negative (409).
    Conflict,
    /// Body too large (413).
    PayloadTooLarge,
    /// Body is not JSON (415).
    UnsupportedMediaType,
    /// Request target (path and query) too long (414).
    UriTooLong,
    /// Request headers too large (431).
    HeadersTooLarge,
    /// Too many requests in flight (429).
    Overloaded,
    /// The group has no reachable leader; nothing was applied (503).
    NoLeader,
    /// The write may or may not have been applied; retrying with the same key is safe (503).
    OutcomeUnknown,
    /// The request took too long (503).
    Timeout,
    /// A fault of the server (500).
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order: for tables of codes, and tests that go through each.
    pub const ALL: [ErrorCode; 17] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::NotFound,
        Self::WrongCluster,
        Self::MethodNotAllowed,
        Self::BodyTimeout,
        Self::OutOfStock,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::Overloaded,
        Self::NoLeader,
        Self::OutcomeUnknown,
        Self::Timeout,
        Self::Internal,
    ];

    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::WrongCluster => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BodyTimeout => 408,
            Self::OutOfStock | Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::HeadersTooLarge => 431,
            Self::Overloaded => 429,
            Self::NoLeader | Self::OutcomeUnknown | Self::Timeout => 503,
            Self::Internal => 500,
        }
    }

    /// Whether a write answered with this code may nevertheless have been applied: the one rule
    /// every caller (frontend, client, chaos workload, order resolver) asks.
    ///
    /// [`WriteOutcome::Refused`] and [`WriteOutcome::NotApplied`] both say nothing was applied;
    /// they differ in what resending the same request may bring (the same no, or a yes).
    /// A status with no Pygmy body should be read through the code it stands for, a 5xx as
    /// `internal` (which is [`WriteOutcome::Unknown`]). Success statuses are not classified:
    /// a 2xx answer is the applied write itself.
    pub fn write_outcome(self) -> WriteOutcome {
        match self {
            // Judged and refused, by the state machine (stock, book, key) or by the parsing of
            // the request at the door: the same request gets the same no.
            Self::BadRequest
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::OutOfStock
            | Self::Conflict
            | Self::PayloadTooLarge
            | Self::UriTooLong
            | Self::UnsupportedMediaType
            | Self::HeadersTooLarge => WriteOutcome::Refused,
            // Turned away before a proposal (token, cluster, a body that never arrived, load
            // shedding, no leader took it): nothing applied, the same request may pass later.
            Self::Unauthorized
            | Self::WrongCluster
            | Self::BodyTimeout
            | Self::Overloaded
            | Self::NoLeader => WriteOutcome::NotApplied,
            // The request may have been proposed: `timeout` cuts a handler that may have
            // proposed, and `internal` covers any fault, after an apply as well as before.
            Self::OutcomeUnknown | Self::Timeout | Self::Internal => WriteOutcome::Unknown,
        }
    }

    /// Whether the answer carries `Retry-After` (overload and unavailability).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Overloaded | Self::NoLeader | Self::OutcomeUnknown | Self::Timeout
        )
    }
}

/// Whether a write that was answered with an error code may have been applied
/// ([`ErrorCode::write_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A definite no: the request was judged and refused, nothing was applied, and sending it
    /// again gets the same answer (`out_of_stock`, `not_found`, `bad_request`, `conflict`, ...).
    Refused,
    /// Nothing was applied: the request never reached a state machine (`no_leader`,
    /// `overloaded`, `unauthorized`, `wrong_cluster`, `body_timeout`). It may pass if sent again.
    NotApplied,
    /// It may have been applied, now or later (`outcome_unknown`, `timeout`, `internal`): only
    /// a resend with the same idempotency key, or a read, tells.
    Unknown,
}

/// An error answer: a code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code, which fixes the status.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 with this message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The wire body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ErrorBody> for ApiError {
    fn from(body: ErrorBody) -> Self {
        Self::new(body.error.code, body.error.message)
    }
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message inside `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable code.
    pub code: ErrorCode,
    /// Human message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let e = ApiError::new(ErrorCode::OutOfStock, "book 3 has 0 left");
        let json = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "out_of_stock", "message": "book 3 has 0 left"}})
        );
        assert_eq!(ErrorCode::OutOfStock.status(), 409);
    }

    #[test]
    fn every_code_says_whether_a_write_may_have_applied() {
        // Goal: the whole table, written out; a new code does not compile here until someone
        // decides it. Method: an exhaustive match gives each code the outcome it must have.
        use WriteOutcome::{NotApplied, Refused, Unknown};
        let expected = |code: ErrorCode| match code {
            ErrorCode::BadRequest => Refused,
            ErrorCode::Unauthorized => NotApplied,
            ErrorCode::NotFound => Refused,
            ErrorCode::WrongCluster => NotApplied,
            ErrorCode::MethodNotAllowed => Refused,
            ErrorCode::BodyTimeout => NotApplied,
            ErrorCode::OutOfStock => Refused,
            ErrorCode::Conflict => Refused,
            ErrorCode::PayloadTooLarge => Refused,
            ErrorCode::UnsupportedMediaType => Refused,
            ErrorCode::UriTooLong => Refused,
            ErrorCode::HeadersTooLarge => Refused,
            ErrorCode::Overloaded => NotApplied,
            ErrorCode::NoLeader => NotApplied,
            ErrorCode::OutcomeUnknown => Unknown,
            ErrorCode::Timeout => Unknown,
            ErrorCode::Internal => Unknown,
        };
        let all = ErrorCode::ALL;
        for (position, code) in all.into_iter().enumerate() {
            assert_eq!(
                code as usize, position,
                "ALL in declaration order, once each"
            );
        }
        for code in all {
            assert_eq!(code.write_outcome(), expected(code), "{code:?}");
        }
        // The conservative answer for a fault: it may have struck after the apply.
        assert_eq!(ErrorCode::Internal.write_outcome(), Unknown);
        // Every 5xx code is at least not a definite no.
        for code in all.into_iter().filter(|c| c.status() >= 500) {
            assert_ne!(code.write_outcome(), Refused, "{code:?}");
        }
    }
}
