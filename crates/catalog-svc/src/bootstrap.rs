//! Seeding a fresh catalog through the log, so every replica gets the same books.

use std::time::Duration;

use api::Book;
use storage::Replica;
use tokio_util::sync::CancellationToken;

use crate::command::{CatalogCommand, Seed};
use crate::machine::CatalogMachine;
use crate::reads::all_books;

/// Pause between seeding attempts while the group has no leader.
const SEED_RETRY: Duration = Duration::from_millis(300);

/// Proposes `Seed` until the catalog has books (a no-op if another replica seeded it first).
/// Runs until seeded or cancelled.
pub(crate) async fn seed_catalog(
    replica: Replica<CatalogMachine>,
    books: Vec<Book>,
    cancel: CancellationToken,
) {
    loop {
        if !all_books(&replica.view(), None).is_empty() {
            return;
        }
        let seed = CatalogCommand::Seed(Seed {
            books: books.clone(),
        });
        tokio::select! {
            () = cancel.cancelled() => return,
            written = replica.write(seed) => match written {
                Ok(_) => {
                    tracing::info!(books = books.len(), "catalog seeded");
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "seeding not possible yet"),
            },
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(SEED_RETRY) => {}
        }
    }
}
