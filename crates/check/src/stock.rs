//! Check `stock_conserved`: for every book, on every catalog replica, once recovered,
//! `initial + applied restocks - copies in committed orders == stock` (DESIGN §5); the catalog
//! replicas agree; nothing was oversold; no read saw more copies than could ever exist.
//!
//! Restocks whose outcome is unknown make the equation ambiguous: it holds if some subset of
//! them applied. The subset sums are enumerated up to a bound; past it the book is undecided.

use std::collections::{BTreeMap, HashSet};

use crate::history::{Op, OpKind, Outcome};
use crate::input::{CheckInput, CheckLimits};
use crate::orders::reference_log;
use crate::report::CheckResult;

/// Restocks of one book, as far as the history tells.
#[derive(Debug, Default)]
struct Restocks {
    /// Sum of the deltas known to have applied.
    applied: i128,
    /// Ids and deltas of the restocks that may or may not have applied.
    unknown: Vec<(u64, i64)>,
    /// Sum of every positive delta that applied or may have: no stock can ever exceed
    /// `initial + additions_max`.
    additions_max: i128,
}

fn restocks_of(history: &[Op], item: u64) -> Restocks {
    let mut restocks = Restocks::default();
    for op in history.iter().filter(|op| !op.is_failed()) {
        let OpKind::Restock { item: of, delta } = op.kind else {
            continue;
        };
        if of != item {
            continue;
        }
        if op.is_unknown() {
            restocks.unknown.push((op.id, delta));
        } else {
            restocks.applied += i128::from(delta);
        }
        restocks.additions_max += i128::from(delta.max(0));
    }
    restocks
}

/// Runs every stock check on every book of `input.initial_stock` (books only the replicas
/// know are not checked).
pub(crate) fn stock_conserved(input: &CheckInput, limits: &CheckLimits) -> CheckResult {
    let mut result = CheckResult::new("stock_conserved");
    let Some(log) = reference_log(&input.order_logs) else {
        result.undecided("no order log was collected".to_string());
        return result;
    };
    if input.catalog_stock.is_empty() {
        result.undecided("no catalog stock was collected".to_string());
        return result;
    }
    let mut sold: BTreeMap<u64, i128> = BTreeMap::new();
    for order in log.iter().filter(|o| o.number > input.orders_before) {
        *sold.entry(order.item).or_default() += i128::from(order.quantity);
    }
    for (&item, &initial) in &input.initial_stock {
        let book = Book {
            item,
            initial: i128::from(initial),
            sold: sold.get(&item).copied().unwrap_or(0),
            restocks: restocks_of(&input.history, item),
        };
        book.check_oversell(&mut result, &input.history);
        book.check_reads(&mut result, &input.history);
        book.check_replicas(&mut result, &input.catalog_stock, limits);
    }
    let books = input.initial_stock.len();
    let replicas = input.catalog_stock.len();
    result.note(format!(
        "{books} books checked on {replicas} catalog replicas"
    ));
    result
}

/// One book's numbers.
struct Book {
    item: u64,
    initial: i128,
    sold: i128,
    restocks: Restocks,
}

impl Book {
    /// Copies sold never exceed what was ever available: the final stock is `>= 0`, so
    /// `sold <= initial + applied + (positive unknown restocks)`.
    fn check_oversell(&self, result: &mut CheckResult, history: &[Op]) {
        let unknown_additions: i128 = self
            .restocks
            .unknown
            .iter()
            .map(|(_, d)| i128::from((*d).max(0)))
            .sum();
        let available_max = self.initial + self.restocks.applied + unknown_additions;
        if self.sold > available_max {
            let buys: Vec<u64> = history
                .iter()
                .filter(|op| op.item() == Some(self.item) && op.bought().is_some())
                .map(|op| op.id)
                .collect();
            let (item, sold) = (self.item, self.sold);
            result.fail(
                format!(
                    "item {item}: oversold, {sold} copies in committed orders but at most \
                     {available_max} were ever available"
                ),
                &buys,
            );
        }
    }

    /// No read or restock answer shows more copies than could ever exist.
    fn check_reads(&self, result: &mut CheckResult, history: &[Op]) {
        let stock_max = self.initial + self.restocks.additions_max;
        for op in history.iter().filter(|op| op.item() == Some(self.item)) {
            let seen = match op.outcome {
                Outcome::ReadStock { stock } => stock,
                Outcome::Restocked { stock_after } => stock_after,
                _ => continue,
            };
            if i128::from(seen) > stock_max {
                result.fail(
                    format!("{op}: more than the {stock_max} copies there could ever be"),
                    &[op.id],
                );
            }
        }
    }

    /// Every catalog replica holds the same stock, and it is the conserved one.
    fn check_replicas(
        &self,
        result: &mut CheckResult,
        catalog_stock: &[(u64, BTreeMap<u64, u64>)],
        limits: &CheckLimits,
    ) {
        let item = self.item;
        let held: Vec<(u64, Option<u64>)> = catalog_stock
            .iter()
            .map(|(replica, books)| (*replica, books.get(&item).copied()))
            .collect();
        if held.windows(2).any(|pair| pair[0].1 != pair[1].1) {
            result.fail(
                format!("item {item}: catalog replicas disagree: {held:?}"),
                &[],
            );
        }
        let mut finals: Vec<u64> = held.iter().filter_map(|(_, stock)| *stock).collect();
        finals.sort_unstable();
        finals.dedup();
        if held.iter().any(|(_, stock)| stock.is_none()) {
            result.fail(format!("item {item}: missing on some catalog replica"), &[]);
        }
        for stock in finals {
            self.check_equation(result, stock, limits);
        }
    }

