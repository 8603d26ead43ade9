//! The limits of the nemesis, on schedules drawn from seeds and on hand-made situations.

use std::collections::BTreeMap;
use std::time::Duration;

use client::chaos::{FaultKind, Schedule, ScheduleConfig};

use super::*;

fn names(group: &str) -> Vec<String> {
    (1..=3).map(|id| format!("{group}-{id}")).collect()
}

fn frontends(count: usize) -> Vec<String> {
    (1..=count)
        .map(|k| match k {
            1 => "frontend".to_string(),
            k => format!("frontend-{k}"),
        })
        .collect()
}

fn down(names: &[&str], group: Option<GroupName>) -> Down {
    Down {
        names: names.iter().map(|n| n.to_string()).collect(),
        group,
        how: Outage::Killed,
        until: Instant::now() + Duration::from_secs(60),
        event: 0,
    }
}

/// Replays the schedule drawn from `seed` against an [`Outages`] as the nemesis fires it,
/// replica 1 of each group leading; after each step, asserts the limits. The targets taken
/// (empty for a skipped step).
fn replay(seed: u64, max_down: MaxDown) -> Vec<Vec<String>> {
    let schedule = Schedule::draw(&ScheduleConfig {
        seed,
        faults: vec![FaultKind::Kill, FaultKind::Pause, FaultKind::KillFrontend],
        interval_ms: (100, 1_500),
        max_down,
        duration_ms: 60_000,
    });
    let base = Instant::now();
    let mut outages = Outages::default();
    let mut draw = Draw::new(seed);
    let frontends = frontends(2);
    let mut taken = Vec::new();
    for (event, step) in schedule.steps.iter().enumerate() {
        let now = base + Duration::from_millis(step.at_ms);
        outages.take_due(now);
        let group = match step.group.as_str() {
            "catalog" => GroupName::Catalog,
            _ => GroupName::Orders,
        };
        let replicas = names(group.as_str());
        let leader = replicas[0].clone();
        let targets = match step.kind {
            FaultKind::KillFrontend | FaultKind::CutFrontend => {
                outages.frontend_target(&frontends, &mut draw)
            }
            FaultKind::KillGroup => outages.group_target(group, replicas),
            // A replacement is over before the next fault: it leaves nothing down.
            FaultKind::Member => Ok(Vec::new()),
            FaultKind::Kill
            | FaultKind::Pause
            | FaultKind::Isolate
            | FaultKind::Split
            | FaultKind::OneWay => outages
                .replicas_up(group, &replicas, max_down)
                .map(|up| pick_replica(&up, step.role, Some(&leader), &mut draw))
                .map(|pick| pick.into_iter().collect()),
        };
        let targets = targets.unwrap_or_default();
        if !targets.is_empty() {
            let frontend = matches!(step.kind, FaultKind::KillFrontend | FaultKind::CutFrontend);
            let group = (!frontend).then_some(group);
            outages.push(Down {
                names: targets.clone(),
                group,
                how: if step.kind == FaultKind::Pause {
                    Outage::Paused
                } else {
                    Outage::Killed
                },
                until: now + Duration::from_millis(step.down_ms),
                event,
            });
        }
        let mut down_per_group: BTreeMap<&str, usize> = BTreeMap::new();
        for name in outages.names() {
            let group = name.split_once('-').map_or(name, |(g, _)| g);
            *down_per_group.entry(group).or_default() += 1;
        }
        for (group, count) in down_per_group {
            let limit = if group == "frontend" {
                1
            } else {
                max_down.limit(3)
            };
            assert!(
                count <= limit,
                "seed {seed}, step {event}: {count} of {group} down"
            );
        }
        taken.push(targets);
    }
    taken
}

#[test]
fn drawn_schedules_never_take_down_more_than_max_down_allows() {
    // Goal: whatever the seed draws, a group never has more replicas down than `--max-down`
    // allows, and never both frontends; and the limit does bite (some faults are skipped).
    // Method: dense schedules (a fault every 0.1-1.5 s, down 1-5 s) replayed in simulated time.
    for max_down in [MaxDown::Minority, MaxDown::Majority] {
        let mut skipped = 0;
        for seed in 1..=20 {
            skipped += replay(seed, max_down)
                .iter()
                .filter(|t| t.is_empty())
                .count();
        }
        assert!(skipped > 0, "--max-down {max_down} never refused a fault");
    }
}

