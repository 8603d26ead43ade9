//! The catalog's state machine, plugged into the replication runtime.

use storage::{ServiceMachine, StateTxn, TxnResult};

use crate::command::{
    CatalogCommand, CatalogResponse, BOOKS, HELD, ORDER_FENCE, RESERVATIONS, RESTOCKS, RESTOCK_LAST,
};

/// The catalog group's state machine: books and reservations.
pub struct CatalogMachine;

impl ServiceMachine for CatalogMachine {
    type Command = CatalogCommand;
    type Response = CatalogResponse;
    const GROUP: &'static str = "catalog";
    const STATE_TREES: &'static [&'static str] = &[
        BOOKS,
        RESERVATIONS,
        HELD,
        ORDER_FENCE,
        RESTOCKS,
        RESTOCK_LAST,
    ];

    fn apply(txn: &StateTxn<'_>, command: &CatalogCommand) -> TxnResult<CatalogResponse> {
        command.apply(txn)
    }
}

#[cfg(test)]
mod tests {
    use api::{Book, ReservationState};
    use proptest::prelude::*;
    use storage::scratch::ScratchState;

    use super::*;
    use crate::catalog_file::default_books;
    use crate::command::{
        Confirm, ConfirmAll, FenceOrders, Release, Reserve, ReserveAll, Seed, UpdateBook,
    };
    use crate::reads::all_books;

    fn seeded() -> ScratchState<CatalogMachine> {
        let s = ScratchState::new();
        s.apply(&CatalogCommand::Seed(Seed {
            books: default_books(),
        }));
        s
    }

    fn reserve(key: &str, item: u64, quantity: u64) -> CatalogCommand {
        CatalogCommand::Reserve(Reserve {
            key: key.into(),
            item,
            quantity,
        })
    }

    fn state_of(r: CatalogResponse) -> ReservationState {
        match r {
            CatalogResponse::Reservation { reservation, .. } => reservation.state,
            other => panic!("expected a reservation, got {other:?}"),
        }
    }

    #[test]
    fn same_key_reserves_once() {
        let s = seeded();
        assert_eq!(
            state_of(s.apply(&reserve("k", 3, 2))),
            ReservationState::Held
        );
        assert_eq!(
            state_of(s.apply(&reserve("k", 3, 2))),
            ReservationState::Held
        );
        assert_eq!(all_books(&s.view(), None)[2].stock, 3);
        let conflict = s.apply(&reserve("k", 3, 1));
        assert!(matches!(
            conflict,
            CatalogResponse::Rejected(Rejection::KeyConflict { .. })
        ));
    }

    #[test]
    fn refusal_is_remembered_and_release_tombstones_block_late_reserves() {
        let s = seeded();
        assert_eq!(
            state_of(s.apply(&reserve("big", 1, 6))),
            ReservationState::Refused
        );
        s.apply(&CatalogCommand::UpdateBook(UpdateBook {
            item: 1,
            stock_delta: Some(10),
            cost: None,
        }));
        assert_eq!(
            state_of(s.apply(&reserve("big", 1, 6))),
            ReservationState::Refused
        );
        let release = Release {
            key: "late".into(),
            item: 2,
            quantity: 1,
        };
        assert_eq!(
            state_of(s.apply(&CatalogCommand::Release(release))),
            ReservationState::Released
        );
        assert_eq!(
            state_of(s.apply(&reserve("late", 2, 1))),
            ReservationState::Released
        );
        assert_eq!(all_books(&s.view(), None)[1].stock, 5);
    }

    #[test]
    fn confirmed_cannot_be_released_and_restock_never_goes_negative() {
        let s = seeded();
        s.apply(&reserve("k", 4, 1));
        s.apply(&CatalogCommand::Confirm(Confirm { key: "k".into() }));
        let r = s.apply(&CatalogCommand::Release(Release {
            key: "k".into(),
            item: 4,
            quantity: 1,
        }));
        assert!(matches!(
            r,
            CatalogResponse::Rejected(Rejection::WrongState { .. })
        ));
        let r = s.apply(&CatalogCommand::UpdateBook(UpdateBook {
            item: 4,
            stock_delta: Some(-5),
            cost: None,
        }));
        assert!(matches!(
            r,
            CatalogResponse::Rejected(Rejection::NegativeStock { stock: 4, .. })
        ));
    }

