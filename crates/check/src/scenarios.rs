//! Whole-checker scenarios: synthetic histories with a known violation must fail the right
//! check, and valid ones (unknown outcomes and odd concurrency included) must pass them all.

use std::collections::BTreeMap;

use api::Order;

use crate::history::{Op, Outcome};
use crate::input::{CheckInput, CheckLimits};
use crate::register::{check_register, RegisterOutcome};
use crate::report::{CheckReport, CheckStatus};
use crate::suite::check_all;
use crate::testutil::{
    self, bought, buy_unknown, order, read, refused, restock_unknown, restocked, unknown,
};

/// A recovered cluster with one book (id 1, initial stock 5).
fn cluster(history: Vec<Op>, log: &[Order], stock: u64) -> CheckInput {
    testutil::cluster(history, 5, log, stock)
}

fn run(input: &CheckInput) -> CheckReport {
    check_all(input, &CheckLimits::default())
}

/// The names of the checks that did not pass.
fn not_passed(report: &CheckReport) -> Vec<&str> {
    let bad = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed);
    bad.map(|c| c.name.as_str()).collect()
}

fn assert_all_pass(input: &CheckInput) {
    let report = run(input);
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.checks.len(), 8);
}

#[test]
fn lost_acknowledged_order_fails_durability_naming_it() {
    // Goal: an acked order absent from one replica's final log is reported with its op.
    let history = vec![
        bought(1, 1, 1, "a", 1, (0, 10)),
        bought(2, 1, 1, "b", 2, (20, 30)),
    ];
    let log = [order(1, 1, 1), order(2, 1, 1)];
    assert_all_pass(&cluster(history.clone(), &log, 3));
    let mut lost = cluster(history, &log, 3);
    lost.order_logs[1].1.pop();
    let report = run(&lost);
    let durable = report.get("acknowledged_orders_durable").unwrap();
    assert_eq!(
        (durable.status, durable.ops.clone()),
        (CheckStatus::Failed, vec![2])
    );
    assert!(
        durable.details[0].contains("order #2 acknowledged to op 2"),
        "{durable:?}"
    );
    assert!(durable.details[0].contains("missing on order replica 2"));
}

#[test]
fn stale_read_after_completed_buy_is_not_linearizable() {
    // Goal: a read invoked after a buy completed must not see the stock from before it.
    let buy = bought(1, 1, 1, "a", 1, (0, 10));
    let history = vec![buy, read(2, 1, 5, (20, 30))];
    let report = run(&cluster(history, &[order(1, 1, 1)], 4));
    assert_eq!(not_passed(&report), vec!["stock_linearizable"]);
    let check = report.get("stock_linearizable").unwrap();
    assert_eq!(check.ops, vec![2, 1]);
    let why = &check.details[0];
    assert!(
        why.contains("op 2 (process 2, [20, 30] ns): read item 1 -> stock 5"),
        "{why}"
    );
    assert!(
        why.contains("ending with op 1") && why.contains("the stock is 4"),
        "{why}"
    );
}

#[test]
fn oversell_fails_linearizability_and_conservation() {
    // Goal: 6 acked buys of 1 copy of a book with 5 and no restock: both checks see it.
    let history: Vec<Op> = (1..=6)
        .map(|i| bought(i, 1, 1, &format!("k{i}"), i, (i * 100, i * 100 + 50)))
        .collect();
    let log: Vec<Order> = (1..=6).map(|n| order(n, 1, 1)).collect();
    let report = run(&cluster(history, &log, 0));
    assert_eq!(
        not_passed(&report),
        vec!["stock_conserved", "stock_linearizable"]
    );
    let linear = report.get("stock_linearizable").unwrap();
    assert_eq!(
        linear.ops[0], 6,
        "the sixth buy cannot be placed: {linear:?}"
    );
    let conserved = report.get("stock_conserved").unwrap();
    assert!(
        conserved.details.iter().any(|d| d.contains("oversold")),
        "{conserved:?}"
    );
}

#[test]
fn duplicate_orders_and_gaps_fail_the_order_checks() {
    // Goal: a key answered with two orders, and a log with a gap, are caught.
    let twice = vec![
        bought(1, 1, 1, "k", 1, (0, 10)),
        bought(2, 1, 1, "k", 2, (20, 30)),
    ];
    let report = run(&cluster(twice, &[order(1, 1, 1), order(2, 1, 1)], 3));
    assert!(
        not_passed(&report).contains(&"buy_keys_once"),
        "{report:#?}"
    );
    let history = vec![
        bought(1, 1, 1, "a", 1, (0, 10)),
        bought(2, 1, 1, "b", 3, (20, 30)),
    ];
    let report = run(&cluster(history, &[order(1, 1, 1), order(3, 1, 1)], 3));
    assert_eq!(not_passed(&report), vec!["order_numbers_gap_free"]);
}

#[test]
fn unknown_buys_that_did_or_did_not_apply_are_accepted() {
    // Goal: a timed-out buy may have applied (later reads and the log show it) or not.
    let applied = vec![buy_unknown(1, 1, 1, "u", 0), read(2, 1, 4, (50, 60))];
    assert_all_pass(&cluster(applied.clone(), &[order(1, 1, 1)], 4));
    let not_applied = vec![buy_unknown(1, 1, 1, "u", 0), read(2, 1, 5, (50, 60))];
    assert_all_pass(&cluster(not_applied, &[], 5));
    // A read may see it applied and a later one not: that is a stale read.
    let flicker = vec![
        applied[0].clone(),
        applied[1].clone(),
        read(3, 1, 5, (70, 80)),
    ];
    let report = run(&cluster(flicker, &[order(1, 1, 1)], 4));
    assert_eq!(not_passed(&report), vec!["stock_linearizable"]);
}

