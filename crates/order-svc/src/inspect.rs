//! Offline inspection of an order replica: its values decoded, its commands described, its
//! invariants (order numbers 1..n, one buy key per order), and the checks against a catalog
//! replica's reservations (every order has its reservation, no stock held for nothing).

use std::collections::{BTreeMap, HashMap};

use api::{Order, Reservation, ReservationState};
use serde::Serialize;
use storage::keys::try_key_u64;
use storage::offline::verify::CHECK_DECODES;
use storage::offline::{decode, decode_json, InspectMachine, KeyKind, Violation};
use storage::snapshot::StateImage;

use crate::command::{
    CompleteBuy, KeyOutcome, OrderCommand, NEXT_NUMBER, ORDERS, ORDER_KEYS, ORDER_META,
};
use crate::machine::OrderMachine;

/// Orders are numbered 1..n without a gap, and the next number is n + 1.
pub const CHECK_NUMBERS: &str = "order numbers contiguous";
/// Each order has exactly one buy key.
pub const CHECK_KEYS: &str = "every order has one buy key";
/// Every order's reservation is held or confirmed, for the order's item and quantity.
pub const CHECK_ORDER_RESERVED: &str = "every order has its reservation";
/// Confirmed stock belongs to an order (held stock without one is a buy in flight, whose order
/// the next leader commits).
pub const CHECK_STOCK_OWNED: &str = "reservation outcomes consistent with stock";
/// The checks that need a catalog replica too.
pub const CROSS_CHECKS: &[&str] = &[CHECK_ORDER_RESERVED, CHECK_STOCK_OWNED];

impl InspectMachine for OrderMachine {
    const STATE_CHECKS: &'static [&'static str] = &[CHECK_DECODES, CHECK_NUMBERS, CHECK_KEYS];

    fn key_kind(tree: &str) -> KeyKind {
        if tree == ORDERS {
            KeyKind::U64
        } else {
            KeyKind::Text
        }
    }

    fn decode_value(tree: &str, value: &[u8]) -> Result<serde_json::Value, String> {
        match tree {
            ORDERS => decode_json::<Order>(value),
            ORDER_KEYS => decode_json::<KeyOutcome>(value),
            ORDER_META => decode_json::<u64>(value),
            other => Err(format!("{other} is not an order tree")),
        }
    }

    fn describe(command: &OrderCommand) -> String {
        match command {
            OrderCommand::CompleteBuy(c) => describe_buy(c),
            OrderCommand::CompleteAll(all) => {
                let each: Vec<String> = all.buys.iter().map(describe_buy).collect();
                format!("{} orders: {}", each.len(), each.join("; "))
            }
        }
    }

    fn check_state(state: &StateImage) -> Vec<Violation> {
        let mut found = Vec::new();
        let orders = orders(state, &mut found);
        let outcomes = outcomes(state, &mut found);
        check_next_number(state, &mut found);
        let mut keys_of: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for (key, KeyOutcome::Ordered(number)) in &outcomes {
            keys_of.entry(*number).or_default().push(key);
        }
        for number in orders.keys() {
            let keys = keys_of.remove(number).unwrap_or_default();
            if keys.len() != 1 {
                let problem = format!("has {} buy keys in {ORDER_KEYS}: {keys:?}", keys.len());
                found.push(Violation::new(
                    CHECK_KEYS,
                    format!("{ORDERS}/{number}"),
                    problem,
                ));
            }
        }
        for (number, keys) in keys_of {
            for key in keys {
                let problem = format!("names order {number}, which does not exist");
                found.push(Violation::new(
                    CHECK_KEYS,
                    format!("{ORDER_KEYS}/{key}"),
                    problem,
                ));
            }
        }
        found
    }
}

/// One buy's order, as `inspect` describes its entry.
fn describe_buy(c: &CompleteBuy) -> String {
    let b = &c.buy;
    format!(
        "order {} of book {} under {} at {} a copy",
        b.quantity, b.item, b.key, c.unit_cost
    )
}

/// What the checks against a catalog replica found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrossCheck {
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// Orders whose reservation is still `held`: confirming after an order commits is best
    /// effort, so this is allowed.
    pub held_orders: u64,
}

