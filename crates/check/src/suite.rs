//! The checks run in order on one [`CheckInput`] ([`check_all`]).

use crate::input::{CheckInput, CheckLimits};
use crate::report::CheckReport;
use crate::{buy_keys, order_reads, orders, register, replicas, stock};

/// Runs every check on `input`. Checks, in order: `acknowledged_orders_durable`,
/// `order_numbers_gap_free`, `buy_keys_once`, `order_reads_consistent`, `stock_conserved`,
/// `stock_linearizable`, `replicas_identical`, `no_panics`.
pub fn check_all(input: &CheckInput, limits: &CheckLimits) -> CheckReport {
    let (history, logs, before) = (&input.history, &input.order_logs, input.orders_before);
    let states_max = limits.search_states_per_item_max;
    CheckReport {
        checks: vec![
            orders::acknowledged_orders_durable(history, logs),
            orders::order_numbers_gap_free(logs),
            buy_keys::buy_keys_once(history, logs, before),
            order_reads::order_reads_consistent(history, logs, before),
            stock::stock_conserved(input, limits),
            register::stock_linearizable(input, states_max),
            replicas::replicas_identical(&input.digests),
            replicas::no_panics(&input.panics),
        ],
    }
}