#[test]
fn the_same_seed_takes_the_same_targets() {
    // Goal: a seed replays the same faults on the same processes (given the same leaders).
    assert_eq!(replay(7, MaxDown::Minority), replay(7, MaxDown::Minority));
    assert_ne!(replay(7, MaxDown::Minority), replay(8, MaxDown::Minority));
}

#[test]
fn a_fault_aims_at_the_leader_or_away_from_it() {
    let up = names("orders");
    let leader = up[1].clone();
    let mut draw = Draw::new(1);
    for _ in 0..20 {
        let hit = pick_replica(&up, Role::Leader, Some(&leader), &mut draw);
        assert_eq!(hit.as_ref(), Some(&leader));
        let hit = pick_replica(&up, Role::Follower, Some(&leader), &mut draw).unwrap();
        assert_ne!(
            hit, leader,
            "a follower fault spares the leader while another is up"
        );
    }
    // The leader is down (not among those up): a leader fault takes a follower.
    let followers = vec![up[0].clone(), up[2].clone()];
    let hit = pick_replica(&followers, Role::Leader, Some(&leader), &mut draw).unwrap();
    assert!(followers.contains(&hit));
    // Only the leader is up: a follower fault takes it, the only one there is.
    let only = vec![leader.clone()];
    let hit = pick_replica(&only, Role::Follower, Some(&leader), &mut draw);
    assert_eq!(hit, Some(leader));
    assert_eq!(pick_replica(&[], Role::Leader, None, &mut draw), None);
}

#[test]
fn a_replica_fault_is_refused_once_max_down_are_down() {
    let catalog = names("catalog");
    let mut outages = Outages::default();
    let up = outages.replicas_up(GroupName::Catalog, &catalog, MaxDown::Minority);
    assert_eq!(up.unwrap(), catalog);
    outages.push(down(&["catalog-2"], Some(GroupName::Catalog)));
    let refused = outages.replicas_up(GroupName::Catalog, &catalog, MaxDown::Minority);
    assert_eq!(
        refused.unwrap_err(),
        "1 of catalog already down (--max-down minority)"
    );
    // The other group is not concerned, and a majority allows one more (not catalog-2).
    let orders = names("orders");
    assert_eq!(
        outages.replicas_up(GroupName::Orders, &orders, MaxDown::Minority),
        Ok(orders)
    );
    let up = outages.replicas_up(GroupName::Catalog, &catalog, MaxDown::Majority);
    assert_eq!(up.unwrap(), ["catalog-1", "catalog-3"]);
    // A whole-group kill waits until no replica of the group is down.
    let refused = outages.group_target(GroupName::Catalog, catalog.clone());
    assert!(refused.is_err());
    let whole = outages.group_target(GroupName::Orders, names("orders"));
    assert_eq!(whole.unwrap().len(), 3);
}

#[test]
fn the_last_frontend_up_stays_up_unless_it_is_the_only_one() {
    let mut draw = Draw::new(3);
    let two = frontends(2);
    let mut outages = Outages::default();
    let first = outages.frontend_target(&two, &mut draw).unwrap();
    assert_eq!(first.len(), 1);
    outages.push(down(&[first[0].as_str()], None));
    assert!(outages.frontend_target(&two, &mut draw).is_err());
    // With a single frontend, taking it down is the point of the fault.
    let one = frontends(1);
    let mut outages = Outages::default();
    assert_eq!(outages.frontend_target(&one, &mut draw).unwrap(), one);
    outages.push(down(&["frontend"], None));
    assert!(outages.frontend_target(&one, &mut draw).is_err());
}

#[test]
fn faults_come_back_when_due_and_not_before() {
    let base = Instant::now();
    let mut outages = Outages::default();
    for (name, secs) in [("catalog-1", 3), ("orders-2", 1)] {
        let mut d = down(&[name], None);
        d.until = base + Duration::from_secs(secs);
        outages.push(d);
    }
    assert_eq!(outages.next_heal(), Some(base + Duration::from_secs(1)));
    assert!(outages.take_due(base).is_empty());
    let due = outages.take_due(base + Duration::from_secs(2));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].names, ["orders-2"]);
    assert_eq!(outages.names(), ["catalog-1"]);
    assert_eq!(outages.next_heal(), Some(base + Duration::from_secs(3)));
}
