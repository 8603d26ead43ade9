//! `pygmy_orders_pending_buys` on every order replica: the buys this replica began as leader
//! and has not seen end ([`crate::unfinished`]; 0 on a follower), read once per interval.

use std::time::Duration;

use runtime::metric_catalog::ORDERS_PENDING_BUYS;
use storage::metrics::replica_labels;
use storage::Replica;
use tokio_util::sync::CancellationToken;

use crate::machine::OrderMachine;
use crate::unfinished::UnfinishedBuys;

/// Time between two looks at the applied index: how stale the gauge may be.
const PENDING_GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the gauge of `replica` up to date until `cancel` fires.
pub(crate) async fn run(
    replica: Replica<OrderMachine>,
    unfinished: UnfinishedBuys,
    cancel: CancellationToken,
) {
    let spec = replica.spec();
    let gauge = ORDERS_PENDING_BUYS.gauge(&replica_labels(spec.group, spec.id));
    // Meant to run for the life of the replica: it ends only on cancellation.
    loop {
        gauge.set(unfinished.len() as f64);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(PENDING_GAUGE_INTERVAL) => {}
        }
    }
}
