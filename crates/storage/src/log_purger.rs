//! Deletes purged Raft log entries in the background.
//!
//! openraft awaits `purge` inside its core, which sends no heartbeat meanwhile. Deleting the
//! log behind a large snapshot there (hundreds of thousands of entries, over a second) let the
//! followers' election timers run out, so a purge records its point, flushes it and returns;
//! this task deletes the entries at or below the point afterwards. Until it has, the log store
//! treats them as gone (`LogStore` reads the point from here), as it already treated entries a
//! crash left below a recorded purge point.

use std::sync::Arc;

use tokio::sync::watch;

use crate::keys::u64_key;

/// Log entries removed per sled batch: one batch holds sled's write lock for its whole length.
const PURGE_BATCH_ENTRIES: usize = 4096;

/// The purge point of one log and its deleting task; cloning shares both.
#[derive(Debug, Clone)]
pub(crate) struct LogPurger {
    through: Arc<watch::Sender<Option<u64>>>,
}

impl LogPurger {
    /// The purger of `raft_log`, whose entries through `through` are purged already; spawns
    /// the deleting task on the current tokio runtime, which first deletes any entries a crash
    /// left below that point. The task ends once every clone is dropped.
    pub(crate) fn spawn(raft_log: sled::Tree, through: Option<u64>) -> Self {
        let (tx, rx) = watch::channel(through);
        tokio::spawn(run(raft_log, rx));
        Self {
            through: Arc::new(tx),
        }
    }

    /// The last purged index, if any: entries at or below it are gone, deleted or not yet.
    pub(crate) fn through(&self) -> Option<u64> {
        *self.through.borrow()
    }

    /// Entries through `index` are purged (the point never moves back); the task deletes them.
    pub(crate) fn purge_through(&self, index: u64) {
        self.through.send_if_modified(|through| {
            let raised = through.is_none_or(|t| t < index);
            if raised {
                *through = Some(index);
            }
            raised
        });
    }
}

// Runs until every sender is dropped, or stops mid-way then: what is left below the point is
// deleted by the next start.
async fn run(raft_log: sled::Tree, mut through: watch::Receiver<Option<u64>>) {
    loop {
        let point = *through.borrow_and_update();
        if let Some(point) = point {
            if let Err(e) = delete_through(&raft_log, point, &through).await {
                tracing::warn!(error = %e, point, "deleting purged log entries failed; the next purge retries");
            }
        }
        if through.changed().await.is_err() {
            return;
        }
    }
}

/// Deletes the entries at or below `point`, a batch at a time, yielding between batches.
async fn delete_through(
    raft_log: &sled::Tree,
    point: u64,
    through: &watch::Receiver<Option<u64>>,
) -> sled::Result<()> {
    let end = u64_key(point);
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for key in raft_log.range(..=end).keys().take(PURGE_BATCH_ENTRIES) {
            batch.remove(key?);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        raft_log.apply_batch(batch)?;
        tokio::task::yield_now().await;
        if through.has_changed().is_err() {
            // The log store is gone (the replica stops): leave the rest to the next start.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn log_of(indexes: std::ops::RangeInclusive<u64>) -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let log = db.open_tree("raft_log").unwrap();
        for i in indexes {
            log.insert(u64_key(i), &[1u8][..]).unwrap();
        }
        log
    }

    async fn first_key_settles_at(log: &sled::Tree, expected: u64) {
        let first = || log.first().unwrap().map(|(k, _)| crate::keys::key_u64(&k));
        for _ in 0..500 {
            if first() == Some(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("first entry {:?}, expected {expected}", first());
    }

    #[tokio::test]
    async fn a_purge_deletes_every_entry_through_its_point_and_none_above() {
        // Goal: the background task deletes exactly the purged entries, over several batches.
        let log = log_of(1..=10_000);
        let purger = LogPurger::spawn(log.clone(), None);
        purger.purge_through(9_000);
        assert_eq!(purger.through(), Some(9_000));
        first_key_settles_at(&log, 9_001).await;
        assert_eq!(log.len(), 1_000);
    }

    #[tokio::test]
    async fn leftovers_below_a_recorded_point_are_deleted_at_start() {
        // Goal: entries a crash left below the recorded purge point go at the next start.
        let log = log_of(1..=100);
        let _purger = LogPurger::spawn(log.clone(), Some(40));
        first_key_settles_at(&log, 41).await;
    }

    #[tokio::test]
    async fn the_purge_point_never_moves_back() {
        // Goal: openraft purges forward only; an older point changes nothing.
        let log = log_of(1..=10);
        let purger = LogPurger::spawn(log.clone(), None);
        purger.purge_through(5);
        purger.purge_through(3);
        assert_eq!(purger.through(), Some(5));
        first_key_settles_at(&log, 6).await;
    }
}
