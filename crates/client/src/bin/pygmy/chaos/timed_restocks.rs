//! Timed restocks (`[catalog.restock]`, #16) in the history: writes no client issued. A
//! watcher reads the catalog's applied rounds (`GET /restocks`, a linearizable read) every
//! [`WATCH_POLL`] and records each new round's books as applied restocks, `+(to - before)`
//! answering `to`, over the interval between the last read that did not list the round and the
//! first that did: the round applied inside it. The checker then counts them in conservation
//! and places them in each book's stock history like an admin's restock (only where the stock
//! was `before`), so a stale read across a timed restock is still caught.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use catalog_svc::routes::restocks::RestockLedger;
use check::{OpKind, Outcome};
use tokio::time::Instant;

use crate::chaos::collect::ReplicaReader;
use crate::chaos::workload::Recorder;

/// Pause between two reads of the rounds: the width of a timed restock's interval.
const WATCH_POLL: Duration = Duration::from_millis(250);
/// Tries to read the rounds and the stock at one point before the run.
const BASELINE_TRIES: u32 = 10;

/// Records the rounds applied after its baseline into the history.
pub(crate) struct RestockWatch {
    reader: ReplicaReader,
    catalog: Vec<String>,
    recorder: Arc<Recorder>,
    process: u64,
    seen: BTreeSet<u64>,
    /// Invocation time of the last read that answered: every round it did not list applied
    /// after it.
    unseen_since_ns: u64,
    reads: usize,
}

impl RestockWatch {
    /// A watch of the rounds on the replicas `catalog` that are not in `baseline`.
    pub(crate) fn new(
        reader: ReplicaReader,
        catalog: &[String],
        recorder: Arc<Recorder>,
        baseline: &RestockLedger,
    ) -> Self {
        let process = recorder.new_process();
        Self {
            reader,
            catalog: catalog.to_vec(),
            recorder,
            process,
            seen: baseline.rounds.iter().map(|r| r.period).collect(),
            unseen_since_ns: 0,
            reads: 0,
        }
    }

    /// Reads the rounds every [`WATCH_POLL`] until `stop`, through each replica in turn (a
    /// read that fails is skipped: the next interval is wider, never wrong).
    pub(crate) async fn run(mut self, stop: Instant) -> Self {
        while Instant::now() < stop {
            let _ = self.read_once().await;
            tokio::time::sleep(WATCH_POLL).await;
        }
        self
    }

    /// One read; records the rounds it lists for the first time.
    ///
    /// # Errors
    /// No replica answered.
    pub(crate) async fn read_once(&mut self) -> Result<()> {
        let addr = &self.catalog[self.reads % self.catalog.len()];
        self.reads += 1;
        let invoke_ns = self.recorder.now_ns();
        let ledger: RestockLedger = self.reader.get(addr, "/restocks").await?;
        for round in ledger.rounds {
            if !self.seen.insert(round.period) {
                continue;
            }
            for book in round.books {
                let delta = i64::try_from(book.stock_after).unwrap_or(i64::MAX)
                    - i64::try_from(book.stock_before).unwrap_or(i64::MAX);
                let kind = OpKind::Restock {
                    item: book.item,
                    delta,
                };
                let outcome = Outcome::Restocked {
                    stock_after: book.stock_after,
                };
                let since = self.unseen_since_ns;
                self.recorder.record(self.process, since, kind, outcome);
            }
        }
        self.unseen_since_ns = invoke_ns;
        Ok(())
    }

    /// Reads until one replica answers, at most `tries` times.
    ///
    /// # Errors
    /// None answered.
    pub(crate) async fn read_final(&mut self, tries: u32) -> Result<()> {
        for _ in 0..tries {
            if self.read_once().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(WATCH_POLL).await;
        }
        bail!("no catalog replica listed its timed restocks")
    }
}

/// The rounds and the stock at one point: `(rounds, stock)` read through `addr` with the
/// rounds unchanged across the stock read, so that the stock holds exactly those rounds.
///
/// # Errors
/// The replica cannot be read, or rounds kept applying.
pub(crate) async fn baseline(
    reader: &ReplicaReader,
    addr: &str,
) -> Result<(RestockLedger, std::collections::BTreeMap<u64, u64>)> {
    for _ in 0..BASELINE_TRIES {
        let before: RestockLedger = reader.get(addr, "/restocks").await?;
        let stock = reader.stock(addr).await?;
        let after: RestockLedger = reader.get(addr, "/restocks").await?;
        if before == after {
            return Ok((after, stock));
        }
    }
    bail!("timed restocks kept applying while the initial stock was read")
}
