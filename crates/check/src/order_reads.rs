//! Check `order_reads_consistent`: order reads agree with the final log and are never stale
//! (once an order was acknowledged or seen, no later read misses it: DESIGN §6).

use std::collections::HashMap;

use api::Order;

use crate::history::{Op, OpKind, Outcome};
use crate::report::CheckResult;

/// Order reads agree with the final logs, and none misses an order acknowledged (or seen by
/// another read) before it was invoked.
pub(crate) fn order_reads_consistent(
    history: &[Op],
    order_logs: &[(u64, Vec<Order>)],
    orders_before: u64,
) -> CheckResult {
    let mut result = CheckResult::new("order_reads_consistent");
    // When each order number was first known to exist: its earliest definitive ack or read.
    let mut known_at: HashMap<u64, (u64, &Op)> = HashMap::new();
    for op in history.iter().filter(|op| !op.is_unknown()) {
        let order = match &op.outcome {
            Outcome::Bought { order } | Outcome::OrderSeen { order } => order,
            _ => continue,
        };
        let done = op.complete_ns.expect("a known outcome has a completion");
        let earliest = known_at.entry(order.number).or_insert((done, op));
        if done < earliest.0 {
            *earliest = (done, op);
        }
    }
    let mut reads = 0;
    for op in history {
        let OpKind::ReadOrder { number } = op.kind else {
            continue;
        };
        reads += 1;
        match &op.outcome {
            Outcome::OrderSeen { order } => check_seen(&mut result, op, number, order, order_logs),
            Outcome::OrderMissing if number <= orders_before => result.fail(
                format!("{op}: order #{number} existed before the run began"),
                &[op.id],
            ),
            Outcome::OrderMissing => match known_at.get(&number) {
                Some((done, known)) if *done < op.invoke_ns => result.fail(
                    format!("{op}: stale, order #{number} was already known to {known}"),
                    &[op.id, known.id],
                ),
                _ => {}
            },
            _ => {}
        }
    }
    result.note(format!("{reads} order reads checked"));
    result
}

fn check_seen(
    result: &mut CheckResult,
    op: &Op,
    number: u64,
    seen: &Order,
    order_logs: &[(u64, Vec<Order>)],
) {
    if seen.number != number {
        result.fail(format!("{op}: asked for order #{number}"), &[op.id]);
    }
    for (replica, log) in order_logs {
        let kept = log.iter().find(|o| o.number == seen.number);
        if kept != Some(seen) {
            result.fail(
                format!("{op}: read {seen:?} but order replica {replica} holds {kept:?}"),
                &[op.id],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckStatus;
    use crate::testutil::{bought, logs, order, order_missing, order_seen};

    #[test]
    fn order_reads_must_match_the_log_and_never_be_stale() {
        // Goal: a read that misses an order acked before it began is stale; a read that saw
        // an order the log does not hold is wrong; a read racing the ack may miss it.
        let acked = bought(1, 1, 1, "k", 1, (0, 10));
        let log = logs(&[order(1, 1, 1)]);
        let racing = order_missing(2, 1, (5, 15));
        let seen = order_seen(3, order(1, 1, 1), (20, 30));
        let good = [acked.clone(), racing, seen];
        assert_eq!(
            order_reads_consistent(&good, &log, 0).status,
            CheckStatus::Passed
        );
        let stale = [acked.clone(), order_missing(4, 1, (11, 12))];
        let result = order_reads_consistent(&stale, &log, 0);
        assert_eq!(result.status, CheckStatus::Failed);
        assert_eq!(result.ops, vec![4, 1]);
        let mut wrong = order(1, 1, 1);
        wrong.title = "other".into();
        let result = order_reads_consistent(&[acked, order_seen(5, wrong, (20, 30))], &log, 0);
        assert_eq!((result.status, result.ops), (CheckStatus::Failed, vec![5]));
    }
}
