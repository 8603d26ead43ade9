//! The catalog's HTTP routes; one file per route group (`/status`, `/health`, `/metrics` and
//! the Raft routes come from `storage::peer_routes`).

pub mod admin;
pub mod books;
pub mod lease;
pub mod reservations;
pub mod restocks;

use api::ApiError;

use crate::command::CatalogCommand;
use crate::error::Error;
use crate::state::AppState;
use crate::CatalogResponse;

/// Commits `command` through the group and returns its answer and log index; refusals become errors.
pub(crate) async fn commit(
    state: &AppState,
    command: CatalogCommand,
) -> Result<(CatalogResponse, u64), ApiError> {
    let written = state.replica.write(command).await.map_err(Error::from)?;
    match written.response {
        CatalogResponse::Rejected(r) => Err(Error::Rejected(r).into()),
        response => Ok((response, written.log_index)),
    }
}

/// Waits for a linearizable read point.
pub(crate) async fn read_barrier(state: &AppState) -> Result<u64, ApiError> {
    Ok(state
        .replica
        .linearizable_read()
        .await
        .map_err(Error::from)?)
}
