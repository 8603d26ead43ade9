//! `ReserveAll`: the reservations of many buys in one entry, as the order leader batches them.

use serde::{Deserialize, Serialize};
use storage::{StateTxn, TxnResult};

use super::{CatalogResponse, Reserve};

/// Apply each [`Reserve`] in order, in one transaction: the same outcomes as one entry each in
/// that order (a later one sees the stock an earlier one took), for one proposal, one cache
/// notice and one request instead of one per buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveAll {
    /// The reservations, in the order they apply.
    pub reservations: Vec<Reserve>,
}

impl ReserveAll {
    pub(super) fn apply(&self, txn: &StateTxn<'_>) -> TxnResult<CatalogResponse> {
        let each = self
            .reservations
            .iter()
            .map(|r| r.apply(txn))
            .collect::<TxnResult<_>>()?;
        Ok(CatalogResponse::Reservations(each))
    }
}

#[cfg(test)]
mod tests {
    use storage::scratch::ScratchState;

    use super::*;
    use crate::catalog_file::default_books;
    use crate::command::{CatalogCommand, Seed};
    use crate::machine::CatalogMachine;

    fn seeded() -> ScratchState<CatalogMachine> {
        let s = ScratchState::new();
        s.apply(&CatalogCommand::Seed(Seed {
            books: default_books(),
        }));
        s
    }

    fn reserve(key: &str, item: u64, quantity: u64) -> Reserve {
        Reserve {
            key: key.into(),
            item,
            quantity,
        }
    }

    #[test]
    fn one_entry_answers_and_changes_what_one_entry_each_would() {
        // Goal: a batch is the same as its reservations applied one by one, in order: a later
        // one sees the stock an earlier one took (the same book twice, then too many), a key
        // repeated answers its first outcome, an unknown book and a key conflict are refused
        // without stopping the rest. Method: the same list through two scratch catalogs.
        let book = default_books()[0].clone();
        let list = vec![
            reserve("a", book.id, 2),
            reserve("b", book.id, book.stock - 2),
            reserve("c", book.id, 1),
            reserve("a", book.id, 2),
            reserve("a", book.id, 1),
            reserve("d", 999, 1),
            reserve("e", 2, 1),
        ];
        let one_by_one = seeded();
        let expected: Vec<CatalogResponse> = list
            .iter()
            .map(|r| one_by_one.apply(&CatalogCommand::Reserve(r.clone())))
            .collect();
        let batched = seeded();
        let answered = batched.apply(&CatalogCommand::ReserveAll(ReserveAll {
            reservations: list,
        }));
        assert_eq!(answered, CatalogResponse::Reservations(expected.clone()));
        assert_eq!(batched.image(), one_by_one.image());
        assert!(matches!(
            expected[2],
            CatalogResponse::Reservation { ref reservation, .. }
                if reservation.state == api::ReservationState::Refused
        ));
        assert!(matches!(expected[4], CatalogResponse::Rejected(_)));
        assert!(matches!(expected[5], CatalogResponse::Rejected(_)));
    }
}
