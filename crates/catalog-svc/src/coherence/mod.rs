//! The catalog leader's side of cache coherence (DESIGN.md section 6).
//!
//! Before a write that changes books is proposed, every frontend holding a lease is told which
//! slots (books, topics, lists) it changes ([`CacheNotice::Begin`]); one that cannot be reached
//! is waited out until its lease ends, and its session ends with it. Once the write applied,
//! they are told at which index ([`CacheNotice::Done`]). A lease grant carries the writes still
//! in flight and the applied index, so a frontend that missed a `Done` catches up. A new
//! leader serves nothing until leases granted by its predecessor have run out, and a replica
//! refuses votes while leases it granted may run (`storage`'s `replica::handover`).
//!
//! - `registry`: the frontends and their leases; `in_flight`: the writes announced and not
//!   applied; `notify`: the HTTP side of notices.
//!
//! Liveness: a listed write keeps its slots out of every frontend's cache, so every write
//! leaves the list on every path: applied or refused (`after`), refused or deposed before
//! proposing, a `before` future dropped mid-way (its request was cancelled: [`Unproposed`]),
//! and, for a path nobody thought of, two leases past its deadline ([`InFlight::expire`]).

mod in_flight;
mod notify;
mod registry;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use api::coherence::{CacheNotice, LeaseGrant, Slot, WriteId, WriteNotice};
use futures::future::{join_all, BoxFuture};
use runtime::metric_catalog::CATALOG_FENCE_OVERDUE_WRITES;
use storage::{FenceEntry, StateView, WriteFence};
use tokio::time::Instant;

use crate::command::CatalogCommand;
use crate::machine::CatalogMachine;
use crate::reads::book;
use in_flight::InFlight;
use notify::{Delivery, NoticeSender};
use registry::FrontendRegistry;

/// How long a `Done` notice may take; it only saves the frontend a round of misses.
const DONE_TIMEOUT: Duration = Duration::from_secs(1);

/// Leases past its deadline after which a write still listed is resolved by the leader.
const OVERDUE_LEASES: u32 = 2;

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
    /// confirmed, with the leader's `applied_index` and `last_log_index` now. Its applied index
    /// is at or above every write it no longer lists in flight; writes overdue are resolved
    /// first ([`InFlight::expire`]).
    pub(crate) fn grant(
        &self,
        term: u64,
        session: u64,
        applied_index: u64,
        last_log_index: u64,
    ) -> LeaseGrant {
        let overdue = self.inner.lease * OVERDUE_LEASES;
        let (in_flight, next_seq, settled) = {
            let mut state = self.lock_in_flight();
            state.enter(term);
            let expired = state.expire(Instant::now(), overdue, last_log_index);
            for notice in &expired {
                // Every path we know unlists a write on time: this is a bug to report.
                tracing::error!(write = ?notice.write, last_log_index, "a write stayed in flight two leases past its deadline; resolved at the last log index");
                metrics::counter!(CATALOG_FENCE_OVERDUE_WRITES.name).increment(1);
            }
            state.listing(term)
        };
        LeaseGrant {
            term,
            session,
            lease_ms: u64::try_from(self.inner.lease.as_millis()).unwrap_or(u64::MAX),
            applied_index: applied_index.max(settled),
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
                Delivery::Taken(known) if known > term => return FenceEntry::Deposed,
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
                return FenceEntry::Refused(
                    "a frontend's lease outlasts the write deadline".into(),
                );
            }
            tokio::time::sleep_until(until).await;
        }
        FenceEntry::Go(Some(seq))
    }

    fn finish(&self, seq: u64, applied: Option<u64>) -> Option<WriteNotice> {
        self.lock_in_flight().finish(seq, applied)
    }
}

/// A write announced and not proposed: unlisted when dropped, unless it goes ahead. `before`
/// holds one across its awaits, so a cancelled request cannot leave its write listed.
struct Unproposed<'a> {
    fence: &'a CacheFence,
    seq: Option<u64>,
}

impl Unproposed<'_> {
    /// The write is proposed: from now on `after` unlists it.
    fn proceed(mut self) {
        self.seq = None;
    }
}

impl Drop for Unproposed<'_> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq {
            // Never proposed, so it never applies.
            self.fence.finish(seq, None);
        }
    }
}

impl WriteFence<CatalogMachine> for CacheFence {
    fn lease(&self) -> Duration {
        self.inner.lease
    }

