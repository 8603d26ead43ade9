//! Errors of the frontend and their HTTP form.

use api::{ApiError, ErrorCode};

use runtime::throttle::LogThrottle;

/// What failed in the frontend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The frontend configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The cluster configuration is invalid, or the frontend's address cannot be bound.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    /// The HTTP client to the replicas could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// No replica of the group took the request before the deadline; nothing was applied.
    #[error("group {group} has no reachable leader: {reason}")]
    Unavailable {
        /// `catalog` or `orders`.
        group: &'static str,
        /// The last failure seen.
        reason: String,
    },
    /// A write was sent but its outcome could not be learned before the deadline.
    #[error("outcome of the write to group {group} is unknown: {reason}")]
    OutcomeUnknown {
        /// `catalog` or `orders`.
        group: &'static str,
        /// Why it could not be learned.
        reason: String,
    },
    /// A replica answered with a definitive error (unknown book, out of stock, ...).
    #[error("replica {replica_id} of group {group} answered {error}")]
    Rejected {
        /// `catalog` or `orders`.
        group: &'static str,
        /// The replica that answered.
        replica_id: u64,
        /// Its answer.
        error: ApiError,
    },
    /// A replica answered something that is not the documented body.
    #[error("replica {replica_id} of group {group} answered unexpectedly: {reason}")]
    BadAnswer {
        /// `catalog` or `orders`.
        group: &'static str,
        /// The replica that answered.
        replica_id: u64,
        /// What was wrong with it.
        reason: String,
    },
}

/// Result with the frontend [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The code a replica refused with, if it did.
    pub(crate) fn rejection_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Rejected { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        // Throttled: when a group is down every request would log one line each.
        static UNAVAILABLE_LOG: LogThrottle = LogThrottle::new();
        static UNKNOWN_LOG: LogThrottle = LogThrottle::new();
        match e {
            // 5xx bodies stay generic: the replicas' addresses and errors go to the log only.
            Error::Unavailable { group, .. } => {
                if let Some(held_back) = UNAVAILABLE_LOG.admit() {
                    tracing::warn!(error = %e, held_back, "no replica took the request");
                }
                let message = format!("group {group} has no reachable leader; retry later");
                ApiError::new(ErrorCode::NoLeader, message)
            }
            Error::OutcomeUnknown { group, .. } => {
                if let Some(held_back) = UNKNOWN_LOG.admit() {
                    tracing::warn!(error = %e, held_back, "outcome unknown");
                }
                let message = format!(
                    "the outcome of the write to group {group} is unknown; \
                     retrying with the same Idempotency-Key is safe"
                );
                ApiError::new(ErrorCode::OutcomeUnknown, message)
            }
            // Answers about the request itself pass through; anything else from a replica
            // (a refused cluster token, a 500) is our fault, not the client's.
            Error::Rejected { error, .. }
                if matches!(
                    error.code,
                    ErrorCode::BadRequest
                        | ErrorCode::NotFound
                        | ErrorCode::OutOfStock
                        | ErrorCode::Conflict
                ) =>
            {
                error
            }
            Error::Rejected { .. }
            | Error::BadAnswer { .. }
            | Error::Config(_)
            | Error::Runtime(_)
            | Error::HttpClient(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_refusals_pass_through_but_internal_faults_stay_generic() {
        // Goal: the client sees out_of_stock as the replica said it, but never a replica's 401.
        let rejected = |code| Error::Rejected {
            group: "orders",
            replica_id: 1,
            error: ApiError::new(code, "detail"),
        };
        let out = ApiError::from(rejected(ErrorCode::OutOfStock));
        assert_eq!(
            (out.code, out.message.as_str()),
            (ErrorCode::OutOfStock, "detail")
        );
        let hidden = ApiError::from(rejected(ErrorCode::Unauthorized));
        assert_eq!(
            (hidden.code, hidden.message.as_str()),
            (ErrorCode::Internal, "internal error")
        );
        let unknown = ApiError::from(Error::OutcomeUnknown {
            group: "orders",
            reason: "timed out".into(),
        });
        assert_eq!(unknown.code, ErrorCode::OutcomeUnknown);
        assert!(unknown.message.contains("same Idempotency-Key"));
    }
}
