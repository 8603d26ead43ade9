//! Group commit: one serialized blocking flusher per sled `Db`.
//!
//! sled 0.34.7's `flush_async` can hang when called concurrently, so every durable
//! acknowledgement goes through this one task, which runs the blocking `Db::flush` on a blocking
//! thread and answers every waiter that arrived before that flush started. Each flush is timed
//! and counted in log entries (`metrics::FlushMetrics`).

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::FlushMetrics;

/// Waiters queued at most; a full queue makes callers wait (back-pressure), never drops them.
const FLUSH_WAITERS_MAX: usize = 4096;

/// What a waiter is told once its flush ended.
type Answer = Box<dyn FnOnce(Result<(), sled::Error>) + Send>;

/// One caller waiting for the next flush, and the log entries it wrote before asking.
struct Waiter {
    answer: Answer,
    log_entries: u64,
}

/// Handle to a Db's flusher task; cloning shares the task.
#[derive(Clone, Debug)]
pub struct Flusher {
    tx: mpsc::Sender<Waiter>,
}

impl Flusher {
    /// Spawns the flusher task of `db` on the current tokio runtime, recording into `metrics`.
    ///
    /// The task runs until every `Flusher` handle is dropped.
    pub fn spawn(db: sled::Db, metrics: FlushMetrics) -> Self {
        let (tx, rx) = mpsc::channel(FLUSH_WAITERS_MAX);
        tokio::spawn(run(db, rx, metrics));
        Self { tx }
    }

    /// Returns once every write made before this call is flushed to disk.
    ///
    /// # Errors
    /// The flush failed, or the flusher is gone (the runtime is shutting down).
    pub async fn flush(&self) -> Result<(), sled::Error> {
        self.flush_log_entries(0).await
    }

    /// As [`Flusher::flush`], for a caller that wrote `log_entries` Raft log entries (counted
    /// in the flush's batch size).
    ///
    /// # Errors
    /// As [`Flusher::flush`].
    pub async fn flush_log_entries(&self, log_entries: u64) -> Result<(), sled::Error> {
        let (answer, rx) = oneshot::channel();
        self.then_flush(log_entries, move |flushed| {
            // A waiter that gave up (its future was dropped) needs no answer.
            let _ = answer.send(flushed);
        })
        .await;
        rx.await.map_err(|_| gone())?
    }

    /// Queues `answer` to be called with the outcome of the next flush, for a caller that wrote
    /// `log_entries` Raft log entries; returns once it is queued, not flushed. Answers are called
    /// in the order they were queued, so a later answer never reports a flush an earlier one
    /// has not. If the flusher is gone, `answer` is called at once with an error.
    pub async fn then_flush(
        &self,
        log_entries: u64,
        answer: impl FnOnce(Result<(), sled::Error>) + Send + 'static,
    ) {
        let waiter = Waiter {
            answer: Box::new(answer),
            log_entries,
        };
        if let Err(mpsc::error::SendError(waiter)) = self.tx.send(waiter).await {
            (waiter.answer)(Err(gone()));
        }
    }
}

fn gone() -> sled::Error {
    sled::Error::ReportableBug("flusher task is gone".into())
}

// Runs until every sender is dropped.
async fn run(db: sled::Db, mut rx: mpsc::Receiver<Waiter>, metrics: FlushMetrics) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        // Everyone already queued is covered by the flush that starts next.
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let db = db.clone();
        let started = Instant::now();
        let result = match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(r) => r.map(|_| ()),
            Err(join) => Err(sled::Error::ReportableBug(format!(
                "flush thread failed: {join}"
            ))),
        };
        metrics.duration.record(started.elapsed());
        let log_entries: u64 = waiters.iter().map(|w| w.log_entries).sum();
        metrics.entries.record(log_entries as f64);
        for w in waiters {
            (w.answer)(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::StoreMetrics;

    #[tokio::test]
    async fn concurrent_waiters_all_get_answered() {
        // Goal: many concurrent flushes complete (none hangs, as concurrent flush_async can).
        let db = sled::Config::new().temporary(true).open().unwrap();
        let flusher = Flusher::spawn(db.clone(), StoreMetrics::unrecorded().flush);
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let (db, flusher) = (db.clone(), flusher.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &[1u8][..]).unwrap();
                flusher.flush().await.unwrap();
            }));
        }
        for t in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(30), t)
                .await
                .expect("flush finished")
                .unwrap();
        }
        assert_eq!(db.len(), 64);
    }

    #[tokio::test]
    async fn answers_come_in_the_order_they_were_queued() {
        // Goal: openraft learns of log flushes in log order, so a later append's answer never
        // arrives before an earlier one's.
        let db = sled::Config::new().temporary(true).open().unwrap();
        let flusher = Flusher::spawn(db.clone(), StoreMetrics::unrecorded().flush);
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..200u64 {
            db.insert(i.to_be_bytes(), &[1u8][..]).unwrap();
            let tx = tx.clone();
            flusher
                .then_flush(1, move |flushed| tx.send((i, flushed.is_ok())).unwrap())
                .await;
        }
        drop(tx);
        let mut answered = Vec::new();
        while let Some(answer) = rx.recv().await {
            answered.push(answer);
        }
        let expected: Vec<_> = (0..200).map(|i| (i, true)).collect();
        assert_eq!(answered, expected);
    }
}
