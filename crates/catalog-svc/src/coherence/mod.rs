//! The catalog leader's side of cache coherence (DESIGN.md section 6).
//!
//! Before a write that changes books is proposed, every frontend holding a lease is told which
//! slots (books, topics, lists) it changes ([`CacheNotice::Begin`]); one that cannot be reached
//! is waited out until its lease ends, and its session ends with it. Once the write applied,
//! they are told at which index ([`CacheNotice::Done`]). A lease grant carries the writes still
//! in flight and the applied index, so a frontend that missed a `Done` catches up. A new
//! leader stays quiet for one lease so that leases granted by its predecessor have run out.
//!
//! - `registry`: the frontends and their leases; `notify`: the HTTP side of notices.

mod notify;
mod registry;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use api::coherence::{CacheNotice, LeaseGrant, Slot, WriteId, WriteNotice};
use futures::future::{join_all, BoxFuture};
use storage::{FenceEntry, StateView, WriteFence};
use tokio::time::Instant;

use crate::command::CatalogCommand;
use crate::machine::CatalogMachine;
use crate::state::book;
use notify::{Delivery, NoticeSender};
use registry::FrontendRegistry;

/// How long a `Done` notice may take; it only saves the frontend a round of misses.
const DONE_TIMEOUT: Duration = Duration::from_secs(1);

/// The writes of this leader's current term that were announced and have not applied yet.
/// Sequence numbers run on across terms, so a late `after` never hits another term's write.
#[derive(Debug, Default)]
struct InFlight {
    term: u64,
    last_seq: u64,
    writes: BTreeMap<u64, WriteNotice>,
    /// Highest index a finished write applied at: Raft's metrics may not show it yet.
    applied: u64,
}

impl InFlight {
    /// Forgets an earlier term's writes: frontends reset their caches on a new term.
    fn enter(&mut self, term: u64) {
        if self.term != term {
            self.term = term;
            self.writes.clear();
        }
    }
}

/// The catalog's [`WriteFence`]: lease registry, writes in flight, notices.
#[derive(Debug, Clone)]
pub struct CacheFence {
    inner: Arc<FenceInner>,
}

#[derive(Debug)]
struct FenceInner {
    lease: Duration,
    registry: FrontendRegistry,
    in_flight: Mutex<InFlight>,
    sender: NoticeSender,
}

impl CacheFence {
    /// A fence granting leases of `lease`, sending notices with the cluster `token`.
    pub fn new(lease: Duration, token: &str) -> Self {
        Self {
            inner: Arc::new(FenceInner {
                lease,
                registry: FrontendRegistry::default(),
                in_flight: Mutex::new(InFlight::default()),
                sender: NoticeSender::new(token),
            }),
        }
    }

    /// Registers (or renews) `frontend` as of `received`, before leadership is confirmed: a
    /// write begun from now on tells it. Its session.
    pub(crate) fn register(&self, frontend: &str, notify_url: &str, received: Instant) -> u64 {
        let lease = self.inner.lease;
        self.inner
            .registry
            .renew(frontend, notify_url, received, lease)
    }

    /// The grant for a frontend registered under `session`, once leadership of `term` was
    /// confirmed. Its applied index is at or above every write it no longer lists in flight:
    /// the highest index a finished write applied at, or `applied_index` if higher.
    pub(crate) fn grant(&self, term: u64, session: u64, applied_index: u64) -> LeaseGrant {
        let (in_flight, next_seq, applied) = {
            let mut state = self.lock_in_flight();
            state.enter(term);
            let in_flight = state.writes.values().cloned().collect();
            (in_flight, state.last_seq + 1, state.applied)
        };
        LeaseGrant {
            term,
            session,
            lease_ms: u64::try_from(self.inner.lease.as_millis()).unwrap_or(u64::MAX),
            applied_index: applied_index.max(applied),
            in_flight,
            next_seq,
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces a write to every frontend holding a lease; waits out those that cannot be
    /// reached (their session ends).
    async fn announce(&self, notice: WriteNotice, deadline: Instant) -> FenceEntry {
        let WriteId { term, seq } = notice.write;
        let begin = CacheNotice::Begin(notice);
        let registrations = self.inner.registry.live(Instant::now());
        let sends = registrations.iter().map(|r| {
            let until = r.expires.min(deadline);
            self.inner.sender.send(&r.notify_url, &begin, until)
        });
        let deliveries = join_all(sends).await;
        let mut wait_until = None;
        for (r, delivery) in registrations.iter().zip(deliveries) {
            match delivery {
                Delivery::Taken(known) if known > term => {
                    self.forget(seq);
                    return FenceEntry::Deposed;
                }
                Delivery::Taken(_) => {}
                Delivery::Failed(reason) => {
                    tracing::warn!(frontend = %r.frontend, url = %r.notify_url, %reason, "a frontend missed a write notice; waiting out its lease");
                    self.inner.registry.end_session(r);
                    wait_until = wait_until.max(Some(r.expires));
                }
            }
        }
        if let Some(until) = wait_until {
            if until > deadline {
                self.forget(seq);
                return FenceEntry::Refused(
                    "a frontend's lease outlasts the write deadline".into(),
                );
            }
            tokio::time::sleep_until(until).await;
        }
        FenceEntry::Go(Some(seq))
    }

    fn forget(&self, seq: u64) -> Option<WriteNotice> {
        self.lock_in_flight().writes.remove(&seq)
    }
}

impl WriteFence<CatalogMachine> for CacheFence {
    fn leader_quiet(&self) -> Duration {
        self.inner.lease
    }

    fn before<'a>(
        &'a self,
        view: &'a StateView,
        command: &'a CatalogCommand,
        term: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, FenceEntry> {
        Box::pin(async move {
            let slots = slots_changed(view, command);
            if slots.is_empty() {
                return FenceEntry::Go(None);
            }
            let notice = {
                let mut state = self.lock_in_flight();
                state.enter(term);
                state.last_seq += 1;
                let notice = WriteNotice {
                    write: WriteId {
                        term,
                        seq: state.last_seq,
                    },
                    slots,
                };
                state.writes.insert(notice.write.seq, notice.clone());
                notice
            };
            self.announce(notice, deadline).await
        })
    }

    fn after(&self, ticket: u64, applied: Option<u64>) {
        let notice = {
            let mut state = self.lock_in_flight();
            let notice = state.writes.remove(&ticket);
            // Under the same lock: a grant that no longer lists the write has its index.
            if let (Some(_), Some(index)) = (&notice, applied) {
                state.applied = state.applied.max(index);
            }
            notice
        };
        let (Some(notice), Some(index)) = (notice, applied) else {
            // Never applies here: the next grant drops it from the frontends' writes in flight.
            return;
        };
        let done = CacheNotice::Done { notice, index };
        let fence = self.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + DONE_TIMEOUT;
            let registrations = fence.inner.registry.live(Instant::now());
            let sends = registrations
                .iter()
                .map(|r| fence.inner.sender.send(&r.notify_url, &done, deadline));
            // A lost Done costs the frontend misses until its next grant, nothing more.
            join_all(sends).await;
        });
    }
}

