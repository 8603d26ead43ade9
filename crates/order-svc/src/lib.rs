//! The Pygmy order log and the exactly-once buy protocol, replicated by a Raft group.

use std::path::Path;

use storage::ClusterOverrides;

/// Loads the configuration, binds order replica `id`'s address and serves until `shutdown`
/// resolves: what `order-svc` and `pygmy serve order` both run.
///
/// # Errors
/// Invalid configuration, address in use, or the replica cannot start.
pub async fn run(
    config_path: Option<&Path>,
    id: u64,
    overrides: &ClusterOverrides,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), storage::Error> {
    let _ = (config_path, id, overrides, shutdown);
    Err(storage::Error::Config("order-svc is not built yet".into()))
}
