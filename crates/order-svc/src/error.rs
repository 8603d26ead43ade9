//! Errors of the order service and their HTTP form.

use api::{ApiError, ErrorCode};

/// What failed in the order service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Replication or storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The replica's address cannot be bound.
    #[error("cannot listen on {addr}: {source} (is another process using it?)")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serving HTTP failed.
    #[error("serving HTTP failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Result with the order [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(e) => e.into(),
            Error::Bind { .. } | Error::Serve(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}