#[test]
fn unknown_restocks_that_did_or_did_not_apply_are_accepted() {
    // Goal: a timed-out restock may have applied or not, but only one way per history.
    let applied = vec![restock_unknown(1, 1, 3, 0), read(2, 1, 8, (50, 60))];
    assert_all_pass(&cluster(applied.clone(), &[], 8));
    let not_applied = vec![restock_unknown(1, 1, 3, 0), read(2, 1, 5, (50, 60))];
    assert_all_pass(&cluster(not_applied, &[], 5));
    // Seen applied but absent from the final stock: the read or the final state is wrong.
    // Conservation alone accepts 5 (the restock may not have applied); the register does not.
    let report = run(&cluster(applied, &[], 5));
    assert_eq!(not_passed(&report), vec!["stock_linearizable"]);
    let why = &report.get("stock_linearizable").unwrap().details[0];
    assert!(
        why.contains("read item 1 -> stock 8 cannot be linearized"),
        "{why}"
    );
    assert!(why.contains("ends at the final stock 5"), "{why}");
}

#[test]
fn retries_of_one_buy_key_take_stock_once() {
    // Goal: a timed-out attempt and its acked retry are one buy. Method: a read showing two
    // copies gone must fail, which it would not if the attempts were modelled separately.
    let attempts = vec![
        buy_unknown(1, 1, 1, "k", 0),
        bought(2, 1, 1, "k", 1, (100, 200)),
    ];
    let mut once = attempts.clone();
    once.push(read(3, 1, 4, (300, 310)));
    assert_all_pass(&cluster(once, &[order(1, 1, 1)], 4));
    let mut twice = attempts;
    twice.push(read(3, 1, 3, (300, 310)));
    let report = run(&cluster(twice, &[order(1, 1, 1)], 4));
    assert_eq!(not_passed(&report), vec!["stock_linearizable"]);
}

#[test]
fn a_key_both_bought_and_refused_is_a_violation() {
    // Goal: one buy key cannot have two different definitive outcomes.
    let history = vec![
        bought(1, 1, 1, "k", 1, (0, 10)),
        refused(2, 1, 1, "k", (20, 30)),
    ];
    let outcomes = check_register(&history, &BTreeMap::from([(1, 5)]), &BTreeMap::new(), 1_000);
    let RegisterOutcome::Violation(v) = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(v.op_ids, vec![1, 2]);
    let json = serde_json::to_string(&outcomes).unwrap();
    assert!(json.contains(r#""verdict":"violation""#), "{json}");
    assert!(v.explanation.contains("answered differently"), "{v:?}");
}

#[test]
fn overlapping_ops_linearizable_only_in_a_non_obvious_order_pass() {
    // Goal: the checker finds an order other than invocation or completion order. Method:
    // all ops overlap; from stock 1 the only explanation is buy (0), read 0, refused buy of
    // 2, restock +2 (2), read 2 — while the read of 0 is invoked first and completes last.
    let mut history = vec![
        read(1, 1, 0, (0, 500)),
        restocked(2, 1, 2, 2, (10, 110)),
        bought(3, 1, 1, "k", 1, (20, 120)),
        read(4, 1, 2, (30, 130)),
        refused(5, 1, 2, "r", (40, 140)),
    ];
    let mut input = cluster(history.clone(), &[order(1, 1, 1)], 2);
    input.initial_stock.insert(1, 1);
    assert!(run(&input).passed(), "{:#?}", run(&input));
    // The same ops, with the refused buy seen only after the restock completed: impossible.
    history[4] = refused(5, 1, 2, "r", (200, 210));
    input.history = history;
    assert_eq!(not_passed(&run(&input)), vec!["stock_linearizable"]);
}

#[test]
fn hitting_the_state_limit_is_inconclusive_never_a_pass() {
    // Goal: a search cut short reports inconclusive, and the report does not pass.
    let history: Vec<Op> = (1..=8).map(|i| read(i, 1, 5, (0, 100))).collect();
    let limits = CheckLimits {
        search_states_per_item_max: 3,
        ..CheckLimits::default()
    };
    let report = check_all(&cluster(history, &[], 5), &limits);
    assert_eq!(report.status(), CheckStatus::Inconclusive);
    assert!(!report.passed());
    let check = report.get("stock_linearizable").unwrap();
    assert!(
        check.details[0].contains("gave up after exploring"),
        "{check:?}"
    );
}

#[test]
fn failed_ops_never_happened_and_unknown_reads_say_nothing() {
    // Goal: a definitive failure is dropped, a read without answer is ignored, a book
    // without initial stock is undecided.
    let mut failed = restocked(1, 1, 100, 105, (0, 10));
    failed.outcome = Outcome::Failed {
        code: "no_leader".into(),
    };
    let silent = unknown(read(2, 1, 99, (0, 10)));
    assert_all_pass(&cluster(
        vec![failed, silent, read(3, 1, 5, (20, 30))],
        &[],
        5,
    ));
    let stranger = cluster(vec![read(4, 2, 1, (0, 10))], &[], 5);
    let report = run(&stranger);
    let check = report.get("stock_linearizable").unwrap();
    assert_eq!(check.status, CheckStatus::Inconclusive);
    assert!(check.details[0].contains("no initial stock"), "{check:?}");
}
