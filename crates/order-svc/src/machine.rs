//! The order group's state machine, plugged into the replication runtime.

use storage::{ServiceMachine, StateTxn, TxnResult};

use crate::command::{OrderCommand, OrderResponse, ORDERS, ORDER_KEYS, ORDER_META};

/// The order group's state machine: order log and ordered keys.
pub struct OrderMachine;

impl ServiceMachine for OrderMachine {
    type Command = OrderCommand;
    type Response = OrderResponse;
    const GROUP: &'static str = "orders";
    const STATE_TREES: &'static [&'static str] = &[ORDERS, ORDER_KEYS, ORDER_META];

    fn apply(txn: &StateTxn<'_>, command: &OrderCommand) -> TxnResult<OrderResponse> {
        command.apply(txn)
    }
}

#[cfg(test)]
mod tests {
    use api::Order;
    use proptest::prelude::*;
    use storage::scratch::ScratchState;

    use super::*;
    use crate::command::{Buy, CompleteAll, CompleteBuy, KeyOutcome};

    fn buy(key: &str, item: u64, quantity: u64) -> CompleteBuy {
        CompleteBuy {
            buy: Buy {
                key: key.into(),
                item,
                quantity,
            },
            title: "T".into(),
            unit_cost: 7,
        }
    }

    fn complete(key: &str, item: u64, quantity: u64) -> OrderCommand {
        OrderCommand::CompleteBuy(buy(key, item, quantity))
    }

    #[test]
    fn a_key_makes_one_order() {
        // Goal: the same buy completed again answers its order; the key with another item or
        // quantity is a conflict and changes nothing.
        let s = ScratchState::<OrderMachine>::new();
        let OrderResponse::Ordered(first) = s.apply(&complete("a", 1, 2)) else {
            panic!()
        };
        assert_eq!((first.number, first.cost), (1, 14));
        assert_eq!(
            s.apply(&complete("a", 1, 2)),
            OrderResponse::Ordered(first.clone())
        );
        let image = s.image();
        assert!(matches!(
            s.apply(&complete("a", 1, 3)),
            OrderResponse::KeyConflict(_)
        ));
        assert!(matches!(
            s.apply(&complete("a", 2, 2)),
            OrderResponse::KeyConflict(_)
        ));
        assert_eq!(s.image(), image);
        let OrderResponse::Ordered(second) = s.apply(&complete("b", 1, 1)) else {
            panic!()
        };
        assert_eq!(second.number, 2);
    }

    proptest! {
        // A batch is its buys one after the other: the same answers, in order, and the same
        // state, whatever repeats and conflicts it holds and whatever was ordered before it.
        #[test]
        fn a_complete_all_is_its_buys_in_order(
            before in proptest::collection::vec((0u8..6, 1u64..3), 0..6),
            batch in proptest::collection::vec((0u8..6, 1u64..3), 1..12),
        ) {
            let (one_by_one, all) = (ScratchState::<OrderMachine>::new(), ScratchState::<OrderMachine>::new());
            for (key, quantity) in &before {
                one_by_one.apply(&complete(&key.to_string(), 1, *quantity));
                all.apply(&complete(&key.to_string(), 1, *quantity));
            }
            let buys: Vec<CompleteBuy> =
                batch.iter().map(|(key, quantity)| buy(&key.to_string(), 1, *quantity)).collect();
            let each: Vec<OrderResponse> = buys
                .iter()
                .map(|b| one_by_one.apply(&OrderCommand::CompleteBuy(b.clone())))
                .collect();
            let answered = all.apply(&OrderCommand::CompleteAll(CompleteAll { buys }));
            prop_assert_eq!(answered, OrderResponse::OrderedAll(each));
            prop_assert_eq!(all.image(), one_by_one.image());
        }

        // Whatever the interleaving of completions, repeated or conflicting: order numbers are
        // 1..=n with no gap, and each key has exactly one order.
        #[test]
        fn numbers_are_gap_free_and_keys_unique(ops in proptest::collection::vec((0u8..8, 1u64..3), 0..80)) {
            let s = ScratchState::<OrderMachine>::new();
            for (key, quantity) in &ops {
                s.apply(&complete(&key.to_string(), 1, *quantity));
            }
            let view = s.view();
            let orders: Vec<(Vec<u8>, Order)> = view.scan(ORDERS);
            for (i, (_, order)) in orders.iter().enumerate() {
                prop_assert_eq!(order.number, i as u64 + 1);
            }
            let keys: Vec<(Vec<u8>, KeyOutcome)> = view.scan(ORDER_KEYS);
            prop_assert_eq!(keys.len(), orders.len());
            let distinct: std::collections::HashSet<u8> = ops.iter().map(|(k, _)| *k).collect();
            prop_assert_eq!(orders.len(), distinct.len());
        }
    }
}
