//! The health probe: every replica's `/status`, periodically, to learn who is up, who leads and
//! at which term (for `GET /cluster` and for sending writes to the leader).

use std::time::Duration;

use futures::StreamExt;
use runtime::metric_catalog::FRONTEND_REPLICAS_HEALTHY;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::pool::ReplicaPool;
use crate::state::AppState;

/// Probes in flight at once: enough for both groups of a usual cluster in one wave.
const PROBES_IN_FLIGHT_MAX: usize = 8;

/// Probes every replica each `probe_interval` until `cancel` fires. Meant to run for the life
/// of the frontend.
pub(crate) async fn run_probes(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(state.config.probe_interval);
    // A slow wave delays the next one rather than causing a burst.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = probe_all(&state) => {}
        }
    }
}

/// One wave: probes every replica of both groups, at most [`PROBES_IN_FLIGHT_MAX`] at once,
/// each bounded by `probe_timeout`, and records what it learned.
pub(crate) async fn probe_all(state: &AppState) {
    let pools: [&ReplicaPool; 2] = [&state.catalog, &state.orders];
    // Positions rather than borrowed pairs: the stream's closures then borrow only `state`.
    let positions: Vec<(usize, usize)> = (0..pools.len())
        .flat_map(|group| (0..pools[group].replicas().len()).map(move |i| (group, i)))
        .collect();
    futures::stream::iter(positions)
        .map(|(group, i)| probe_replica(pools[group], i, state.config.probe_timeout, state))
        .buffer_unordered(PROBES_IN_FLIGHT_MAX)
        .collect::<Vec<()>>()
        .await;
    for pool in pools {
        let (leader, term) = pool.leader_and_term();
        if state.ui.leaders.observe(pool.group(), leader, term) {
            tracing::info!(group = pool.group(), leader, term, "leader changed");
        }
        let healthy = u32::try_from(pool.healthy_count()).unwrap_or(u32::MAX);
        metrics::gauge!(FRONTEND_REPLICAS_HEALTHY.name, "group" => pool.group())
            .set(f64::from(healthy));
    }
}

async fn probe_replica(pool: &ReplicaPool, index: usize, timeout: Duration, state: &AppState) {
    let replica = &pool.replicas()[index];
    match state.backend.fetch_status(replica, timeout).await {
        Ok(status) => replica.record_status(status),
        Err(reason) => {
            if replica.mark_down() {
                let (group, replica_id) = (pool.group(), replica.id);
                tracing::warn!(group, replica_id, %reason, "replica down");
            }
        }
    }
}
