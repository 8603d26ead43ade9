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
                    // which anyone holding the token could forge. Its writes announced before
                    // this one stay marked: they may apply before its grant reaches us.
                    let (term, id) = (session.term, session.session);
                    let newer = n.write.term;
                    self.reset(&mut session, term, id, 0, |w| w.term == newer);
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
            // Writes of its term numbered from its `next_seq` on were announced after the
            // leader made the grant, their `Begin` overtaking it: the grant neither lists them
            // nor covers them with its applied index, so they stay marked until their `Done`.
            let (term, next_seq) = (grant.term, grant.next_seq);
            self.reset(
                &mut session,
                grant.term,
                grant.session,
                grant.applied_index,
                |w| w.term == term && w.seq >= next_seq,
            );
            if !session.writes.is_empty() {
                tracing::info!(
                    term,
                    next_seq,
                    writes = session.writes.len(),
                    "writes announced after the grant that reset the cache stay in flight"
                );
            }
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

    /// Forgets the lease, the writes in flight but those `kept`, and every cached value (by a
    /// new epoch).
    fn reset(
        &self,
        session: &mut Session,
        term: u64,
        id: u64,
        applied_index: u64,
        kept: impl Fn(&WriteId) -> bool,
    ) {
        self.lease_until_us.store(0, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
        session.writes.retain(|write, slots| {
            let keep = kept(write);
            if !keep {
                self.unmark(slots);
            }
            keep
        });
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
mod tests;