    #[test]
    fn confirm_all_confirms_what_confirm_would_and_counts_it() {
        // Goal: a batch confirms each held key once (idempotent), counts confirmed ones, and
        // leaves unknown and released keys as they are.
        let s = seeded();
        s.apply(&reserve("a", 1, 1));
        s.apply(&reserve("b", 2, 1));
        s.apply(&reserve("gone", 3, 1));
        s.apply(&CatalogCommand::Release(Release {
            key: "gone".into(),
            item: 3,
            quantity: 1,
        }));
        let keys = ["a", "b", "gone", "never", "a"].map(String::from).to_vec();
        let all = CatalogCommand::ConfirmAll(ConfirmAll { keys });
        assert_eq!(s.apply(&all), CatalogResponse::Confirmed(3));
        let states: Vec<(String, ReservationState)> = s
            .view()
            .scan::<api::Reservation>(RESERVATIONS)
            .into_iter()
            .map(|(_, r)| (r.key, r.state))
            .collect();
        assert_eq!(
            states,
            [
                ("a".to_string(), ReservationState::Confirmed),
                ("b".to_string(), ReservationState::Confirmed),
                ("gone".to_string(), ReservationState::Released),
            ]
        );
        assert_eq!(
            s.apply(&all),
            CatalogResponse::Confirmed(3),
            "again: no change"
        );
        assert_eq!(all_books(&s.view(), None)[0].stock, 4);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(u8, u64, u64),
        Confirm(u8),
        ConfirmAll(Vec<u8>),
        Release(u8, u64, u64),
        Restock(u64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 1u64..4, 1u64..4).prop_map(|(k, i, q)| Op::Reserve(k, i, q)),
            (0u8..6).prop_map(Op::Confirm),
            proptest::collection::vec(0u8..6, 1..4).prop_map(Op::ConfirmAll),
            (0u8..6, 1u64..4, 1u64..4).prop_map(|(k, i, q)| Op::Release(k, i, q)),
            (1u64..4, -6i64..6).prop_map(|(i, d)| Op::Restock(i, d)),
        ]
    }

    proptest! {
        // Conservation: stock = initial + restocks - held - confirmed, per book, after any sequence.
        #[test]
        fn stock_is_conserved(ops in proptest::collection::vec(op(), 0..60)) {
            let s = seeded();
            let mut restocked = [0i64; 8];
            for op in &ops {
                let cmd = match op.clone() {
                    Op::Reserve(k, i, q) => reserve(&k.to_string(), i, q),
                    Op::Confirm(k) => CatalogCommand::Confirm(Confirm { key: k.to_string() }),
                    Op::ConfirmAll(ks) => CatalogCommand::ConfirmAll(ConfirmAll { keys: ks.iter().map(u8::to_string).collect() }),
                    Op::Release(k, i, q) => CatalogCommand::Release(Release { key: k.to_string(), item: i, quantity: q }),
                    Op::Restock(i, d) => CatalogCommand::UpdateBook(UpdateBook { item: i, stock_delta: Some(d), cost: None }),
                };
                if let CatalogResponse::Book(_) = s.apply(&cmd) {
                    if let Op::Restock(i, d) = op { restocked[*i as usize] += d; }
                }
            }
            let view = s.view();
            let reservations: Vec<(Vec<u8>, api::Reservation)> = view.scan(RESERVATIONS);
            for book in all_books(&view, None) {
                let taken: u64 = reservations.iter()
                    .filter(|(_, r)| r.item == book.id && matches!(r.state, ReservationState::Held | ReservationState::Confirmed))
                    .map(|(_, r)| r.quantity).sum();
                prop_assert_eq!(book.stock as i64, 5 + restocked[book.id as usize] - taken as i64);
            }
            let _: Vec<Book> = all_books(&view, Some("ds"));
            // The index of held reservations lists exactly the held ones.
            let held: Vec<Vec<u8>> = reservations.iter()
                .filter(|(_, r)| r.state == ReservationState::Held)
                .map(|(k, _)| k.clone()).collect();
            let indexed: Vec<Vec<u8>> = view.scan::<()>(HELD).into_iter().map(|(k, ())| k).collect();
            prop_assert_eq!(indexed, held);
        }
    }

    use crate::command::Rejection;

    #[test]
    fn a_batch_of_reservations_answers_and_changes_what_one_entry_each_would() {
        // Goal: a `ReserveAll` is the same as its reservations applied one by one, in order: a
        // later one sees the stock an earlier one took (the same book twice, then too many), a
        // key repeated answers its first outcome, an unknown book and a key conflict are
        // refused without stopping the rest. Method: the same list through two scratch catalogs.
        let book = default_books()[0].clone();
        let list: Vec<Reserve> = [
            ("a", book.id, 2),
            ("b", book.id, book.stock - 2),
            ("c", book.id, 1),
            ("a", book.id, 2),
            ("a", book.id, 1),
            ("d", 999, 1),
            ("e", 2, 1),
        ]
        .into_iter()
        .map(|(key, item, quantity)| Reserve {
            key: key.into(),
            item,
            quantity,
        })
        .collect();
        let one_by_one = seeded();
        let expected: Vec<CatalogResponse> = list
            .iter()
            .map(|r| one_by_one.apply(&CatalogCommand::Reserve(r.clone())))
            .collect();
        let batched = seeded();
        let answered = batched.apply(&CatalogCommand::ReserveAll(ReserveAll {
            reservations: list,
            order_term: 0,
        }));
        assert_eq!(answered, CatalogResponse::Reservations(expected.clone()));
        assert_eq!(batched.image(), one_by_one.image());
        assert_eq!(state_of(expected[2].clone()), ReservationState::Refused);
        assert!(matches!(expected[4], CatalogResponse::Rejected(_)));
        assert!(matches!(expected[5], CatalogResponse::Rejected(_)));
    }

    #[test]
    fn a_fenced_order_term_reserves_nothing() {
        // Goal: once an order leader of term 3 fenced, a batch of term 2 is refused whole and
        // stores nothing, a batch of term 3 applies, a fence of an earlier term is refused and a
        // later one moves the fence up. Method: a scratch catalog, its image compared around the
        // refused commands.
        let s = seeded();
        let batch = |key: &str, order_term| {
            CatalogCommand::ReserveAll(ReserveAll {
                reservations: vec![Reserve {
                    key: key.into(),
                    item: 1,
                    quantity: 1,
                }],
                order_term,
            })
        };
        let fence = |term| CatalogCommand::FenceOrders(FenceOrders { term });
        assert_eq!(
            state_of(first(s.apply(&batch("before", 0)))),
            ReservationState::Held
        );
        assert_eq!(s.apply(&fence(3)), CatalogResponse::OrdersFenced(3));
        let image = s.image();
        let stale = Rejection::StaleOrderLeader { term: 2, fence: 3 };
        assert_eq!(
            first(s.apply(&batch("late", 2))),
            CatalogResponse::Rejected(stale)
        );
        let stale_fence = Rejection::StaleOrderLeader { term: 2, fence: 3 };
        assert_eq!(s.apply(&fence(2)), CatalogResponse::Rejected(stale_fence));
        assert_eq!(s.image(), image, "refused commands change nothing");
        assert_eq!(
            state_of(first(s.apply(&batch("now", 3)))),
            ReservationState::Held
        );
        assert_eq!(
            s.apply(&fence(3)),
            CatalogResponse::OrdersFenced(3),
            "again"
        );
        assert_eq!(s.apply(&fence(5)), CatalogResponse::OrdersFenced(5));
        assert!(matches!(
            first(s.apply(&batch("now", 3))),
            CatalogResponse::Rejected(Rejection::StaleOrderLeader { term: 3, fence: 5 })
        ));
        let held: Vec<Vec<u8>> = s
            .view()
            .scan::<()>(HELD)
            .into_iter()
            .map(|(k, ())| k)
            .collect();
        assert_eq!(held, [b"before".to_vec(), b"now".to_vec()]);
    }

    fn first(response: CatalogResponse) -> CatalogResponse {
        match response {
            CatalogResponse::Reservations(mut each) if each.len() == 1 => each.remove(0),
            other => panic!("expected one reservation's answer, got {other:?}"),
        }
    }
}
