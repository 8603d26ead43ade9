//! The order group's state machine, plugged into the replication runtime.

use storage::{ServiceMachine, StateTxn, TxnResult};

use crate::command::{OrderCommand, OrderResponse, ORDERS, ORDER_KEYS, ORDER_META, PENDING};

/// The order group's state machine: order log, finished keys, pending buys.
pub struct OrderMachine;

impl ServiceMachine for OrderMachine {
    type Command = OrderCommand;
    type Response = OrderResponse;
    const GROUP: &'static str = "orders";
    const STATE_TREES: &'static [&'static str] = &[ORDERS, ORDER_KEYS, PENDING, ORDER_META];

    fn apply(txn: &StateTxn<'_>, command: &OrderCommand) -> TxnResult<OrderResponse> {
        command.apply(txn)
    }
}

#[cfg(test)]
mod tests {
    use api::{ErrorCode, Order};
    use proptest::prelude::*;
    use storage::scratch::ScratchState;

    use super::*;
    use crate::command::{AbandonBuy, BeginBuy, CompleteBuy, PendingBuy};

    fn begin(key: &str, item: u64, quantity: u64) -> OrderCommand {
        OrderCommand::BeginBuy(BeginBuy {
            buy: PendingBuy {
                key: key.into(),
                item,
                quantity,
            },
        })
    }

    fn complete(key: &str) -> OrderCommand {
        OrderCommand::CompleteBuy(CompleteBuy {
            key: key.into(),
            title: "T".into(),
            unit_cost: 7,
        })
    }

    fn abandon(key: &str) -> OrderCommand {
        let (code, message) = (ErrorCode::OutOfStock, "none left".into());
        OrderCommand::AbandonBuy(AbandonBuy {
            key: key.into(),
            code,
            message,
        })
    }

    #[test]
    fn a_key_makes_one_order_and_a_refusal_sticks() {
        let s = ScratchState::<OrderMachine>::new();
        assert!(matches!(
            s.apply(&begin("a", 1, 2)),
            OrderResponse::Pending(_)
        ));
        let OrderResponse::Ordered(first) = s.apply(&complete("a")) else {
            panic!()
        };
        assert_eq!((first.number, first.cost), (1, 14));
        assert_eq!(
            s.apply(&complete("a")),
            OrderResponse::Ordered(first.clone())
        );
        assert_eq!(s.apply(&begin("a", 1, 2)), OrderResponse::Ordered(first));
        assert!(matches!(
            s.apply(&begin("a", 1, 3)),
            OrderResponse::KeyConflict(_)
        ));
        s.apply(&begin("b", 1, 1));
        assert!(matches!(
            s.apply(&abandon("b")),
            OrderResponse::Refused { .. }
        ));
        assert!(matches!(
            s.apply(&complete("b")),
            OrderResponse::Refused { .. }
        ));
        assert!(matches!(
            s.apply(&complete("never")),
            OrderResponse::NotPending(_)
        ));
    }

    proptest! {
        // Whatever the interleaving of begins, completes and abandons: order numbers are 1..=n
        // with no gap, each key has at most one order, and nothing stays pending once finished.
        #[test]
        fn numbers_are_gap_free_and_keys_unique(ops in proptest::collection::vec((0u8..3, 0u8..8), 0..80)) {
            let s = ScratchState::<OrderMachine>::new();
            for (kind, key) in &ops {
                let key = key.to_string();
                let cmd = match kind { 0 => begin(&key, 1, 1), 1 => complete(&key), _ => abandon(&key) };
                s.apply(&cmd);
            }
            let view = s.view();
            let orders: Vec<(Vec<u8>, Order)> = view.scan(ORDERS);
            for (i, (_, order)) in orders.iter().enumerate() {
                prop_assert_eq!(order.number, i as u64 + 1);
            }
            let keys: Vec<(Vec<u8>, crate::command::KeyOutcome)> = view.scan(ORDER_KEYS);
            let ordered = keys.iter().filter(|(_, o)| matches!(o, crate::command::KeyOutcome::Ordered(_))).count();
            prop_assert_eq!(ordered, orders.len());
            let pending: Vec<(Vec<u8>, PendingBuy)> = view.scan(PENDING);
            for (k, _) in &pending {
                prop_assert!(!keys.iter().any(|(fk, _)| fk == k));
            }
        }
    }
}
