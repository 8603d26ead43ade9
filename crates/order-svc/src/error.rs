//! Errors of the order service and their HTTP form.

use std::path::PathBuf;

use api::{ApiError, ErrorCode};

/// What failed in the order service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Replication or storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The configuration is invalid, or the replica's address cannot be bound.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    /// The catalog view kept in the replica directory cannot be read or decoded.
    #[error("catalog view {path} cannot be read: {reason}")]
    CatalogViewUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result with the order [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(e) => e.into(),
            Error::Runtime(_) | Error::CatalogViewUnreadable { .. } => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}
