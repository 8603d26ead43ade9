//! Histories of book 1 generated from a real in-memory stock model, for the randomized tests:
//! every op takes effect at a point inside its interval (or, with its answer lost, possibly
//! later, or never), so the histories are linearizable by construction.

use std::collections::BTreeMap;

use api::Order;

use crate::history::{Op, OpKind, Outcome};
use crate::register::BookEnd;
use crate::testutil::{order, unknown, SplitMix};

/// What an op does in the model.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    Read,
    Buy(u64),
    Restock(i64),
}

/// Whether the client learns the outcome, and if not whether the op applied anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Known,
    UnknownApplied,
    UnknownLost,
}

/// An op of book 1, to be applied to the model at `point`, inside `[invoke, complete]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    pub(crate) plan: Plan,
    pub(crate) process: u64,
    pub(crate) invoke: u64,
    pub(crate) complete: u64,
    pub(crate) point: u64,
    pub(crate) fate: Fate,
}

/// A history of book 1 and the state it left.
pub(crate) struct World {
    pub(crate) history: Vec<Op>,
    pub(crate) initial: u64,
    pub(crate) log: Vec<Order>,
    pub(crate) stock: u64,
}

/// Applies the planned ops to a stock model in order of their points, recording what each
/// client would have seen: this history is linearizable by construction.
pub(crate) fn realize(initial: u64, planned: &[Planned]) -> World {
    let mut order_of: Vec<usize> = (0..planned.len()).collect();
    order_of.sort_by_key(|&i| (planned[i].point, i));
    let (mut stock, mut log, mut history) = (initial, Vec::new(), Vec::new());
    for i in order_of {
        let p = planned[i];
        let (id, applies) = (i as u64 + 1, p.fate != Fate::UnknownLost);
        let (kind, outcome) = match p.plan {
            Plan::Read => (OpKind::Read { item: 1 }, Outcome::ReadStock { stock }),
            Plan::Buy(quantity) => {
                let kind = OpKind::Buy {
                    item: 1,
                    quantity,
                    key: format!("k{id}"),
                };
                if applies && stock >= quantity {
                    stock -= quantity;
                    log.push(order(log.len() as u64 + 1, 1, quantity));
                    let order = log.last().unwrap().clone();
                    (kind, Outcome::Bought { order })
                } else {
                    (kind, Outcome::Refused)
                }
            }
            Plan::Restock(delta) => {
                let kind = OpKind::Restock { item: 1, delta };
                match stock.checked_add_signed(delta) {
                    Some(after) if applies => {
                        stock = after;
                        (kind, Outcome::Restocked { stock_after: after })
                    }
                    _ => (
                        kind,
                        Outcome::Failed {
                            code: "negative_stock".into(),
                        },
                    ),
                }
            }
        };
        let op = Op {
            id,
            process: p.process,
            invoke_ns: p.invoke,
            complete_ns: Some(p.complete),
            kind,
            outcome,
        };
        history.push(if p.fate == Fate::Known {
            op
        } else {
            unknown(op)
        });
    }
    history.sort_by_key(|op| op.id);
    World {
        history,
        initial,
        log,
        stock,
    }
}

/// The initial stock and the end (final stock and orders) of book 1 in `world`.
pub(crate) fn bounds(world: &World) -> (BTreeMap<u64, u64>, BTreeMap<u64, BookEnd>) {
    let end = BookEnd {
        stock: world.stock,
        orders: Some(world.log.clone()),
    };
    (
        BTreeMap::from([(1, world.initial)]),
        BTreeMap::from([(1, end)]),
    )
}

/// Faults of a simulated run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    /// Percent of ops whose answer is lost after they applied (possibly long after), and as
    /// many whose answer is lost and that never applied.
    pub(crate) unknown_pct: u64,
    /// Every this many ns a replica is killed: every op in flight loses its answer, a third
    /// having applied, a third applying `late_ns` to `2 * late_ns` later (a new leader's
    /// resolver), a third never.
    pub(crate) kill_every_ns: Option<u64>,
    pub(crate) late_ns: u64,
}

/// `ops` ops by `processes` clients, each invoking its next op as soon as its last one ended
/// (so all are always in flight, 50 to 500 ns each), each taking effect at a random point of
/// its interval: half reads, 40% buys of 1 or 2, 10% restocks; then `faults`.
pub(crate) fn simulate(seed: u64, ops: usize, processes: u64, faults: Faults) -> World {
    let mut rng = SplitMix(seed);
    let mut clock = vec![0u64; processes as usize];
    let mut planned: Vec<Planned> = (0..ops)
        .map(|_| {
            let process = (0..processes).min_by_key(|&p| clock[p as usize]).unwrap();
            let invoke = clock[process as usize] + rng.below(20);
            let took = 50 + rng.below(450);
            clock[process as usize] = invoke + took;
            let plan = match rng.below(10) {
                0..=4 => Plan::Read,
                5..=8 => Plan::Buy(1 + rng.below(2)),
                _ => Plan::Restock(if rng.below(4) == 0 {
                    -2
                } else {
                    1 + rng.below(5) as i64
                }),
            };
            let dice = rng.below(100);
            let (fate, point) = match dice {
                _ if dice < faults.unknown_pct => {
                    (Fate::UnknownApplied, invoke + rng.below(5 * took))
                }
                _ if dice < 2 * faults.unknown_pct => (Fate::UnknownLost, invoke),
                _ => (Fate::Known, invoke + rng.below(took + 1)),
            };
            let complete = invoke + took;
            Planned {
                plan,
                process,
                invoke,
                complete,
                point,
                fate,
            }
        })
        .collect();
    if let Some(every) = faults.kill_every_ns {
        kill(&mut rng, &mut planned, every, faults.late_ns);
    }
    realize(20 + rng.below(20), &planned)
}

/// Loses the answers of the ops in flight at each kill (see [`Faults::kill_every_ns`]).
fn kill(rng: &mut SplitMix, planned: &mut [Planned], every_ns: u64, late_ns: u64) {
    let end = planned.iter().map(|p| p.complete).max().unwrap_or(0);
    for at in (1..).map(|k| k * every_ns).take_while(|at| *at < end) {
        for p in planned
            .iter_mut()
            .filter(|p| p.invoke < at && at < p.complete)
        {
            match rng.below(3) {
                0 => p.fate = Fate::UnknownApplied,
                1 => {
                    p.fate = Fate::UnknownApplied;
                    p.point = at + late_ns + rng.below(late_ns + 1);
                }
                _ => p.fate = Fate::UnknownLost,
            }
        }
    }
}
