//! The frontend's side of cache coherence (DESIGN.md section 6): whether a cached answer may be
//! served, and whether a value just read may be cached.
//!
//! State, per slot stripe: writes announced and not done (`marks`) and the lowest index a
//! cached value must have been read at (`floor`); globally: the lease, the cache epoch (bumped
//! on every reset, which orphans every entry) and a global floor. The hit path reads atomics
//! only; notices and grants take one mutex.
//!
//! Why it is safe: a write's `Begin` is applied here (marks raised) before the leader proposes
//! it, and `Done` raises floors before it lowers marks; a hit needs no mark on its slot, an
//! index at or above every floor, the current epoch and a lease that has not run out. A lease
//! counts from when its request was *sent*, so it ends here no later than the leader thinks.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use api::coherence::{CacheNotice, LeaseGrant, Slot, WriteId};
use tokio::time::Instant;

/// Slot stripes: slots hashing to one stripe share its marks and floor (conservative).
const STRIPES: usize = 4096;

/// The share of a lease the frontend uses, in eighths: a margin for clock rates.
const LEASE_EIGHTHS_USED: u32 = 7;

/// Marks and floor of the slots of one stripe.
#[derive(Debug, Default)]
struct Stripe {
    marks: AtomicU32,
    floor: AtomicU64,
}

/// The registration this frontend holds with the catalog leader.
#[derive(Debug, Default)]
struct Session {
    term: u64,
    session: u64,
    writes: HashMap<WriteId, Vec<Slot>>,
    /// Writes whose `Done` came before we knew of them (a grant listing them was in transit).
    done_early: HashSet<WriteId>,
}

/// What a notice or grant asks of the cache entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalidate {
    /// Nothing.
    Nothing,
    /// The entries of these slots.
    Slots(Vec<Slot>),
    /// Every entry (a reset).
    All,
}

/// Why a value read from a replica is not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It may predate a write that is in flight or done (the race DESIGN.md section 6 closes).
    Stale,
    /// No lease is held, or the cache was reset since the read began.
    NoLease,
}

/// Coherence state of one frontend's cache.
#[derive(Debug)]
pub(crate) struct Coherence {
    base: Instant,
    /// Microseconds after `base` when the lease ends (0: none held).
    lease_until_us: AtomicU64,
    epoch: AtomicU64,
    global_floor: AtomicU64,
    everything: Stripe,
    stripes: Box<[Stripe]>,
    hasher: RandomState,
    session: Mutex<Session>,
}

impl Default for Coherence {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            lease_until_us: AtomicU64::new(0),
            epoch: AtomicU64::new(1),
            global_floor: AtomicU64::new(0),
            everything: Stripe::default(),
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            hasher: RandomState::new(),
            session: Mutex::new(Session::default()),
        }
    }
}

impl Coherence {
    /// The current cache epoch: a read that began in it may be cached only while it lasts.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Whether a lease is held now.
    pub(crate) fn lease_held(&self) -> bool {
        self.micros(Instant::now()) < self.lease_until_us.load(SeqCst)
    }

    /// Term and session of the registration.
    pub(crate) fn registration(&self) -> (u64, u64) {
        let s = self.lock();
        (s.term, s.session)
    }

    /// Whether a value of `slot` read at `index` and cached in `epoch` may be served now.
    pub(crate) fn may_serve(&self, slot: &Slot, index: u64, epoch: u64) -> bool {
        // The lease first, the epoch second: a reset ends the lease before bumping the epoch.
        self.lease_held() && epoch == self.epoch() && self.settled(slot, index)
    }

    /// Whether a value of `slot` read at `index` by a read that began in `epoch` may be cached.
    pub(crate) fn may_insert(&self, slot: &Slot, index: u64, epoch: u64) -> Result<(), Refusal> {
        if !self.lease_held() || epoch != self.epoch() {
            return Err(Refusal::NoLease);
        }
        if self.settled(slot, index) {
            Ok(())
        } else {
            Err(Refusal::Stale)
        }
    }

