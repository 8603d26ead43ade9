//! Randomized tests of the checker on histories of a real stock model ([`crate::sim`]): valid
//! ones must pass (never a false alarm), a changed read must fail where it really is wrong
//! (no missed violation), and a chaos-sized history checks within the default state limit.

use std::time::Instant;

use proptest::prelude::*;

use crate::history::Outcome;
use crate::input::CheckLimits;
use crate::register::{check_register, RegisterOutcome};
use crate::report::CheckStatus;
use crate::sim::{bounds, realize, simulate, Fate, Faults, Plan, Planned};
use crate::suite::check_all;
use crate::testutil::cluster;

/// A proptest step: op kind, amount, delta, how far its interval reaches before and after its
/// point, fate.
type Step = (u8, u64, i64, u64, u64, u8);

fn step() -> impl Strategy<Value = Step> {
    (0u8..3, 1u64..4, -3i64..6, 0u64..300, 0u64..300, 0u8..20)
}

/// Ops linearized in the given order, 100 ns apart; with `concurrent`, intervals reach up to
/// 300 ns either side of the point (overlapping up to 6 neighbours) and a tenth of the answers
/// are lost (half of those ops applied); without, intervals never overlap and every answer
/// arrives.
fn sequence(steps: &[Step], concurrent: bool) -> Vec<Planned> {
    let planned = steps
        .iter()
        .enumerate()
        .map(|(k, &(kind, q, delta, before, after, fate))| {
            let point = 1_000 + 100 * k as u64;
            let plan = match kind {
                0 => Plan::Read,
                1 => Plan::Buy(q),
                _ => Plan::Restock(if delta == 0 { 1 } else { delta }),
            };
            let fate = match fate {
                0 if concurrent => Fate::UnknownApplied,
                1 if concurrent => Fate::UnknownLost,
                _ => Fate::Known,
            };
            let (invoke, complete) = if concurrent {
                (point - before, point + after)
            } else {
                (point, point + 10)
            };
            // Round robin over 16 processes: one process's ops are 1600 ns apart, never overlapping.
            let process = k as u64 % 16;
            Planned {
                plan,
                process,
                invoke,
                complete,
                point,
                fate,
            }
        });
    planned.collect()
}

proptest! {
    // The simulations check 300 to 400 ops each: fewer cases than the default 256 keep the
    // suite quick in debug builds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn histories_of_a_real_stock_model_pass_every_check(
        initial in 0u64..8,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        // Goal: no false alarm. Method: ops applied to a stock model at points inside their
        // (overlapping) intervals, some with lost answers, make a linearizable history.
        let world = realize(initial, &sequence(&steps, true));
        let input = cluster(world.history, world.initial, &world.log, world.stock);
        let report = check_all(&input, &CheckLimits::default());
        prop_assert!(report.passed(), "{:#?}", report);
    }

    #[test]
    fn a_changed_read_in_a_sequential_history_is_rejected(
        initial in 0u64..8,
        steps in prop::collection::vec(step(), 1..40),
        pick in any::<prop::sample::Index>(),
        change in 1u64..5,
    ) {
        // Goal: no missed violation. Method: without overlap or lost answers the order is
        // forced, so any read changed to another value cannot be linearized; the violation
        // names that read first.
        let mut world = realize(initial, &sequence(&steps, false));
        let reads: Vec<usize> = (0..world.history.len())
            .filter(|&i| matches!(world.history[i].outcome, Outcome::ReadStock { .. }))
            .collect();
        prop_assume!(!reads.is_empty());
        let read = &mut world.history[reads[pick.index(reads.len())]];
        let Outcome::ReadStock { stock } = &mut read.outcome else { unreachable!() };
        *stock = if *stock >= change && change % 2 == 0 { *stock - change } else { *stock + change };
        let read_id = read.id;
        let (initial, end) = bounds(&world);
        let outcomes = check_register(&world.history, &initial, &end, 1_000_000);
        let RegisterOutcome::Violation(v) = &outcomes[0] else {
            return Err(TestCaseError::fail(format!("accepted: {outcomes:?}")));
        };
        prop_assert_eq!(v.op_ids[0], read_id, "{:?}", v);
    }

    #[test]
    fn simulated_clients_histories_pass(seed in any::<u64>()) {
        // Goal: no false alarm with 16 clients always in flight and 2% of answers lost.
        let world = simulate(seed, 300, 16, Faults { unknown_pct: 1, ..Faults::default() });
        let input = cluster(world.history, world.initial, &world.log, world.stock);
        let report = check_all(&input, &CheckLimits::default());
        prop_assert!(report.passed(), "seed {seed}: {:#?}", report);
    }

    #[test]
    fn bursts_of_lost_answers_are_never_a_violation(seed in any::<u64>()) {
        // Goal: no false alarm when replicas are killed under load: every op in flight loses
        // its answer at once, some applying much later. Method: 400 ops by 16 clients, a kill
        // every 3000 ns (about 170 ops). The verdict is a pass, or at worst inconclusive (a
        // few such histories need many states: the limit is low to keep the test quick).
        let faults = Faults { kill_every_ns: Some(3_000), late_ns: 1_500, ..Faults::default() };
        let world = simulate(seed, 400, 16, faults);
        let input = cluster(world.history, world.initial, &world.log, world.stock);
        let limits = CheckLimits { search_states_per_item_max: 100_000, ..CheckLimits::default() };
        let report = check_all(&input, &limits);
        let failed: Vec<_> = report.checks.iter().filter(|c| c.status == CheckStatus::Failed).collect();
        prop_assert!(failed.is_empty(), "seed {seed}: {:#?}", failed);
    }
}

#[test]
fn two_thousand_ops_by_sixteen_clients_check_within_the_default_limit() {
    // Goal: the search stays cheap on chaos-sized histories. Method: 2000 ops of one book by
    // 16 clients always in flight, without faults, with 2% of answers lost, and with a kill
    // every 10000 ns (about 580 ops) whose lost buys the resolver finishes up to 6000 ns
    // later; print the states explored and the time (run with `--release --nocapture` to
    // measure; the time is not asserted).
    let profiles = [
        ("no faults", Faults::default()),
        (
            "2% lost answers",
            Faults {
                unknown_pct: 1,
                ..Faults::default()
            },
        ),
        (
            "kills",
            Faults {
                kill_every_ns: Some(10_000),
                late_ns: 3_000,
                ..Faults::default()
            },
        ),
    ];
    let limit = CheckLimits::default().search_states_per_item_max;
    for (name, faults) in profiles {
        let world = simulate(0x5eed, 2_000, 16, faults);
        let (initial, end) = bounds(&world);
        let unknown = world.history.iter().filter(|op| op.is_unknown()).count();
        let started = Instant::now();
        let outcomes = check_register(&world.history, &initial, &end, limit);
        let took = started.elapsed();
        let RegisterOutcome::Linearizable {
            ops,
            states_explored,
            ..
        } = outcomes[0]
        else {
            panic!("seed 0x5eed, {name}: {outcomes:?}");
        };
        println!("{name}: {ops} ops ({unknown} unknown), 16 clients: {states_explored} states in {took:?}");
    }
}
