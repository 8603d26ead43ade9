//! The health probe: every replica's `/status`, periodically, to learn who is up, who leads and
//! at which term (for `GET /cluster` and for sending writes to the leader); and every few waves
//! each group's membership (`members`), so that the pools hold the replicas the groups have now.

mod members;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use runtime::metric_catalog::FRONTEND_REPLICAS_HEALTHY;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::pool::{PoolReplica, ReplicaPool};
use crate::state::AppState;

pub(crate) use members::follow_members;

/// Probes in flight at once: enough for both groups of a usual cluster in one wave.
const PROBES_IN_FLIGHT_MAX: usize = 8;
/// Waves from one look at the memberships to the next: every 2 s at the default 500 ms probe
/// interval, one or two requests per group. A membership change takes seconds (a learner
/// catches up first), and until the pool follows it a request still reaches the group through
/// the replicas it holds.
const MEMBERSHIP_EVERY_WAVES: u64 = 4;

/// Probes every replica each `probe_interval`, and looks at the memberships every
/// [`MEMBERSHIP_EVERY_WAVES`] waves (the first wave included), until `cancel` fires. Meant to
/// run for the life of the frontend.
pub(crate) async fn run_probes(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(state.config.probe_interval);
    // A slow wave delays the next one rather than causing a burst.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for wave in 0_u64.. {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = probe_all(&state) => {}
        }
        if wave % MEMBERSHIP_EVERY_WAVES == 0 {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = follow_members(&state) => {}
            }
        }
    }
}

/// One wave: probes every replica of both groups, at most [`PROBES_IN_FLIGHT_MAX`] at once,
/// each bounded by `probe_timeout`, and records what it learned.
pub(crate) async fn probe_all(state: &AppState) {
    let pools: [&ReplicaPool; 2] = [&state.catalog, &state.orders];
    // The replicas as the wave began (a membership change meanwhile counts from the next
    // wave), each with its pool's position rather than a borrowed pool: with no reference in
    // the stream's items, its closures borrow only `pools` and `state`, and the task stays `Send`.
    let targets: Vec<(usize, Arc<PoolReplica>)> = (0..pools.len())
        .flat_map(|group| {
            pools[group]
                .replicas()
                .iter()
                .map(|r| (group, Arc::clone(r)))
                .collect::<Vec<_>>()
        })
        .collect();
    let timeout = state.config.probe_timeout;
    futures::stream::iter(targets)
        .map(|(group, replica)| probe_replica(pools[group].group(), replica, timeout, state))
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

async fn probe_replica(
    group: &'static str,
    replica: Arc<PoolReplica>,
    timeout: Duration,
    state: &AppState,
) {
    match state.backend.fetch_status(&replica, timeout).await {
        Ok(status) => replica.record_status(status),
        Err(reason) => {
            if replica.mark_down() {
                let replica_id = replica.id;
                tracing::warn!(group, replica_id, %reason, "replica down");
            }
        }
    }
}