    /// No write in flight on `slot`, and `index` is at or above every floor of it.
    fn settled(&self, slot: &Slot, index: u64) -> bool {
        let stripe = self.stripe(slot);
        [stripe, &self.everything]
            .iter()
            .all(|s| s.marks.load(SeqCst) == 0 && index >= s.floor.load(SeqCst))
            && index >= self.global_floor.load(SeqCst)
    }

    /// Applies a notice of the catalog leader; the highest term known, and what to invalidate.
    pub(crate) fn apply_notice(&self, notice: &CacheNotice) -> (u64, Invalidate) {
        let mut session = self.lock();
        match notice {
            CacheNotice::Begin(n) => {
                if n.write.term < session.term {
                    // A deposed leader: it learns so from our answer and does not propose.
                    return (session.term, Invalidate::Nothing);
                }
                if n.write.term > session.term {
                    // A leader we hold no grant from: drop the lease and the cache, but adopt
                    // its term only from a grant (confirmed by a quorum), never from a notice,
                    // which anyone holding the token could forge.
                    let (term, id) = (session.term, session.session);
                    self.reset(&mut session, term, id, 0);
                    self.mark(&mut session, n.write, &n.slots);
                    return (session.term, Invalidate::All);
                }
                self.mark(&mut session, n.write, &n.slots);
                (session.term, Invalidate::Slots(n.slots.clone()))
            }
            CacheNotice::Done { notice: n, index } => {
                let slots = session.writes.remove(&n.write);
                self.raise_floors(&n.slots, *index);
                match slots {
                    Some(slots) => self.unmark(&slots),
                    None => {
                        session.done_early.insert(n.write);
                    }
                }
                (session.term, Invalidate::Slots(n.slots.clone()))
            }
        }
    }

    /// Applies a lease grant answering a request sent at `sent`; what to invalidate.
    pub(crate) fn apply_grant(&self, grant: &LeaseGrant, sent: Instant) -> Invalidate {
        let mut session = self.lock();
        if grant.term < session.term {
            return Invalidate::Nothing;
        }
        let invalidate = if (grant.term, grant.session) == (session.term, session.session) {
            // Writes of this term the leader numbered before the grant and no longer has in
            // flight are done, at or below its applied index. Writes of a later term are
            // dropped too: a leader of a later term writes only after a quiet lease, by which
            // time every lease of this term, this grant's included, has run out here; so they
            // can only be notices of a term nobody reached (forged), which must not pin slots.
            let done: Vec<WriteId> = session
                .writes
                .keys()
                .filter(|w| {
                    w.term > grant.term
                        || w.term == grant.term
                            && w.seq < grant.next_seq
                            && !grant.in_flight.iter().any(|f| f.write == **w)
                })
                .copied()
                .collect();
            for write in done {
                if let Some(slots) = session.writes.remove(&write) {
                    self.raise_floors(&slots, grant.applied_index);
                    self.unmark(&slots);
                }
            }
            Invalidate::Nothing
        } else {
            // A new term or session: notices may have been missed, so nothing cached stays.
            self.reset(&mut session, grant.term, grant.session, grant.applied_index);
            Invalidate::All
        };
        for w in &grant.in_flight {
            if !session.done_early.contains(&w.write) {
                self.mark(&mut session, w.write, &w.slots);
            }
        }
        // Later grants no longer list these writes: their Done need not be remembered.
        session
            .done_early
            .retain(|w| w.term == grant.term && w.seq >= grant.next_seq);
        let lease = Duration::from_millis(grant.lease_ms) * LEASE_EIGHTHS_USED / 8;
        self.lease_until_us.store(self.micros(sent + lease), SeqCst);
        invalidate
    }

