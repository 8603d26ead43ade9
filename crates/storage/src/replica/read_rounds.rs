//! Read-index rounds shared by concurrent reads. openraft 0.9 confirms its leadership with a
//! round of heartbeats to every voter for each `get_read_log_id` call, so under load each
//! linearizable read cost the leader one message to each follower. Here a leader's reads queue,
//! and one task runs a round for every read queued before it started: a read is still answered
//! by a confirmation that began after it arrived (what makes it linearizable), and a round
//! answers as many reads as arrived during the previous one. A lone read waits for nothing.
//!
//! A follower's reads queue the same way: each round is one read-index request to the leader,
//! for every read queued before it was sent, instead of one request per read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::{member_addr, LeaderReply};
use crate::machine::ServiceMachine;
use crate::network::PeerClient;
use crate::peer_routes::READ_INDEX_PATH;
use crate::types::{RaftOf, ReplicaId};

/// Reads queued at most; past it a read waits for room.
const QUEUED_MAX: usize = 4096;

/// A read waiting for the next round's read index, and where it would have it asked (`H`).
type Waiting<H> = (H, oneshot::Sender<LeaderReply<u64>>);

/// The queue of reads waiting for a round; cheap to clone. A round goes where the first read
/// it answers would have it go (`H`: the leader a follower asks; nothing at the leader).
#[derive(Debug)]
pub(crate) struct ReadRounds<H = ()> {
    queue: mpsc::Sender<Waiting<H>>,
}

impl<H> Clone for ReadRounds<H> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl ReadRounds {
    /// The leader's queue, with its task spawned: it runs rounds on `raft`, each given
    /// `round_wait` at most, until every handle is dropped.
    pub(crate) fn spawn<M: ServiceMachine>(raft: RaftOf<M>, round_wait: Duration) -> Self {
        Self::spawn_with(move |()| {
            let raft = raft.clone();
            async move { round(&raft, round_wait).await }
        })
    }
}

impl ReadRounds<ReplicaId> {
    /// A follower's queue: each round asks the leader named by its first read, through
    /// `peers`, for its read index (at the address of `raft`'s membership, else `configured`),
    /// within `round_wait`.
    pub(crate) fn spawn_forwarding<M: ServiceMachine>(
        raft: RaftOf<M>,
        peers: PeerClient,
        configured: Arc<BTreeMap<ReplicaId, String>>,
        round_wait: Duration,
    ) -> Self {
        Self::spawn_with(move |leader| {
            let addr = member_addr(&raft, &configured, leader);
            let peers = peers.clone();
            async move {
                let Some(addr) = addr else {
                    return LeaderReply::Unavailable(format!("unknown leader id {leader}"));
                };
                let asked = peers.post(&addr, READ_INDEX_PATH, &(), round_wait);
                asked
                    .await
                    .unwrap_or_else(|e| LeaderReply::Unavailable(e.to_string()))
            }
        })
    }
}

impl<H: Send + 'static> ReadRounds<H> {
    /// The queue, with a task that runs `round` for every read queued before it starts.
    fn spawn_with<F, Fut>(round: F) -> Self
    where
        F: FnMut(H) -> Fut + Send + 'static,
        Fut: Future<Output = LeaderReply<u64>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        tokio::spawn(run_rounds(round, waiting));
        Self { queue }
    }

    /// The read index of the first round that starts after this call, as the leader's
    /// `get_read_log_id` answers it (directly, or through its read-index route), waiting `wait`
    /// at most.
    pub(crate) async fn read_index(&self, hint: H, wait: Duration) -> LeaderReply<u64> {
        let (answer, answered) = oneshot::channel();
        let stopped = || LeaderReply::Unavailable("the replica is stopping".into());
        let late =
            || LeaderReply::Unavailable("leadership not confirmed before the deadline".into());
        match timeout(wait, self.queue.send((hint, answer))).await {
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
async fn run_rounds<H, F, Fut>(mut round: F, mut queue: mpsc::Receiver<Waiting<H>>)
where
    F: FnMut(H) -> Fut,
    Fut: Future<Output = LeaderReply<u64>>,
{
    while let Some(first) = queue.recv().await {
        let mut waiting = vec![first];
        while let Ok(next) = queue.try_recv() {
            waiting.push(next);
        }
        let mut hint = None;
        let mut answers = Vec::with_capacity(waiting.len());
        // Reads that gave up need no round.
        for (h, answer) in waiting.into_iter().filter(|(_, w)| !w.is_closed()) {
            hint.get_or_insert(h);
            answers.push(answer);
        }
        let Some(hint) = hint else { continue };
        let reply = round(hint).await;
        for answer in answers {
            let _ = answer.send(reply.clone());
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
        let reads = ReadRounds::spawn_with(move |()| {
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
            async move { reads.read_index((), wait).await }
        });
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let during: Vec<_> = (0..3)
            .map(|_| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.read_index((), wait).await })
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

    #[tokio::test]
    async fn a_round_goes_where_its_oldest_read_would_have_it_go() {
        // Goal: reads that name different leaders share a round, which asks the one the oldest
        // read named (the others' answers are as good: any leader's confirmation after they
        // arrived). Method: the first round held until two reads naming 7 then 8 are queued.
        let release = Arc::new(Notify::new());
        let held = Arc::clone(&release);
        let reads = ReadRounds::spawn_with(move |leader: u64| {
            let held = Arc::clone(&held);
            async move {
                if leader == 1 {
                    held.notified().await;
                }
                LeaderReply::Done(leader)
            }
        });
        let wait = Duration::from_secs(5);
        let read = |leader: u64| {
            let reads = reads.clone();
            tokio::spawn(async move { reads.read_index(leader, wait).await })
        };
        let first = read(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let seven = read(7);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let eight = read(8);
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_one();
        assert!(matches!(first.await.unwrap(), LeaderReply::Done(1)));
        assert!(matches!(seven.await.unwrap(), LeaderReply::Done(7)));
        assert!(matches!(eight.await.unwrap(), LeaderReply::Done(7)));
    }
}
