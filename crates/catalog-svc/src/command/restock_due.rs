//! `RestockDue`: the catalog leader's timed restock of one period (`[catalog.restock]`, #16).
//!
//! The leader proposes it; apply decides, the same way on every replica: a round of a period
//! at or before the last one applied is stale and changes nothing, so a round proposed twice
//! (a retry whose outcome was unknown, a new leader) restocks once per period at most.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{load_book, store_book, CatalogResponse, RESTOCKS, RESTOCK_LAST};

/// Key of the last period applied in [`RESTOCK_LAST`].
pub const RESTOCK_LAST_KEY: &[u8] = b"period";

/// Restock, for `period`, each of `items` that has fewer than `below` copies to `to` copies.
///
/// The policy's numbers travel in the entry, not in each replica's configuration, so that
/// replicas configured differently still apply the same change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockDue {
    /// The period: the proposer's wall-clock seconds divided by `every_s` (at least 1).
    pub period: u64,
    /// A listed book with fewer copies than this is restocked.
    pub below: u64,
    /// The copies it is set to (at least `below`).
    pub to: u64,
    /// The books the leader saw below `below`: only they may change, so that the cache
    /// fence announces exactly them (a transaction cannot scan every book either).
    pub items: Vec<u64>,
}

/// One book a round restocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockedBook {
    /// Book id.
    pub item: u64,
    /// Copies before the round.
    pub stock_before: u64,
    /// Copies after it (the policy's `to`).
    pub stock_after: u64,
}

/// A round as applied: stored under its period in [`RESTOCKS`] and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockRound {
    /// Its period.
    pub period: u64,
    /// The books it restocked, in the order listed (none if every one was at `below` or more
    /// by then).
    pub books: Vec<RestockedBook>,
}

impl RestockRound {
    /// Copies the round added to `item`.
    pub fn added(&self, item: u64) -> u64 {
        self.books
            .iter()
            .filter(|b| b.item == item)
            .map(|b| b.stock_after - b.stock_before)
            .sum()
    }
}

impl RestockDue {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let last: Option<u64> = txn.get(RESTOCK_LAST, RESTOCK_LAST_KEY)?;
        if let Some(last) = last.filter(|last| *last >= self.period) {
            return Ok(CatalogResponse::RestockStale {
                period: self.period,
                last_period: last,
            });
        }
        let mut books = Vec::new();
        for &item in &self.items {
            let Some(mut book) = load_book(txn, item)? else {
                continue;
            };
            // `to >= below` (checked by the proposer): a book listed twice is restocked once.
            if book.stock >= self.below || book.stock >= self.to {
                continue;
            }
            books.push(RestockedBook {
                item,
                stock_before: book.stock,
                stock_after: self.to,
            });
            book.stock = self.to;
            store_book(txn, &book)?;
        }
        let round = RestockRound {
            period: self.period,
            books,
        };
        txn.insert(RESTOCK_LAST, RESTOCK_LAST_KEY, &self.period)?;
        txn.insert(RESTOCKS, &storage::keys::u64_key(self.period), &round)?;
        Ok(CatalogResponse::Restocked(round))
    }
}

#[cfg(test)]
mod tests {
    use storage::scratch::ScratchState;

    use super::*;
    use crate::catalog_file::default_books;
    use crate::command::{CatalogCommand, Reserve, Seed};
    use crate::machine::CatalogMachine;
    use crate::reads::all_books;

    /// The default catalog (5 copies each) with book 1 down to 0 and book 2 down to 2.
    fn sold_down() -> ScratchState<CatalogMachine> {
        let s = ScratchState::new();
        s.apply(&CatalogCommand::Seed(Seed {
            books: default_books(),
        }));
        for (key, item, quantity) in [("a", 1, 5), ("b", 2, 3)] {
            s.apply(&CatalogCommand::Reserve(Reserve {
                key: key.into(),
                item,
                quantity,
            }));
        }
        s
    }

    fn due(period: u64, items: &[u64]) -> CatalogCommand {
        CatalogCommand::RestockDue(RestockDue {
            period,
            below: 1,
            to: 4,
            items: items.to_vec(),
        })
    }

    fn stocks(s: &ScratchState<CatalogMachine>) -> Vec<u64> {
        all_books(&s.view(), None).iter().map(|b| b.stock).collect()
    }

    #[test]
    fn a_round_restocks_only_listed_books_below_the_threshold() {
        // Goal: book 1 (0 copies, listed) goes to `to`; book 2 (2 copies, listed, not below 1)
        // and book 3 (5 copies, not listed) stay; the round is stored under its period.
        let s = sold_down();
        let answer = s.apply(&due(7, &[1, 2, 99]));
        let expected = RestockRound {
            period: 7,
            books: vec![RestockedBook {
                item: 1,
                stock_before: 0,
                stock_after: 4,
            }],
        };
        assert_eq!(answer, CatalogResponse::Restocked(expected.clone()));
        assert_eq!(stocks(&s), [4, 2, 5, 5, 5, 5, 5]);
        let stored: Option<RestockRound> = s.view().get(RESTOCKS, &storage::keys::u64_key(7));
        assert_eq!(stored, Some(expected));
        assert_eq!(s.view().get::<u64>(RESTOCK_LAST, RESTOCK_LAST_KEY), Some(7));
    }

    #[test]
    fn a_period_applies_once_and_an_earlier_one_never_after_it() {
        // Goal: the same period proposed again (a retry, a new leader) and an earlier period
        // (a leader whose clock is behind) change nothing, even with a book sold out again;
        // the next period restocks it.
        let s = sold_down();
        s.apply(&due(7, &[1]));
        s.apply(&CatalogCommand::Reserve(Reserve {
            key: "c".into(),
            item: 1,
            quantity: 4,
        }));
        for period in [7, 6] {
            assert_eq!(
                s.apply(&due(period, &[1])),
                CatalogResponse::RestockStale {
                    period,
                    last_period: 7
                }
            );
        }
        assert_eq!(stocks(&s)[0], 0, "still sold out within period 7");
        assert!(matches!(s.apply(&due(8, &[1])), CatalogResponse::Restocked(r) if r.added(1) == 4));
        assert_eq!(stocks(&s)[0], 4);
    }
}
