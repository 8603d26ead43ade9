//! What a benchmark sends and when it stops: [`Op`] turns a request's sequence number into a
//! [`Planned`] request; [`Budget`] hands out sequence numbers until the run is over.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// Books the benchmark looks up and buys: the seeded catalog's ids (DESIGN §4).
pub const BOOK_IDS: std::ops::RangeInclusive<u64> = 1..=7;
/// Topics the benchmark searches, alternately.
pub const TOPICS: [&str; 2] = ["ds", "gs"];
/// In `mix`, one request in this many is a buy; the others are lookups and searches.
const MIX_BUY_EVERY: u64 = 10;

const BOOK_COUNT: u64 = *BOOK_IDS.end() - *BOOK_IDS.start() + 1;

/// The operation a benchmark exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `GET /books/{id}` over [`BOOK_IDS`], round robin.
    Lookup,
    /// `GET /books?topic=` over [`TOPICS`], alternately.
    Search,
    /// `POST /orders` of one copy over [`BOOK_IDS`], round robin, each with its own key.
    Buy,
    /// 90% lookups and searches (alternately), 10% buys.
    Mix,
}

/// The kind of one request, under which its figures are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `GET /books/{id}`.
    Lookup,
    /// `GET /books?topic=`.
    Search,
    /// `POST /orders`.
    Buy,
}

/// One request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// Look book `item` up.
    Lookup {
        /// Book id.
        item: u64,
    },
    /// Search `topic`.
    Search {
        /// Topic.
        topic: &'static str,
    },
    /// Buy one copy of book `item`, under a key made unique by `seq`.
    Buy {
        /// Book id.
        item: u64,
        /// The request's sequence number in the run.
        seq: u64,
    },
}

impl Op {
    /// The wire (and flag) name, e.g. `mix`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Lookup => "lookup",
            Op::Search => "search",
            Op::Buy => "buy",
            Op::Mix => "mix",
        }
    }

    /// Whether the operation buys, so that stock must be topped up first.
    pub fn buys(self) -> bool {
        matches!(self, Op::Buy | Op::Mix)
    }

    /// The request that sequence number `seq` (0, 1, 2, ... across all workers) stands for.
    /// Deterministic, so that runs are repeatable and every book and topic gets its share.
    pub fn plan(self, seq: u64) -> Planned {
        match self {
            Op::Lookup => Planned::Lookup { item: book(seq) },
            Op::Search => Planned::Search { topic: topic(seq) },
            Op::Buy => Planned::Buy {
                item: book(seq),
                seq,
            },
            Op::Mix => {
                let (round, slot) = (seq / MIX_BUY_EVERY, seq % MIX_BUY_EVERY);
                if slot == MIX_BUY_EVERY - 1 {
                    return Planned::Buy {
                        item: book(round),
                        seq,
                    };
                }
                // The n-th read of the run: even ones look up, odd ones search.
                let read = round * (MIX_BUY_EVERY - 1) + slot;
                match read % 2 {
                    0 => Planned::Lookup {
                        item: book(read / 2),
                    },
                    _ => Planned::Search {
                        topic: topic(read / 2),
                    },
                }
            }
        }
    }
}

/// The `n`-th book of a round robin over [`BOOK_IDS`].
fn book(n: u64) -> u64 {
    BOOK_IDS.start() + n % BOOK_COUNT
}

/// The `n`-th topic of an alternation over [`TOPICS`].
fn topic(n: u64) -> &'static str {
    TOPICS[(n % TOPICS.len() as u64) as usize]
}

impl Planned {
    /// The kind the request is reported under.
    pub fn kind(&self) -> Kind {
        match self {
            Planned::Lookup { .. } => Kind::Lookup,
            Planned::Search { .. } => Kind::Search,
            Planned::Buy { .. } => Kind::Buy,
        }
    }
}

impl Kind {
    /// The report name, e.g. `lookup`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lookup => "lookup",
            Kind::Search => "search",
            Kind::Buy => "buy",
        }
    }
}

/// When a run stops: after `requests_max` requests, at `deadline`, or on [`Budget::stop`],
/// whichever comes first. Shared by every worker; requests already sent when it runs out
/// still complete and count.
#[derive(Debug)]
pub struct Budget {
    issued: AtomicU64,
    requests_max: Option<u64>,
    deadline: Option<Instant>,
    stopped: AtomicBool,
}

impl Budget {
    /// A budget of at most `requests_max` requests (unlimited if `None`) until `deadline` (none
    /// if `None`). With neither, the run lasts until [`Budget::stop`].
    pub fn new(requests_max: Option<u64>, deadline: Option<Instant>) -> Budget {
        Budget {
            issued: AtomicU64::new(0),
            requests_max,
            deadline,
            stopped: AtomicBool::new(false),
        }
    }

    /// The sequence number of the next request to send, or `None` once the run is over.
    pub fn next(&self) -> Option<u64> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let seq = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.requests_max {
            Some(max) if seq >= max => None,
            _ => Some(seq),
        }
    }

    /// Ends the run early (e.g. on Ctrl-C): [`Budget::next`] returns `None` from now on.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether [`Budget::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    #[test]
    fn single_ops_go_round_robin() {
        let items: Vec<Planned> = (0..8).map(|s| Op::Lookup.plan(s)).collect();
        assert_eq!(items[0], Planned::Lookup { item: 1 });
        assert_eq!(items[6], Planned::Lookup { item: 7 });
        assert_eq!(items[7], Planned::Lookup { item: 1 });
        assert_eq!(Op::Search.plan(0), Planned::Search { topic: "ds" });
        assert_eq!(Op::Search.plan(1), Planned::Search { topic: "gs" });
        assert_eq!(Op::Buy.plan(9), Planned::Buy { item: 3, seq: 9 });
    }

    #[test]
    fn mix_is_ninety_percent_reads_over_every_book_and_topic() {
        let mut kinds = BTreeMap::new();
        let mut items = BTreeMap::new();
        let mut topics = BTreeMap::new();
        for seq in 0..7_000 {
            let planned = Op::Mix.plan(seq);
            *kinds.entry(planned.kind()).or_insert(0u64) += 1;
            match planned {
                Planned::Lookup { item } | Planned::Buy { item, .. } => {
                    *items.entry((planned.kind(), item)).or_insert(0) += 1;
                }
                Planned::Search { topic } => *topics.entry(topic).or_insert(0u64) += 1,
            }
        }
        assert_eq!(kinds[&Kind::Buy], 700);
        assert_eq!(kinds[&Kind::Lookup] + kinds[&Kind::Search], 6_300);
        assert!(kinds[&Kind::Lookup].abs_diff(kinds[&Kind::Search]) <= 1);
        for id in BOOK_IDS {
            assert_eq!(items[&(Kind::Buy, id)], 100, "buys of book {id}");
            assert!(items[&(Kind::Lookup, id)] >= 449, "lookups of book {id}");
        }
        assert!(topics["ds"].abs_diff(topics["gs"]) <= 1);
    }

    #[test]
    fn budgets_end_at_the_count_the_deadline_or_a_stop() {
        let counted = Budget::new(Some(3), None);
        let seqs: Vec<u64> = std::iter::from_fn(|| counted.next()).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert_eq!(counted.next(), None);
        let past = Budget::new(None, Some(Instant::now()));
        assert_eq!(past.next(), None);
        let open = Budget::new(None, Some(Instant::now() + Duration::from_secs(60)));
        assert_eq!((open.next(), open.next()), (Some(0), Some(1)));
        open.stop();
        assert!(open.is_stopped());
        assert_eq!(open.next(), None);
    }
}
