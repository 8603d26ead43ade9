//! A brute-force oracle for the search ([`crate::wgl::search`]): on small random histories,
//! linearizable or not, both must decide the same. It tries every order and every fate of the
//! unknown writes, with no memo and no pruning, so it checks those of the search.

use crate::model::{Action, End, SearchOp};
use crate::testutil::SplitMix;
use crate::wgl::{search, SearchOutcome};

/// The oracle's own reading of the model (written apart from `model::Action::step`): each
/// possible next stock, and whether the op applied.
fn oracle_next(action: Action, stock: u64) -> Vec<(u64, bool)> {
    let after = |delta: i64| u64::try_from(stock as i64 + delta).ok();
    let applied = |next: Option<u64>| next.map(|s| (s, true));
    let mut next: Vec<(u64, bool)> = match action {
        Action::Read { stock: seen } => applied(Some(stock).filter(|_| seen == stock)),
        Action::Take { quantity } | Action::MaybeTake { quantity } => {
            applied(after(-(quantity as i64)))
        }
        Action::Refuse { quantity } => applied(Some(stock).filter(|_| stock < quantity)),
        Action::Restock { delta, stock_after } => {
            applied(after(delta).filter(|s| *s == stock_after))
        }
        Action::MaybeRestock { delta } => applied(after(delta)),
    }
    .into_iter()
    .collect();
    if matches!(
        action,
        Action::MaybeTake { .. } | Action::MaybeRestock { .. }
    ) {
        next.push((stock, false));
    }
    next
}

/// A small history for the oracle: when `exactly` is not empty, the last op is a final read
/// that every unknown write must precede, and exactly so many unknown writes of each listed
/// action must apply.
struct Small {
    ops: Vec<SearchOp>,
    exactly: Vec<(Action, u32)>,
}

/// Brute force: is there an order of the unplaced ops, each placed only when no other unplaced
/// op completed before it was invoked, each unknown write applied or not, that the model and
/// the counts accept?
fn oracle(small: &Small, stock: u64, placed: u32, applied: &mut [u32]) -> bool {
    let ops = &small.ops;
    let pending = |i: usize| placed & (1 << i) == 0;
    if (0..ops.len()).all(|i| !pending(i)) {
        return small
            .exactly
            .iter()
            .zip(applied.iter())
            .all(|((_, n), a)| n == a);
    }
    let ready = |i: usize| !(0..ops.len()).any(|j| pending(j) && ops[j].complete < ops[i].invoke);
    for i in (0..ops.len()).filter(|&i| pending(i) && ready(i)) {
        for (next, did) in oracle_next(ops[i].action, stock) {
            let class = small
                .exactly
                .iter()
                .position(|(a, _)| did && *a == ops[i].action);
            class.inspect(|c| applied[*c] += 1);
            let found = oracle(small, next, placed | 1 << i, applied);
            class.inspect(|c| applied[*c] -= 1);
            if found {
                return true;
            }
        }
    }
    false
}

/// Up to 7 ops in 70 ns; half the time closed by a final read, with counts for unknown buys.
fn small_history(rng: &mut SplitMix) -> Small {
    let ops_max: u64 = std::env::var("ORACLE_OPS").map_or(8, |s| s.parse().unwrap());
    let mut ops: Vec<SearchOp> = (0..rng.below(ops_max))
        .map(|_| {
            let (invoke, value, quantity) = (rng.below(40), rng.below(4), 1 + rng.below(2));
            let delta = [-2, -1, 1, 2][rng.below(4) as usize];
            let action = match rng.below(7) {
                0 | 1 => Action::Read { stock: value },
                2 => Action::Take { quantity },
                3 => Action::Refuse { quantity },
                4 => Action::Restock {
                    delta,
                    stock_after: value,
                },
                5 => Action::MaybeTake { quantity },
                _ => Action::MaybeRestock { delta },
            };
            let complete = if action.is_unknown() {
                u64::MAX
            } else {
                invoke + rng.below(30)
            };
            SearchOp {
                invoke,
                complete,
                action,
            }
        })
        .collect();
    let mut exactly = Vec::new();
    if rng.below(2) == 0 {
        let read = Action::Read {
            stock: rng.below(4),
        };
        ops.push(SearchOp {
            invoke: 100,
            complete: 100,
            action: read,
        });
        for quantity in 1..=2 {
            let take = Action::MaybeTake { quantity };
            let n = ops.iter().filter(|op| op.action == take).count() as u64;
            if n > 0 && rng.below(3) > 0 {
                exactly.push((take, rng.below(n + 1) as u32));
            }
        }
    }
    Small { ops, exactly }
}

#[test]
fn the_search_agrees_with_brute_force_on_small_histories() {
    // Goal: the search, with its memo and its pruning, decides exactly what an exhaustive
    // one does, both ways. Method: 30000 random histories of up to 8 ops (many not
    // linearizable), ties, final reads and counts of applied unknown buys included. Set
    // ORACLE_SEED, ORACLE_CASES and ORACLE_OPS (up to 13) for a longer run.
    let seed = std::env::var("ORACLE_SEED").map_or(0xC0FFEE, |s| s.parse().unwrap());
    let mut rng = SplitMix(seed);
    let (mut yes, mut no) = (0, 0);
    let cases = std::env::var("ORACLE_CASES").map_or(30_000, |s| s.parse().unwrap());
    for case in 0..cases {
        let small = small_history(&mut rng);
        let initial = rng.below(4);
        // For the oracle, a final read makes every unknown write complete before it.
        let closed = small.ops.iter().any(|op| op.invoke == 100);
        let mut bounded = Small {
            ops: small.ops.clone(),
            exactly: small.exactly.clone(),
        };
        for op in bounded
            .ops
            .iter_mut()
            .filter(|op| closed && op.complete == u64::MAX)
        {
            op.complete = 99;
        }
        let expected = oracle(&bounded, initial, 0, &mut vec![0; small.exactly.len()]);
        let end = closed.then(|| End {
            stock: match small.ops.last().unwrap().action {
                Action::Read { stock } => stock,
                _ => unreachable!("a final read closes the history"),
            },
            exactly: small.exactly.clone(),
        });
        let found = search(&small.ops, initial, end.as_ref(), 1_000_000);
        let linearizable = matches!(found, SearchOutcome::Linearizable { .. });
        let (ops, exactly) = (&small.ops, &small.exactly);
        assert_eq!(
            linearizable, expected,
            "seed {seed} case {case}: {initial} {ops:?} {exactly:?}"
        );
        if expected {
            yes += 1
        } else {
            no += 1
        }
    }
    println!("seed {seed}: {yes} linearizable, {no} not");
    assert!(
        yes > 3_000 && no > 3_000,
        "{yes} / {no}: the generator must produce both"
    );
}
