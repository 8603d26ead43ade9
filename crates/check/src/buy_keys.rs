//! Check `buy_keys_once`: no buy key produced two orders, and no order came from nowhere
//! (DESIGN §5: a buy retried with the same key is applied at most once).

use std::collections::{BTreeMap, HashMap};

use api::Order;

use crate::history::{Op, OpKind, Outcome};
use crate::orders::reference_log;
use crate::report::CheckResult;

/// Attempts of each buy key, and whether any got a definitive answer.
fn attempts_by_key(history: &[Op]) -> BTreeMap<&str, Vec<&Op>> {
    let mut keys: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        if let OpKind::Buy { key, .. } = &op.kind {
            keys.entry(key).or_default().push(op);
        }
    }
    keys
}

/// No buy key produced two orders: the acknowledged orders of one key are one order, two keys
/// never share an order number, and orders nobody saw acknowledged do not outnumber the buys
/// whose outcome is unknown (else some came from no buy, or from a buy applied twice).
pub(crate) fn buy_keys_once(
    history: &[Op],
    order_logs: &[(u64, Vec<Order>)],
    orders_before: u64,
) -> CheckResult {
    let mut result = CheckResult::new("buy_keys_once");
    let keys = attempts_by_key(history);
    let mut number_owner: HashMap<u64, (&str, &Op)> = HashMap::new();
    // Unknown-outcome keys per (item, quantity): each may have made one unacknowledged order.
    let mut open: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    for (key, attempts) in &keys {
        let acked: Vec<(&Op, &Order)> = attempts
            .iter()
            .filter_map(|op| op.bought().map(|o| (*op, o)))
            .collect();
        if let Some((first_op, first)) = acked.first() {
            for (op, order) in &acked[1..] {
                if order != first {
                    let why = format!("buy key {key:?} has two orders: {first_op}; {op}");
                    result.fail(why, &[first_op.id, op.id]);
                }
            }
            match number_owner.get(&first.number) {
                Some((other_key, other)) if other_key != key => result.fail(
                    format!(
                        "order #{} acknowledged to two buy keys: {other}; {first_op}",
                        first.number
                    ),
                    &[other.id, first_op.id],
                ),
                _ => {
                    number_owner.insert(first.number, (key, first_op));
                }
            }
            continue;
        }
        let refused = attempts.iter().any(|op| op.outcome == Outcome::Refused);
        if !refused && attempts.iter().any(|op| op.is_unknown()) {
            if let OpKind::Buy { item, quantity, .. } = attempts[0].kind {
                open.entry((item, quantity))
                    .or_default()
                    .push(attempts[0].id);
            }
        }
    }
    if let Some(log) = reference_log(order_logs) {
        count_unacknowledged(&mut result, log, orders_before, &number_owner, &open);
    } else {
        result.undecided("no order log was collected".to_string());
    }
    result.note(format!("{} buy keys checked", keys.len()));
    result
}

/// Fails when the unacknowledged orders of an (item, quantity) outnumber its open buy keys.
fn count_unacknowledged(
    result: &mut CheckResult,
    log: &[Order],
    orders_before: u64,
    acked: &HashMap<u64, (&str, &Op)>,
    open: &BTreeMap<(u64, u64), Vec<u64>>,
) {
    let mut unacked: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    for o in log.iter().filter(|o| o.number > orders_before) {
        if !acked.contains_key(&o.number) {
            unacked
                .entry((o.item, o.quantity))
                .or_default()
                .push(o.number);
        }
    }
    for ((item, quantity), numbers) in unacked {
        let keys = open
            .get(&(item, quantity))
            .map_or(&[][..], |k| k.as_slice());
        if numbers.len() > keys.len() {
            result.fail(
                format!(
                    "orders {numbers:?} (item {item} x{quantity}) were never acknowledged, but \
                     only {} buys of item {item} x{quantity} have an unknown outcome: an order \
                     came from no buy, or a buy was applied twice",
                    keys.len()
                ),
                keys,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckStatus;
    use crate::testutil::{bought, buy_unknown, logs, order};

    #[test]
    fn one_key_never_makes_two_orders() {
        // Goal: two orders acked under one key, one number acked to two keys, and an unacked
        // order with no unknown buy to explain it are all duplicates or phantoms.
        let log = [order(1, 1, 1), order(2, 1, 1)];
        let twice = [
            bought(1, 1, 1, "k", 1, (0, 10)),
            bought(2, 1, 1, "k", 2, (20, 30)),
        ];
        let result = buy_keys_once(&twice, &logs(&log), 0);
        assert_eq!(result.status, CheckStatus::Failed);
        assert!(result.details[0].contains("two orders"), "{result:?}");
        let shared = [
            bought(1, 1, 1, "k", 1, (0, 10)),
            bought(2, 1, 1, "j", 1, (20, 30)),
        ];
        let result = buy_keys_once(&shared, &logs(&log[..1]), 0);
        assert!(result.details[0].contains("two buy keys"), "{result:?}");
        // One unknown buy can explain one unacknowledged order (#3), not two (#1 and #3)...
        let open = [
            bought(1, 1, 1, "k", 2, (0, 10)),
            buy_unknown(2, 1, 1, "u", 5),
        ];
        let three = [order(1, 1, 1), order(2, 1, 1), order(3, 1, 1)];
        let result = buy_keys_once(&open, &logs(&three), 0);
        assert_eq!(
            (result.status, result.ops.clone()),
            (CheckStatus::Failed, vec![2])
        );
        // ... unless #1 was already there when the run began.
        assert_eq!(
            buy_keys_once(&open, &logs(&three), 1).status,
            CheckStatus::Passed
        );
    }
}
