//! Errors of the catalog service and their HTTP form.

use std::path::PathBuf;

use api::{ApiError, ErrorCode};

use crate::command::Rejection;

/// What failed in the catalog service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Replication or storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The state machine refused the command.
    #[error("{0}")]
    Rejected(Rejection),
    /// The catalog file cannot be used.
    #[error("catalog file {path}: {reason}")]
    CatalogFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configuration is invalid, or the replica's address cannot be bound.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
}

/// Result with the catalog [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Storage(e) => e.into(),
            Error::Rejected(r) => {
                let code = match &r {
                    Rejection::UnknownBook { .. } | Rejection::UnknownReservation { .. } => {
                        ErrorCode::NotFound
                    }
                    Rejection::KeyConflict { .. }
                    | Rejection::WrongState { .. }
                    | Rejection::NegativeStock { .. } => ErrorCode::Conflict,
                    Rejection::StaleOrderLeader { .. } => ErrorCode::NoLeader,
                };
                ApiError::new(code, r.to_string())
            }
            Error::CatalogFile { .. } | Error::Runtime(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}
