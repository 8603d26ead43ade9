//! When a replica takes a snapshot (and compacts its log behind it): once the entries applied
//! since the last one reach the configured count or the entry count of the last image,
//! whichever is larger. Writing an image costs its whole size, so a fixed count made every
//! entry dearer as the store grew; spaced by the image's size, snapshots cost at most about one
//! image entry written per log entry applied, however large the store, at the price of a log as
//! long as the state is large (on disk, not in memory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::machine::ServiceMachine;
use crate::types::RaftOf;

/// Asks `raft` for a snapshot whenever one is due (see the module doc): `base` is
/// `snapshot_logs_since_last`, `image_entries` the last image's entry count as the state
/// machine last wrote or installed one. Ends with Raft.
pub(super) async fn schedule_snapshots<M: ServiceMachine>(
    raft: RaftOf<M>,
    image_entries: Arc<AtomicU64>,
    base: u64,
) {
    let mut metrics = raft.metrics();
    // The applied index at the last request: asked again only a whole interval later, in case
    // openraft dropped it (a build already running, say).
    let mut asked_at: Option<u64> = None;
    loop {
        let (applied, snapshot) = {
            let m = metrics.borrow_and_update();
            (
                m.last_applied.map_or(0, |l| l.index),
                m.snapshot.map_or(0, |l| l.index),
            )
        };
        let interval = base.max(image_entries.load(Ordering::Relaxed));
        if is_due(applied, snapshot, asked_at, interval) {
            asked_at = Some(applied);
            tracing::debug!(applied, snapshot, interval, "a snapshot is due");
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Whether a snapshot is due at `applied`, with the last one at `snapshot`, the last request at
/// `asked_at` and `interval` entries between snapshots.
fn is_due(applied: u64, snapshot: u64, asked_at: Option<u64>, interval: u64) -> bool {
    let since = asked_at.map_or(snapshot, |asked| asked.max(snapshot));
    applied.saturating_sub(since) >= interval
}

#[cfg(test)]
mod tests {
    use super::is_due;

    #[test]
    fn a_snapshot_is_due_an_interval_after_the_last_one_or_the_last_request() {
        assert!(!is_due(4_999, 0, None, 5_000));
        assert!(is_due(5_000, 0, None, 5_000));
        // Asked at 5000 and not taken yet: not again until a whole interval later.
        assert!(!is_due(9_999, 0, Some(5_000), 5_000));
        assert!(is_due(10_000, 0, Some(5_000), 5_000));
        // Taken at 5000: the next one counts from it.
        assert!(!is_due(9_000, 5_000, Some(5_000), 5_000));
        // A larger image spaces snapshots further.
        assert!(!is_due(60_000, 5_000, Some(5_000), 100_000));
    }
}