    /// Forgets the lease, the writes in flight and every cached value (by a new epoch).
    fn reset(&self, session: &mut Session, term: u64, id: u64, applied_index: u64) {
        self.lease_until_us.store(0, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
        for (_, slots) in session.writes.drain() {
            self.unmark(&slots);
        }
        session.done_early.clear();
        self.global_floor.fetch_max(applied_index, SeqCst);
        session.term = term;
        session.session = id;
    }

    fn mark(&self, session: &mut Session, write: WriteId, slots: &[Slot]) {
        if session.writes.contains_key(&write) {
            return;
        }
        for slot in slots {
            self.stripe(slot).marks.fetch_add(1, SeqCst);
        }
        session.writes.insert(write, slots.to_vec());
    }

    fn unmark(&self, slots: &[Slot]) {
        for slot in slots {
            self.stripe(slot).marks.fetch_sub(1, SeqCst);
        }
    }

    fn raise_floors(&self, slots: &[Slot], index: u64) {
        for slot in slots {
            self.stripe(slot).floor.fetch_max(index, SeqCst);
        }
    }

    fn stripe(&self, slot: &Slot) -> &Stripe {
        if *slot == Slot::Everything {
            return &self.everything;
        }
        let hash = self.hasher.hash_one(slot);
        &self.stripes[(hash % STRIPES as u64) as usize]
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use api::coherence::WriteNotice;

    use super::*;

    const BOOK: Slot = Slot::Book(1);

    fn grant(
        term: u64,
        session: u64,
        applied: u64,
        in_flight: &[u64],
        next_seq: u64,
    ) -> LeaseGrant {
        LeaseGrant {
            term,
            session,
            lease_ms: 60_000,
            applied_index: applied,
            in_flight: in_flight.iter().map(|seq| notice(term, *seq)).collect(),
            next_seq,
        }
    }

    fn notice(term: u64, seq: u64) -> WriteNotice {
        WriteNotice {
            write: WriteId { term, seq },
            slots: vec![BOOK, Slot::AllBooks],
        }
    }

    fn leased() -> Coherence {
        let c = Coherence::default();
        assert_eq!(
            c.apply_grant(&grant(2, 1, 10, &[], 1), Instant::now()),
            Invalidate::All
        );
        c
    }

    #[test]
    fn nothing_is_served_or_cached_without_a_lease() {
        let c = Coherence::default();
        let epoch = c.epoch();
        assert!(!c.may_serve(&BOOK, 100, epoch));
        assert_eq!(c.may_insert(&BOOK, 100, epoch), Err(Refusal::NoLease));
        let c = leased();
        assert!(c.may_insert(&BOOK, 10, c.epoch()).is_ok());
        assert!(c.may_serve(&BOOK, 10, c.epoch()));
        assert_eq!(
            c.may_insert(&BOOK, 9, c.epoch()),
            Err(Refusal::Stale),
            "below the grant's applied index"
        );
    }

    #[test]
    fn a_read_that_began_before_a_write_is_never_cached_after_its_notices() {
        // Goal: the stale-insert race. A miss reads at 10; the write begins and is done at 11;
        // the miss then offers its value: refused, and serving an old entry is refused too.
        let c = leased();
        let epoch = c.epoch();
        c.apply_notice(&CacheNotice::Begin(notice(2, 1)));
        assert_eq!(
            c.may_insert(&BOOK, 10, epoch),
            Err(Refusal::Stale),
            "in flight"
        );
        assert!(!c.may_serve(&BOOK, 10, epoch));
        c.apply_notice(&CacheNotice::Done {
            notice: notice(2, 1),
            index: 11,
        });
        assert_eq!(
            c.may_insert(&BOOK, 10, epoch),
            Err(Refusal::Stale),
            "read before the write"
        );
        assert!(!c.may_serve(&BOOK, 10, epoch));
        assert!(c.may_insert(&BOOK, 11, epoch).is_ok());
    }

    #[test]
    fn a_grant_settles_writes_whose_done_was_lost() {
        let c = leased();
        c.apply_notice(&CacheNotice::Begin(notice(2, 1)));
        c.apply_notice(&CacheNotice::Begin(notice(2, 2)));
        // Write 2 is still in flight, write 1 finished at or before index 15.
        assert_eq!(
            c.apply_grant(&grant(2, 1, 15, &[2], 3), Instant::now()),
            Invalidate::Nothing
        );
        assert_eq!(c.lock().writes.len(), 1);
        assert_eq!(
            c.may_insert(&BOOK, 15, c.epoch()),
            Err(Refusal::Stale),
            "write 2 on the same slot"
        );
        c.apply_grant(&grant(2, 1, 16, &[], 3), Instant::now());
        assert!(c.may_insert(&BOOK, 16, c.epoch()).is_ok());
        assert_eq!(c.may_insert(&BOOK, 15, c.epoch()), Err(Refusal::Stale));
    }

    #[test]
    fn a_done_that_overtakes_the_grant_listing_its_write_is_not_forgotten() {
        let c = leased();
        c.apply_notice(&CacheNotice::Done {
            notice: notice(2, 1),
            index: 12,
        });
        c.apply_grant(&grant(2, 1, 11, &[1], 2), Instant::now());
        assert!(
            c.may_insert(&BOOK, 12, c.epoch()).is_ok(),
            "write 1 is done, not in flight"
        );
        assert!(c.lock().done_early.is_empty());
    }

    #[test]
    fn a_new_term_or_session_resets_and_an_old_term_is_refused() {
        let c = leased();
        let epoch = c.epoch();
        assert_eq!(
            c.apply_grant(&grant(2, 5, 10, &[], 1), Instant::now()),
            Invalidate::All,
            "new session"
        );
        assert!(c.epoch() > epoch);
        assert!(!c.may_serve(&BOOK, 10, epoch), "old entries are orphaned");
        let (term, _) = c.apply_notice(&CacheNotice::Begin(notice(1, 9)));
        assert_eq!(term, 2, "a deposed leader learns the newer term");
        assert!(c.lock().writes.is_empty(), "and its write is not marked");
        let epoch = c.epoch();
        let (known, invalidate) = c.apply_notice(&CacheNotice::Begin(notice(3, 1)));
        assert!(!c.lease_held(), "a notice of a newer term ends the lease");
        assert_eq!((known, invalidate), (2, Invalidate::All));
        assert!(c.epoch() > epoch, "and orphans the cache");
        assert_eq!(
            c.registration(),
            (2, 5),
            "its term is adopted from grants only"
        );
        assert_eq!(
            c.apply_grant(&grant(3, 1, 12, &[1], 2), Instant::now()),
            Invalidate::All,
            "the new leader's grant resets"
        );
        assert!(c.lease_held());
        assert_eq!(c.may_insert(&BOOK, 12, c.epoch()), Err(Refusal::Stale));
        assert_eq!(
            c.apply_grant(&grant(2, 5, 10, &[], 1), Instant::now()),
            Invalidate::Nothing,
            "an older term's grant is ignored"
        );
    }

    #[test]
    fn a_forged_notice_of_a_far_term_neither_deposes_the_leader_nor_kills_the_cache() {
        // Goal: a notice carrying the token and term 10^12 used to be adopted: the frontend
        // then refused every grant of the real leader (lease lost for good) and answered its
        // notices with 10^12 (the leader thought itself deposed). Now the real leader's next
        // grant restores the lease, its notices are answered with its own term, and the
        // forged write pins no slot.
        let c = leased();
        let (known, _) = c.apply_notice(&CacheNotice::Begin(notice(1_000_000_000_000, 1)));
        assert_eq!(known, 2, "the leader of term 2 is not deposed");
        assert!(!c.lease_held());
        c.apply_grant(&grant(2, 1, 10, &[], 1), Instant::now());
        assert!(c.lease_held(), "the real leader's grant restores the lease");
        assert!(c.may_insert(&BOOK, 10, c.epoch()).is_ok(), "no slot pinned");
        let (known, _) = c.apply_notice(&CacheNotice::Begin(notice(2, 1)));
        assert_eq!(known, 2, "the real leader's notices go ahead");
    }

    #[test]
    fn a_lease_ends_before_the_leader_thinks_it_does() {
        let c = Coherence::default();
        let mut g = grant(1, 1, 0, &[], 1);
        g.lease_ms = 1000;
        let long_ago = Instant::now() - Duration::from_millis(900);
        c.apply_grant(&g, long_ago);
        assert!(
            !c.lease_held(),
            "7/8 of the lease counted from sending has passed"
        );
    }
}