/// What `command` may change, as cache slots (empty: no book).
pub fn slots_changed(view: &StateView, command: &CatalogCommand) -> Vec<Slot> {
    let item = match command {
        CatalogCommand::Seed(_) => return vec![Slot::Everything],
        CatalogCommand::Confirm(_) => return Vec::new(),
        CatalogCommand::Reserve(r) => r.item,
        CatalogCommand::Release(r) => r.item,
        CatalogCommand::UpdateBook(u) => u.item,
    };
    let mut slots = vec![Slot::Book(item), Slot::AllBooks];
    if let Some(book) = book(view, item) {
        slots.push(Slot::Topic(book.topic));
    }
    slots
}

#[cfg(test)]
mod tests {
    use api::Book;
    use storage::scratch::ScratchState;

    use super::*;
    use crate::command::{Confirm, Reserve, Seed};

    const LEASE: Duration = Duration::from_secs(1);

    fn catalog() -> ScratchState<CatalogMachine> {
        let state = ScratchState::new();
        let book = Book {
            id: 1,
            title: "t".into(),
            topic: "ds".into(),
            cost: 1,
            stock: 5,
        };
        state.apply(&CatalogCommand::Seed(Seed { books: vec![book] }));
        state
    }

    fn reserve(key: &str) -> CatalogCommand {
        CatalogCommand::Reserve(Reserve {
            key: key.into(),
            item: 1,
            quantity: 1,
        })
    }

    async fn begin(
        fence: &CacheFence,
        view: &StateView,
        command: &CatalogCommand,
        term: u64,
    ) -> Option<u64> {
        let deadline = Instant::now() + LEASE;
        match fence.before(view, command, term, deadline).await {
            FenceEntry::Go(ticket) => ticket,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_write_changes_its_book_its_topic_and_the_full_list() {
        let state = catalog();
        let slots = slots_changed(&state.view(), &reserve("k"));
        assert_eq!(
            slots,
            [Slot::Book(1), Slot::AllBooks, Slot::Topic("ds".into())]
        );
        let confirm = CatalogCommand::Confirm(Confirm { key: "k".into() });
        assert!(slots_changed(&state.view(), &confirm).is_empty());
    }

    #[tokio::test]
    async fn grants_list_writes_in_flight_and_cover_finished_ones_with_their_index() {
        // Goal: a grant lists the writes begun and not finished; once one finished at index 9,
        // the grant no longer lists it and its applied index is at least 9, whatever Raft's
        // metrics say; a new term forgets the old term's writes.
        let state = catalog();
        let view = state.view();
        let fence = CacheFence::new(LEASE, "token");
        let first = begin(&fence, &view, &reserve("a"), 2).await.unwrap();
        let second = begin(&fence, &view, &reserve("b"), 2).await.unwrap();
        let grant = fence.grant(2, 1, 5);
        let listed: Vec<u64> = grant.in_flight.iter().map(|w| w.write.seq).collect();
        assert_eq!(
            (listed, grant.next_seq, grant.applied_index),
            (vec![first, second], second + 1, 5)
        );
        fence.after(first, Some(9));
        let grant = fence.grant(2, 1, 5);
        assert_eq!((grant.in_flight.len(), grant.applied_index), (1, 9));
        fence.after(second, None);
        assert!(fence.grant(2, 1, 5).in_flight.is_empty());
        let confirm = CatalogCommand::Confirm(Confirm { key: "a".into() });
        assert_eq!(
            begin(&fence, &view, &confirm, 2).await,
            None,
            "nothing to announce"
        );
        begin(&fence, &view, &reserve("c"), 2).await.unwrap();
        let next_term = fence.grant(3, 1, 12);
        assert!(next_term.in_flight.is_empty(), "{next_term:?}");
        assert!(
            next_term.next_seq > second,
            "sequence numbers run on across terms"
        );
    }
}