/// Checks an order state against the reservations of a catalog state: every order's reservation
/// holds its stock, a refused buy holds none, and no stock is held for a buy the order group does
/// not know. Both states should be from replicas that have caught up with their group.
pub fn check_against_catalog(state: &StateImage, reservations: &[Reservation]) -> CrossCheck {
    let mut ignored = Vec::new();
    let orders = orders(state, &mut ignored);
    let outcomes = outcomes(state, &mut ignored);
    let by_key: HashMap<&str, &Reservation> =
        reservations.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut out = CrossCheck::default();
    for (key, outcome) in &outcomes {
        let reservation = by_key.get(key.as_str()).copied();
        let KeyOutcome::Ordered(number) = outcome;
        let problem = orders.get(number).and_then(|order| {
            out.held_orders +=
                u64::from(reservation.is_some_and(|r| r.state == ReservationState::Held));
            order_problem(order, reservation)
        });
        if let Some(problem) = problem {
            let name = format!("{ORDER_KEYS}/{key}");
            out.violations
                .push(Violation::new(CHECK_ORDER_RESERVED, name, problem));
        }
    }
    // Held without an order is a buy in flight (the next order leader commits its order);
    // confirmed without one is stock sold for nothing.
    for r in reservations
        .iter()
        .filter(|r| r.state == ReservationState::Confirmed && !outcomes.contains_key(&r.key))
    {
        let problem = format!(
            "confirmed {} of book {} for a buy that has no order",
            r.quantity, r.item
        );
        let name = format!("reservations/{}", r.key);
        out.violations
            .push(Violation::new(CHECK_STOCK_OWNED, name, problem));
    }
    out
}

/// The reservations of a catalog state that sold stock for buys this order state does not
/// account for: confirmed, with no order under their key. A backup takes the order group first,
/// so these are orders committed after its snapshot; a restore gives their stock back
/// (`catalog_svc::restore::give_back`). A held reservation without an order stays: the restored
/// group's first order leader commits its order, as after any leader change.
pub fn unaccounted_reservations(
    state: &StateImage,
    reservations: &[Reservation],
) -> Vec<Reservation> {
    let mut ignored = Vec::new();
    let outcomes = outcomes(state, &mut ignored);
    reservations
        .iter()
        .filter(|r| r.state == ReservationState::Confirmed && !outcomes.contains_key(&r.key))
        .cloned()
        .collect()
}

/// What is wrong with an order's reservation, if anything: it must exist, be for the order's
/// item and quantity, and hold its stock (held or confirmed).
fn order_problem(order: &Order, reservation: Option<&Reservation>) -> Option<String> {
    let number = order.number;
    match reservation {
        None => Some(format!("order {number} has no reservation in the catalog")),
        Some(r) if (r.item, r.quantity) != (order.item, order.quantity) => Some(format!(
            "order {number} is {} of book {}, its reservation {} of book {}",
            order.quantity, order.item, r.quantity, r.item
        )),
        Some(r) => {
            let state = state_name(r);
            (!taken(r)).then(|| format!("order {number}'s reservation is {state}"))
        }
    }
}

/// Whether the reservation took stock.
fn taken(r: &Reservation) -> bool {
    matches!(
        r.state,
        ReservationState::Held | ReservationState::Confirmed
    )
}

fn state_name(r: &Reservation) -> String {
    let name = serde_json::to_value(r.state).unwrap_or_default();
    name.as_str().unwrap_or("?").to_string()
}

/// The orders that decode, by number; violations for the others and for gaps in the numbers.
fn orders(state: &StateImage, found: &mut Vec<Violation>) -> BTreeMap<u64, Order> {
    let mut orders = BTreeMap::new();
    let mut expected = 1;
    for (key, raw) in state.tree(ORDERS) {
        let name = format!("{ORDERS}/{}", KeyKind::U64.render(key));
        let Some(number) = try_key_u64(key) else {
            found.push(Violation::new(
                CHECK_NUMBERS,
                name,
                "is not an order number",
            ));
            continue;
        };
        if number != expected {
            let problem = format!(
                "follows a gap: orders {expected} to {} are missing",
                number - 1
            );
            found.push(Violation::new(CHECK_NUMBERS, name.clone(), problem));
        }
        expected = number + 1;
        match decode::<Order>(raw) {
            Ok(order) if order.number == number => {
                orders.insert(number, order);
            }
            Ok(order) => {
                let problem = format!("holds order {}", order.number);
                found.push(Violation::new(CHECK_NUMBERS, name, problem));
            }
            Err(e) => found.push(Violation::new(CHECK_DECODES, name, e)),
        }
    }
    orders
}

