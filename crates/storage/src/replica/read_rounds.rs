//! Read-index rounds shared by concurrent reads. openraft 0.9 confirms its leadership with a
//! round of heartbeats to every voter for each `get_read_log_id` call, so under load each
//! linearizable read cost the leader one message to each follower. Here a leader's reads queue,
//! and one task runs a round for every read queued before it started: a read is still answered
//! by a confirmation that began after it arrived (what makes it linearizable), and a round
//! answers as many reads as arrived during the previous one. A lone read waits for nothing.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::LeaderReply;
use crate::machine::ServiceMachine;
use crate::types::RaftOf;

/// Reads queued at most; past it a read waits for room.
const QUEUED_MAX: usize = 4096;

/// A read waiting for the next round's read index.
type Waiting = oneshot::Sender<LeaderReply<u64>>;

/// The queue of reads waiting for a round; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ReadRounds {
    queue: mpsc::Sender<Waiting>,
}

impl ReadRounds {
    /// The queue, with its task spawned: it runs rounds on `raft`, each given `round_wait` at
    /// most, until every handle is dropped.
    pub(crate) fn spawn<M: ServiceMachine>(raft: RaftOf<M>, round_wait: Duration) -> Self {
        Self::spawn_with(move || {
            let raft = raft.clone();
            async move { round(&raft, round_wait).await }
        })
    }

    /// The queue, with a task that runs `round` for every read queued before it starts.
    fn spawn_with<F, Fut>(round: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = LeaderReply<u64>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        tokio::spawn(run_rounds(round, waiting));
        Self { queue }
    }

    /// The read index of the first round that starts after this call, as the leader's
    /// `get_read_log_id` answers it, waiting `wait` at most.
    pub(crate) async fn read_index(&self, wait: Duration) -> LeaderReply<u64> {
        let (answer, answered) = oneshot::channel();
        let stopped = || LeaderReply::Unavailable("the replica is stopping".into());
        let late =
            || LeaderReply::Unavailable("leadership not confirmed before the deadline".into());
        match timeout(wait, self.queue.send(answer)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return stopped(),
            Err(_) => return late(),
        }
        match timeout(wait, answered).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => stopped(),
            Err(_) => late(),
        }
    }
}

/// Runs one round for every read queued before it starts, until the queue closes.
async fn run_rounds<F, Fut>(mut round: F, mut queue: mpsc::Receiver<Waiting>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = LeaderReply<u64>>,
{
    while let Some(first) = queue.recv().await {
        let mut waiting = vec![first];
        while let Ok(next) = queue.try_recv() {
            waiting.push(next);
        }
        // Reads that gave up need no round.
        waiting.retain(|w| !w.is_closed());
        if waiting.is_empty() {
            continue;
        }
        let reply = round().await;
        for w in waiting {
            let _ = w.send(reply.clone());
        }
    }
}

/// One confirmation of leadership with a quorum: the read index, or why there is none.
async fn round<M: ServiceMachine>(raft: &RaftOf<M>, wait: Duration) -> LeaderReply<u64> {
    match timeout(wait, raft.get_read_log_id()).await {
        Err(_) => LeaderReply::Unavailable("leadership not confirmed before the deadline".into()),
        Ok(Ok((read_log_id, _applied))) => LeaderReply::Done(read_log_id.map_or(0, |l| l.index)),
        Ok(Err(e)) => match e.forward_to_leader() {
            Some(f) => LeaderReply::NotLeader(f.leader_id),
            // One heartbeat round failed (a slow or dead peer): the caller retries.
            None => LeaderReply::Unavailable(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn a_read_is_answered_by_a_round_that_began_after_it_and_rounds_are_shared() {
        // Goal: reads queued together share one round; a read that arrives while a round runs
        // gets the next one (an older confirmation could miss a write acknowledged before it).
        // Method: rounds numbered 1, 2, ...; the first held until the second read is queued.
        let rounds = Arc::new(AtomicU64::new(0));
        let release = Arc::new(Notify::new());
        let (counted, held) = (Arc::clone(&rounds), Arc::clone(&release));
        let reads = ReadRounds::spawn_with(move || {
            let (counted, held) = (Arc::clone(&counted), Arc::clone(&held));
            async move {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 1 {
                    held.notified().await;
                }
                LeaderReply::Done(n)
            }
        });
        let wait = Duration::from_secs(5);
        let first = tokio::spawn({
            let reads = reads.clone();
            async move { reads.read_index(wait).await }
        });
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let during: Vec<_> = (0..3)
            .map(|_| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.read_index(wait).await })
            })
            .collect();
        // Let the three queue behind the running round before it ends.
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.notify_one();
        assert!(matches!(first.await.unwrap(), LeaderReply::Done(1)));
        for read in during {
            assert!(matches!(read.await.unwrap(), LeaderReply::Done(2)));
        }
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            2,
            "the three shared one round"
        );
    }
}
