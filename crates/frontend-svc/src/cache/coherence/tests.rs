//! The coherence session: leases, notices, terms and the stale-insert guard.

use api::coherence::WriteNotice;

use super::*;

const BOOK: Slot = Slot::Book(1);

fn grant(term: u64, session: u64, applied: u64, in_flight: &[u64], next_seq: u64) -> LeaseGrant {
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

#[test]
fn begins_that_overtake_the_grant_resetting_the_cache_keep_their_marks() {
    // Goal: the first grant of a new term (or session) resets the cache, and its leader may
    // announce writes after making that grant: the grant neither lists them nor covers them
    // with its applied index. Their `Begin`s may reach the frontend before the grant (each
    // resetting the cache, a newer term than it holds), and all of them must stay marked
    // through those resets and the grant's; otherwise a value read before they apply is
    // cached and served after they applied, until their `Done` (a stale read at a catalog
    // leader change). Before the fix each reset dropped every mark.
    let c = leased();
    // The leader of term 3 made the grant (nothing in flight, its next write 1, applied 20),
    // then announced writes 1 and 2, whose Begins arrive first.
    c.apply_notice(&CacheNotice::Begin(notice(3, 1)));
    c.apply_notice(&CacheNotice::Begin(notice(3, 2)));
    assert_eq!(
        c.apply_grant(&grant(3, 1, 20, &[], 1), Instant::now()),
        Invalidate::All
    );
    assert!(c.lease_held());
    assert_eq!(
        c.may_insert(&BOOK, 20, c.epoch()),
        Err(Refusal::Stale),
        "writes 1 and 2 of term 3 are in flight"
    );
    assert!(!c.may_serve(&BOOK, 20, c.epoch()));
    c.apply_notice(&CacheNotice::Done {
        notice: notice(3, 2),
        index: 22,
    });
    assert_eq!(
        c.may_insert(&BOOK, 22, c.epoch()),
        Err(Refusal::Stale),
        "write 1 is still in flight"
    );
    c.apply_notice(&CacheNotice::Done {
        notice: notice(3, 1),
        index: 21,
    });
    assert_eq!(c.may_insert(&BOOK, 21, c.epoch()), Err(Refusal::Stale));
    assert!(c.may_insert(&BOOK, 22, c.epoch()).is_ok(), "both done");
    // A write the grant covers (numbered below its next_seq) does not survive the reset.
    c.apply_notice(&CacheNotice::Begin(notice(3, 3)));
    c.apply_grant(&grant(3, 2, 30, &[], 4), Instant::now());
    assert!(
        c.may_insert(&BOOK, 30, c.epoch()).is_ok(),
        "new session, write 3 covered"
    );
}
