//! The buys this leader began and has not seen end: their stock may be held at the catalog
//! without an order. Kept in memory, outside any request, so that a buy whose request went
//! away, or whose reservation or order got no answer, is still finished by the resolver.
//! What a crash loses is the next leader's: the catalog's held reservations, fenced first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::command::Buy;

/// The unfinished buys, by key, with the term of the leader that began each; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct UnfinishedBuys {
    buys: Arc<Mutex<HashMap<String, (Buy, u64)>>>,
}

impl UnfinishedBuys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Buy, u64)>> {
        self.buys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `buy`, begun by the leader of `term`, before its reservation is sent; false if its
    /// key is already taken by a buy of another item or quantity (that one stays).
    pub fn begin(&self, buy: &Buy, term: u64) -> bool {
        let mut buys = self.lock();
        match buys.get(&buy.key) {
            Some((other, _)) if other != buy => false,
            _ => {
                buys.insert(buy.key.clone(), (buy.clone(), term));
                true
            }
        }
    }

    /// `buy` ended for good (an order, or a refusal that holds nothing).
    pub fn end(&self, buy: &Buy) {
        let mut buys = self.lock();
        if buys.get(&buy.key).is_some_and(|(b, _)| b == buy) {
            buys.remove(&buy.key);
        }
    }

    /// Forgets the buys begun in terms before `term`: a leader of `term` has fenced them out,
    /// and what of theirs took stock is in the catalog's held reservations it finishes.
    pub fn forget_before(&self, term: u64) {
        self.lock().retain(|_, (_, begun)| *begun >= term);
    }

    /// The buys not ended, in no particular order.
    pub fn list(&self) -> Vec<Buy> {
        self.lock().values().map(|(b, _)| b.clone()).collect()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buy(key: &str, item: u64) -> Buy {
        Buy {
            key: key.into(),
            item,
            quantity: 1,
        }
    }

    #[test]
    fn a_buy_is_ended_only_by_itself_and_earlier_terms_are_forgotten() {
        // Goal: a second buy under a taken key neither replaces nor ends the first; ending a
        // buy removes only it; a fence at term 3 forgets what terms 1 and 2 began.
        let set = UnfinishedBuys::default();
        assert!(set.begin(&buy("a", 1), 1));
        assert!(
            !set.begin(&buy("a", 2), 1),
            "another buy under the same key"
        );
        assert!(set.begin(&buy("a", 1), 1), "the same buy again");
        set.end(&buy("a", 2));
        assert_eq!(set.list(), [buy("a", 1)]);
        assert!(set.begin(&buy("b", 1), 3));
        set.forget_before(3);
        assert_eq!(set.list(), [buy("b", 1)]);
        set.end(&buy("b", 1));
        assert!(set.is_empty());
    }
}
