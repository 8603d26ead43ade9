//! `pygmy_orders_pending_buys` on every order replica: the buys in the replicated `pending`
//! tree (begun, not finished), counted again at most once per interval and only when this
//! replica applied something since (sled keeps no count, and a count is a scan of the tree).

use std::time::Duration;

use runtime::metric_catalog::ORDERS_PENDING_BUYS;
use storage::metrics::replica_labels;
use storage::Replica;
use tokio_util::sync::CancellationToken;

use crate::command::PENDING;
use crate::machine::OrderMachine;

/// Time between two looks at the applied index: how stale the gauge may be.
const PENDING_GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the gauge of `replica` up to date until `cancel` fires.
pub(crate) async fn run(replica: Replica<OrderMachine>, cancel: CancellationToken) {
    let spec = replica.spec();
    let gauge = ORDERS_PENDING_BUYS.gauge(&replica_labels(spec.group, spec.id));
    let mut counted_at = None;
    // Meant to run for the life of the replica: it ends only on cancellation.
    loop {
        let applied = replica.applied_index();
        if counted_at != Some(applied) {
            gauge.set(replica.view().count(PENDING) as f64);
            counted_at = Some(applied);
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(PENDING_GAUGE_INTERVAL) => {}
        }
    }
}