    fn granted_until(&self) -> Option<Instant> {
        self.inner.registry.granted_until()
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
            let notice = self.lock_in_flight().begin(term, slots, deadline);
            let unproposed = Unproposed {
                fence: self,
                seq: Some(notice.write.seq),
            };
            let entry = self.announce(notice, deadline).await;
            if matches!(entry, FenceEntry::Go(_)) {
                unproposed.proceed();
            }
            entry
        })
    }

    fn after(&self, ticket: u64, applied: Option<u64>) {
        let (Some(notice), Some(index)) = (self.finish(ticket, applied), applied) else {
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
    let items = match command {
        CatalogCommand::Seed(_) => return vec![Slot::Everything],
        CatalogCommand::Confirm(_)
        | CatalogCommand::ConfirmAll(_)
        | CatalogCommand::FenceOrders(_) => return Vec::new(),
        CatalogCommand::Reserve(r) => vec![r.item],
        CatalogCommand::ReserveAll(r) => r.reservations.iter().map(|r| r.item).collect(),
        CatalogCommand::Release(r) => vec![r.item],
        CatalogCommand::UpdateBook(u) => vec![u.item],
        // Only the books it lists may change (see `RestockDue`), like any other write.
        CatalogCommand::RestockDue(r) => r.items.clone(),
    };
    if items.is_empty() {
        return Vec::new();
    }
    let mut slots = vec![Slot::AllBooks];
    for item in items {
        if slots.contains(&Slot::Book(item)) {
            continue;
        }
        slots.push(Slot::Book(item));
        if let Some(book) = book(view, item) {
            let topic = Slot::Topic(book.topic);
            if !slots.contains(&topic) {
                slots.push(topic);
            }
        }
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
            [Slot::AllBooks, Slot::Book(1), Slot::Topic("ds".into())]
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
        let grant = fence.grant(2, 1, 5, 5);
        let listed: Vec<u64> = grant.in_flight.iter().map(|w| w.write.seq).collect();
        assert_eq!(
            (listed, grant.next_seq, grant.applied_index),
            (vec![first, second], second + 1, 5)
        );
        fence.after(first, Some(9));
        let grant = fence.grant(2, 1, 5, 5);
        assert_eq!((grant.in_flight.len(), grant.applied_index), (1, 9));
        fence.after(second, None);
        assert!(fence.grant(2, 1, 5, 5).in_flight.is_empty());
        let confirm = CatalogCommand::Confirm(Confirm { key: "a".into() });
        assert_eq!(
            begin(&fence, &view, &confirm, 2).await,
            None,
            "nothing to announce"
        );
        begin(&fence, &view, &reserve("c"), 2).await.unwrap();
        let next_term = fence.grant(3, 1, 12, 12);
        assert!(next_term.in_flight.is_empty(), "{next_term:?}");
        assert!(
            next_term.next_seq > second,
            "sequence numbers run on across terms"
        );
    }

    #[tokio::test]
    async fn a_write_whose_caller_stops_waiting_while_announcing_leaves_the_list() {
        // Goal: the `before` of a write is dropped mid-way (its request was cancelled) while a
        // frontend has not answered its notice; the write is then no longer in flight, so the
        // frontends cache its slots again. Before the fix it stayed listed for the whole term.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let state = catalog();
        let view = state.view();
        // A long lease: the notice is still waiting when the caller gives up.
        let fence = CacheFence::new(Duration::from_secs(600), "token");
        let session = fence.register("f1", &url, Instant::now());
        let deadline = Instant::now() + Duration::from_secs(600);
        let command = reserve("k");
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            fence.before(&view, &command, 2, deadline),
        )
        .await;
        assert!(cancelled.is_err(), "the notice was never answered");
        let grant = fence.grant(2, session, 5, 5);
        assert!(grant.in_flight.is_empty(), "{grant:?}");
        assert_eq!(grant.next_seq, 2, "the write had been numbered");
    }

    #[tokio::test]
    async fn refused_and_deposed_writes_leave_the_list() {
        // Goal: a write the fence refuses (a frontend's lease outlasts its deadline) or stops
        // (a frontend knows a newer term) is not listed afterwards.
        let state = catalog();
        let view = state.view();
        let fence = CacheFence::new(LEASE, "token");
        // Nobody listens there: the notice fails at once and the lease must be waited out.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        fence.register("f1", &url, Instant::now());
        let command = reserve("k");
        let refused = fence.before(&view, &command, 2, Instant::now()).await;
        assert!(matches!(refused, FenceEntry::Refused(_)), "{refused:?}");
        assert!(fence.grant(2, 1, 5, 5).in_flight.is_empty());
    }
}