/// The outcomes of finished buys that decode, by buy key; violations for the others.
fn outcomes(state: &StateImage, found: &mut Vec<Violation>) -> BTreeMap<String, KeyOutcome> {
    let mut outcomes = BTreeMap::new();
    for (key, raw) in state.tree(ORDER_KEYS) {
        let name = format!("{ORDER_KEYS}/{}", KeyKind::Text.render(key));
        match (std::str::from_utf8(key), decode::<KeyOutcome>(raw)) {
            (Ok(key), Ok(outcome)) => {
                outcomes.insert(key.to_string(), outcome);
            }
            (Err(_), _) => found.push(Violation::new(CHECK_DECODES, name, "key is not UTF-8")),
            (_, Err(e)) => found.push(Violation::new(CHECK_DECODES, name, e)),
        }
    }
    outcomes
}

/// The stored next number is one past the last order (absent, or 1, before the first order).
fn check_next_number(state: &StateImage, found: &mut Vec<Violation>) {
    let name = format!("{ORDER_META}/{}", String::from_utf8_lossy(NEXT_NUMBER));
    let stored = state
        .tree(ORDER_META)
        .iter()
        .find(|(k, _)| k == NEXT_NUMBER);
    let last = state
        .tree(ORDERS)
        .last()
        .and_then(|(k, _)| try_key_u64(k))
        .unwrap_or(0);
    let problem = match stored.map(|(_, raw)| decode::<u64>(raw)) {
        Some(Err(e)) => return found.push(Violation::new(CHECK_DECODES, name, e)),
        Some(Ok(next)) if next != last + 1 => format!("is {next}, but the last order is {last}"),
        None if last > 0 => format!("is missing, but the last order is {last}"),
        _ => return,
    };
    found.push(Violation::new(CHECK_NUMBERS, name, problem));
}

#[cfg(test)]
mod tests {
    use storage::scratch::ScratchState;

    use super::*;
    use crate::command::Buy;

    fn buy(s: &ScratchState<OrderMachine>, key: &str, item: u64) {
        let buy = Buy {
            key: key.into(),
            item,
            quantity: 1,
        };
        s.apply(&OrderCommand::CompleteBuy(CompleteBuy {
            buy,
            title: "T".into(),
            unit_cost: 1,
        }));
    }

    fn reservation(key: &str, item: u64, state: ReservationState) -> Reservation {
        let (key, quantity) = (key.into(), 1);
        Reservation {
            key,
            item,
            quantity,
            state,
        }
    }

    #[test]
    fn gaps_and_dangling_keys_are_named() {
        // Goal: a state made by commands passes; a removed order is named as a gap and its
        // buy key as dangling.
        let s = ScratchState::<OrderMachine>::new();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            buy(&s, key, i as u64 + 1);
        }
        let mut image = s.image();
        assert_eq!(OrderMachine::check_state(&image), []);
        image.trees[0].1.remove(1);
        let found: Vec<(&str, String)> = OrderMachine::check_state(&image)
            .into_iter()
            .map(|v| (v.check, v.key))
            .collect();
        assert_eq!(
            found,
            [
                (CHECK_NUMBERS, "orders/3".to_string()),
                (CHECK_KEYS, "order_keys/b".to_string())
            ]
        );
    }

    #[test]
    fn orders_are_checked_against_reservations() {
        // Goal: held (not yet confirmed) reservations of orders are allowed, and so is a held
        // reservation without an order (a buy in flight); a released reservation of an order, a
        // missing one, and stock confirmed for no order are each named.
        let s = ScratchState::<OrderMachine>::new();
        buy(&s, "a", 1);
        buy(&s, "b", 2);
        let image = s.image();
        let healthy = [
            reservation("a", 1, ReservationState::Confirmed),
            reservation("b", 2, ReservationState::Held),
            reservation("r", 3, ReservationState::Refused),
            reservation("flight", 3, ReservationState::Held),
        ];
        let checked = check_against_catalog(&image, &healthy);
        assert_eq!((checked.violations.len(), checked.held_orders), (0, 1));
        let broken = [
            reservation("a", 1, ReservationState::Released),
            reservation("x", 4, ReservationState::Confirmed),
        ];
        let found: Vec<(&str, String)> = check_against_catalog(&image, &broken)
            .violations
            .into_iter()
            .map(|v| (v.check, v.key))
            .collect();
        assert_eq!(
            found,
            [
                (CHECK_ORDER_RESERVED, "order_keys/a".to_string()),
                (CHECK_ORDER_RESERVED, "order_keys/b".to_string()),
                (CHECK_STOCK_OWNED, "reservations/x".to_string()),
            ]
        );
        let unaccounted: Vec<String> = unaccounted_reservations(&image, &broken)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(unaccounted, ["x"]);
    }
}
