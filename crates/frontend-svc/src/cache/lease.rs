//! The task that holds this frontend's lease with the catalog leader: it renews four times a
//! lease period, asking the replica the probes last saw leading first, then the others, and
//! counts and times each renewal.

use std::sync::Arc;
use std::time::Duration;

use api::coherence::{LeaseGrant, LeaseRequest, LEASE_PATH};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{stats, ReadCache};
use crate::state::AppState;

/// Renewals per lease period: three may be lost before the lease runs out.
const RENEWALS_PER_LEASE: u32 = 4;

/// Renews the lease of `cache` (notices go to `notify_url`) until `cancel` fires.
pub(crate) async fn hold_lease(
    state: AppState,
    cache: Arc<ReadCache>,
    notify_url: String,
    lease: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(lease / RENEWALS_PER_LEASE);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let request = LeaseRequest {
        frontend: cache.frontend.clone(),
        notify_url,
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let started = Instant::now();
        let renewed = tokio::select! {
            () = cancel.cancelled() => return,
            renewed = renew(&state, &cache, &request, lease / 2) => renewed,
        };
        stats::record_renewal(renewed.is_ok(), started.elapsed());
        if let Err(reason) = renewed {
            tracing::debug!(%reason, "lease not renewed");
        }
        stats::record_lease(cache.coherence.lease_held());
        stats::record_entries(cache.entries.entry_count());
    }
}

/// One renewal: the first catalog replica that grants.
async fn renew(
    state: &AppState,
    cache: &ReadCache,
    request: &LeaseRequest,
    timeout: Duration,
) -> Result<(), String> {
    let mut last = "no catalog replica".to_string();
    for replica in state.catalog.leader_targets() {
        let sent = Instant::now();
        match state
            .backend
            .post_json::<LeaseGrant>(&replica, LEASE_PATH, request, timeout)
            .await
        {
            Ok(grant) => {
                cache.apply_grant(&grant, sent).await;
                return Ok(());
            }
            Err(reason) => last = format!("replica {}: {reason}", replica.id),
        }
    }
    Err(last)
}
