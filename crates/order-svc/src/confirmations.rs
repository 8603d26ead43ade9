//! Confirmations of sold reservations, sent to the catalog in batches.
//!
//! Once an order commits, its reservation is marked sold at the catalog. That is best effort (a
//! held reservation of a committed order already counts as sold), so it need not cost one catalog
//! entry and one request per buy: keys are queued, and one sender takes every key queued while
//! its previous batch was on its way, or during [`LINGER`] after the first, and sends them
//! together as one `ConfirmAll`. Nothing waits on a confirmation, so it may wait for company: at
//! one buy at a time each would otherwise be a catalog entry of its own, as many as the
//! reservations.

use std::sync::Arc;
use std::time::Duration;

use api::CONFIRM_ALL_KEYS_MAX;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalog_client::CatalogClient;

/// How long one batch may take (each catalog replica is tried once at most): past it the batch
/// is dropped and the next one goes; its reservations stay `held`.
const BATCH_DEADLINE: Duration = Duration::from_secs(8);
/// How long the sender waits after a batch's first key for others to join it.
pub const LINGER: Duration = Duration::from_millis(100);
/// Keys queued at most; past it a confirmation is dropped (its reservation stays `held`).
const QUEUED_KEYS_MAX: usize = 16 * CONFIRM_ALL_KEYS_MAX;

/// The queue of keys to confirm; cheap to clone.
#[derive(Debug, Clone)]
pub struct Confirmations {
    queue: mpsc::Sender<String>,
}

impl Confirmations {
    /// The queue, and its sender task to spawn: it sends batches through `catalog`, each
    /// gathered for `linger` ([`LINGER`] in service), until `cancel` (whatever is queued then
    /// stays held).
    pub fn new(
        catalog: Arc<CatalogClient>,
        linger: Duration,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (queue, keys) = mpsc::channel(QUEUED_KEYS_MAX);
        (Self { queue }, send_batches(catalog, keys, linger, cancel))
    }

    /// Queues `key` to be confirmed; never waits.
    pub fn confirm(&self, key: String) {
        if self.queue.try_send(key).is_err() {
            tracing::debug!("confirmation queue full or closed; the reservation stays held");
        }
    }
}

/// Sends every key queued since the last batch, and during `linger` after its first, as one
/// batch, until `cancel` or the queue closes.
async fn send_batches(
    catalog: Arc<CatalogClient>,
    mut keys: mpsc::Receiver<String>,
    linger: Duration,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            key = keys.recv() => match key {
                Some(key) => key,
                None => return,
            },
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(linger) => {}
        }
        let batch = drain_batch(first, &mut keys, CONFIRM_ALL_KEYS_MAX);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = catalog.confirm_all(batch, Instant::now() + BATCH_DEADLINE) => {}
        }
    }
}

/// `first` and whatever else is queued now, up to `max` in all: the next batch of a sender
/// that takes what queued while it was busy (confirmations, and `completions`).
pub(crate) fn drain_batch<T>(first: T, queue: &mut mpsc::Receiver<T>, max: usize) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::FakeCatalog;

    #[tokio::test]
    async fn a_batch_waits_its_linger_for_keys_queued_after_its_first() {
        // Goal: a key queued while the batch's first waits out the linger goes in the same
        // `ConfirmAll` (without the linger, the first key was sent alone at once).
        let catalog = FakeCatalog::start().await;
        let client = Arc::new(CatalogClient::new(vec![catalog.addr.clone()], "t".into()));
        let cancel = CancellationToken::new();
        let linger = Duration::from_secs(2);
        let (confirmations, sender) = Confirmations::new(client, linger, cancel.clone());
        let sender = tokio::spawn(sender);
        confirmations.confirm("a".into());
        tokio::time::sleep(Duration::from_millis(200)).await;
        confirmations.confirm("b".into());
        let deadline = Instant::now() + Duration::from_secs(10);
        while catalog.confirm_batches().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(catalog.confirm_batches(), [2]);
        cancel.cancel();
        sender.await.unwrap();
        catalog.stop().await;
    }

    #[tokio::test]
    async fn a_batch_takes_what_is_queued_up_to_the_most_keys_a_request_carries() {
        // Goal: one batch per round: the key that woke the sender plus every key queued, never
        // more than one request may carry; the rest waits for the next batch.
        let (tx, mut rx) = mpsc::channel(QUEUED_KEYS_MAX);
        for i in 0..CONFIRM_ALL_KEYS_MAX + 10 {
            tx.try_send(format!("k{i}")).unwrap();
        }
        let first = rx.recv().await.unwrap();
        let batch = drain_batch(first, &mut rx, CONFIRM_ALL_KEYS_MAX);
        assert_eq!(batch.len(), CONFIRM_ALL_KEYS_MAX);
        assert_eq!((batch[0].as_str(), batch[1].as_str()), ("k0", "k1"));
        let next = drain_batch(rx.recv().await.unwrap(), &mut rx, CONFIRM_ALL_KEYS_MAX);
        assert_eq!(next.len(), 10);
        let lone = {
            tx.try_send("alone".into()).unwrap();
            drain_batch(rx.recv().await.unwrap(), &mut rx, CONFIRM_ALL_KEYS_MAX)
        };
        assert_eq!(lone, ["alone"]);
    }
}