    /// `initial + applied + (some subset of unknown restocks) - sold == stock`.
    fn check_equation(&self, result: &mut CheckResult, stock: u64, limits: &CheckLimits) {
        let item = self.item;
        let (initial, applied, sold) = (self.initial, self.restocks.applied, self.sold);
        // What the unknown restocks that applied must add up to.
        let missing = i128::from(stock) + sold - initial - applied;
        let deltas: Vec<i64> = self.restocks.unknown.iter().map(|(_, d)| *d).collect();
        let equation = format!(
            "item {item}: initial {initial} + restocks {applied} - sold {sold} = {} but a \
             replica holds {stock}",
            initial + applied - sold
        );
        if missing == 0 {
            return;
        }
        if deltas.is_empty() {
            result.fail(equation, &[]);
            return;
        }
        match subset_sums(&deltas, limits.restock_sums_per_item_max) {
            Some(sums) if sums.contains(&missing) => {}
            Some(_) => {
                let ids: Vec<u64> = self.restocks.unknown.iter().map(|(id, _)| *id).collect();
                let why = format!(
                    "{equation}, and no subset of the unknown restocks {deltas:?} adds {missing}"
                );
                result.fail(why, &ids);
            }
            None => result.undecided(format!(
                "{equation} unless some of the {} unknown restocks applied, which have more \
                 than {} subset sums to try",
                deltas.len(),
                limits.restock_sums_per_item_max
            )),
        }
    }
}

/// Every sum of a subset of `deltas`, or `None` if there are more than `sums_max`.
fn subset_sums(deltas: &[i64], sums_max: usize) -> Option<HashSet<i128>> {
    let mut sums: HashSet<i128> = HashSet::from([0]);
    for &delta in deltas {
        let more: Vec<i128> = sums.iter().map(|s| s + i128::from(delta)).collect();
        sums.extend(more);
        if sums.len() > sums_max {
            return None;
        }
    }
    Some(sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckStatus;
    use crate::testutil::{bought, order, read, restock_unknown, restocked};
    use api::Order;

    fn input(history: Vec<Op>, log: Vec<Order>, finals: &[u64]) -> CheckInput {
        let catalog_stock = finals
            .iter()
            .zip(1..)
            .map(|(stock, replica)| (replica, BTreeMap::from([(1, *stock)])))
            .collect();
        CheckInput {
            history,
            initial_stock: BTreeMap::from([(1, 5)]),
            order_logs: vec![(1, log)],
            catalog_stock,
            ..CheckInput::default()
        }
    }

    fn status(input: &CheckInput) -> CheckStatus {
        stock_conserved(input, &CheckLimits::default()).status
    }

    #[test]
    fn stock_is_initial_plus_restocks_minus_orders() {
        // Goal: 5 + 3 - 2 = 6 holds; any other final stock, or replicas that disagree, fail.
        let history = vec![
            restocked(1, 1, 3, 8, (0, 10)),
            bought(2, 1, 2, "k", 1, (20, 30)),
        ];
        let log = vec![order(1, 1, 2)];
        assert_eq!(
            status(&input(history.clone(), log.clone(), &[6, 6, 6])),
            CheckStatus::Passed
        );
        let off = stock_conserved(
            &input(history.clone(), log.clone(), &[7, 7]),
            &CheckLimits::default(),
        );
        assert_eq!(off.status, CheckStatus::Failed);
        assert!(
            off.details[0].contains("= 6 but a replica holds 7"),
            "{off:?}"
        );
        let split = stock_conserved(&input(history, log, &[6, 5]), &CheckLimits::default());
        assert!(split.details[0].contains("disagree"), "{split:?}");
    }

    #[test]
    fn unknown_restocks_may_or_may_not_have_applied() {
        // Goal: with unknown restocks +3 and +4, the final stock may be 5, 8, 9 or 12 (no
        // order); 6 is explained by no subset; too many subsets is undecided, not a pass.
        let history = vec![restock_unknown(1, 1, 3, 0), restock_unknown(2, 1, 4, 0)];
        for ok in [5, 8, 9, 12] {
            assert_eq!(
                status(&input(history.clone(), vec![], &[ok])),
                CheckStatus::Passed
            );
        }
        let bad = stock_conserved(
            &input(history.clone(), vec![], &[6]),
            &CheckLimits::default(),
        );
        assert_eq!(
            (bad.status, bad.ops.clone()),
            (CheckStatus::Failed, vec![1, 2])
        );
        let tight = CheckLimits {
            restock_sums_per_item_max: 2,
            ..CheckLimits::default()
        };
        let undecided = stock_conserved(&input(history, vec![], &[12]), &tight);
        assert_eq!(undecided.status, CheckStatus::Inconclusive);
    }

    #[test]
    fn oversell_and_impossible_reads_fail() {
        // Goal: 6 copies sold of 5, and a read of 9 copies when at most 5 ever existed, fail.
        let buys: Vec<Op> = (1..=6)
            .map(|i| bought(i, 1, 1, &format!("k{i}"), i, (i * 10, i * 10 + 5)))
            .collect();
        let log: Vec<Order> = (1..=6).map(|n| order(n, 1, 1)).collect();
        let result = stock_conserved(&input(buys, log, &[0]), &CheckLimits::default());
        assert_eq!(result.status, CheckStatus::Failed);
        assert!(
            result.details[0].contains("oversold, 6 copies"),
            "{result:?}"
        );
        assert_eq!(result.ops, vec![1, 2, 3, 4, 5, 6]);
        let result = stock_conserved(
            &input(vec![read(7, 1, 9, (0, 1))], vec![], &[5]),
            &CheckLimits::default(),
        );
        assert_eq!((result.status, result.ops), (CheckStatus::Failed, vec![7]));
    }
}
