//! The nemesis: carries out the seeded fault schedule against the child processes (SIGKILL and
//! restart, SIGSTOP and SIGCONT), never taking down more of a group than `--max-down` allows.

use std::time::Duration;

use anyhow::Result;
use client::chaos::{Draw, FaultKind, FaultScope, FaultStep, MaxDown, Role, Schedule};
use nix::sys::signal::Signal;
use runtime::{Cluster, GroupName};
use serde::Serialize;
use tokio::time::Instant;

use crate::chaos::outages::{pick_replica, Down, Outages};
use crate::launch::{group_leader, Children};

/// Timeout of a `/status` call made to find a leader.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultEvent {
    /// When it fired, ms after the workload started.
    pub(crate) at_ms: f64,
    /// What it was.
    pub(crate) kind: FaultKind,
    /// The processes it hit (empty if it was skipped).
    pub(crate) targets: Vec<String>,
    /// Which role it aimed at.
    pub(crate) role: Role,
    /// When its targets were restarted or resumed, ms after the start.
    pub(crate) healed_at_ms: Option<f64>,
    /// Why it was skipped, if it was.
    pub(crate) skipped: Option<String>,
}

impl FaultEvent {
    /// What it hit, for the unavailability figures.
    pub(crate) fn scope(&self) -> FaultScope {
        match (self.kind, self.targets.first()) {
            (FaultKind::KillFrontend, _) => FaultScope::Frontend,
            (_, Some(t)) if t.starts_with("orders") => FaultScope::Orders,
            _ => FaultScope::Catalog,
        }
    }

    /// A one-line description, e.g. `kill orders-2 (leader)`.
    pub(crate) fn describe(&self) -> String {
        let kind = match self.kind {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::KillFrontend => "kill",
            FaultKind::KillGroup => "kill all of",
        };
        let role = match (self.kind, self.role) {
            (FaultKind::Kill | FaultKind::Pause, Role::Leader) => " (leader)",
            (FaultKind::Kill | FaultKind::Pause, Role::Follower) => " (follower)",
            _ => "",
        };
        format!("{kind} {}{role}", self.targets.join(", "))
    }
}

/// The fault injector of one run.
pub(crate) struct Nemesis<'a> {
    children: &'a mut Children,
    cluster: &'a Cluster,
    /// Children names of the frontends.
    frontends: Vec<String>,
    http: reqwest::Client,
    max_down: MaxDown,
    draw: Draw,
    start: Instant,
    outages: Outages,
    /// Every fault, in firing order.
    pub(crate) events: Vec<FaultEvent>,
}

impl<'a> Nemesis<'a> {
    /// A nemesis over `children` (with `frontends` the frontends' names), its draws seeded by
    /// `seed`, its times counted from `start`.
    ///
    /// # Errors
    /// The HTTP client for leader lookups cannot be built.
    pub(crate) fn new(
        children: &'a mut Children,
        cluster: &'a Cluster,
        frontends: Vec<String>,
        max_down: MaxDown,
        seed: u64,
        start: Instant,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(STATUS_TIMEOUT)
            .build()?;
        Ok(Self {
            children,
            cluster,
            frontends,
            http,
            max_down,
            draw: Draw::new(seed ^ 0x6e656d65),
            start,
            outages: Outages::default(),
            events: Vec::new(),
        })
    }

    fn ms_since_start(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// Fires the schedule's steps until `stop`, healing each fault when its time is up.
    pub(crate) async fn run(&mut self, schedule: &Schedule, stop: Instant) {
        let mut steps = schedule.steps.iter().peekable();
        loop {
            let next_step = steps
                .peek()
                .map(|s| self.start + Duration::from_millis(s.at_ms));
            let next_heal = self.outages.next_heal();
            let wake = [next_step, next_heal, Some(stop)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(stop);
            tokio::time::sleep_until(wake).await;
            self.heal_due(Instant::now()).await;
            if Instant::now() >= stop {
                return;
            }
            if let Some(step) =
                steps.next_if(|s| self.start + Duration::from_millis(s.at_ms) <= Instant::now())
            {
                self.fire(step).await;
            }
        }
    }

    /// Restarts and resumes everything still down.
    pub(crate) async fn heal_all(&mut self) {
        self.heal_due(Instant::now() + Duration::from_secs(24 * 3600))
            .await;
    }

    async fn heal_due(&mut self, now: Instant) {
        for d in self.outages.take_due(now) {
            for name in &d.names {
                let healed = if d.paused {
                    self.children.signal(name, Signal::SIGCONT)
                } else {
                    self.children.restart(name)
                };
                if let Err(e) = healed {
                    eprintln!("pygmy chaos: cannot bring {name} back: {e:#}");
                }
            }
            let at = self.ms_since_start();
            self.events[d.event].healed_at_ms = Some(at);
        }
    }

    async fn fire(&mut self, step: &FaultStep) {
        let group = match step.group.as_str() {
            "catalog" => GroupName::Catalog,
            _ => GroupName::Orders,
        };
        let targets = match step.kind {
            FaultKind::KillFrontend => self
                .outages
                .frontend_target(&self.frontends, &mut self.draw),
            FaultKind::KillGroup => self
                .outages
                .group_target(group, replica_names(self.cluster, group)),
            FaultKind::Kill | FaultKind::Pause => self.replica_target(group, step.role).await,
        };
        let mut event = FaultEvent {
            at_ms: self.ms_since_start(),
            kind: step.kind,
            targets: Vec::new(),
            role: step.role,
            healed_at_ms: None,
            skipped: None,
        };
        match targets {
            Err(why) => event.skipped = Some(why),
            Ok(names) => {
                let paused = step.kind == FaultKind::Pause;
                for name in &names {
                    let hit = if paused {
                        self.children.signal(name, Signal::SIGSTOP)
                    } else {
                        self.children.kill(name).await
                    };
                    if let Err(e) = hit {
                        eprintln!("pygmy chaos: cannot fault {name}: {e:#}");
                    }
                }
                let group = (step.kind != FaultKind::KillFrontend).then_some(group);
                let until = Instant::now() + Duration::from_millis(step.down_ms);
                self.outages.push(Down {
                    names: names.clone(),
                    group,
                    paused,
                    until,
                    event: self.events.len(),
                });
                event.targets = names;
                eprintln!(
                    "pygmy chaos: {:>6.1}s {}",
                    event.at_ms / 1000.0,
                    event.describe()
                );
            }
        }
        self.events.push(event);
    }

    async fn replica_target(
        &mut self,
        group: GroupName,
        role: Role,
    ) -> Result<Vec<String>, String> {
        let up =
            self.outages
                .replicas_up(group, &replica_names(self.cluster, group), self.max_down)?;
        let replicas = self.cluster.replicas(group);
        let leader = group_leader(&self.http, &self.cluster.cluster_token, replicas).await;
        let leader_name = leader.map(|id| format!("{}-{id}", group.as_str()));
        pick_replica(&up, role, leader_name.as_ref(), &mut self.draw)
            .map(|n| vec![n])
            .ok_or_else(|| format!("no replica of {} is up", group.as_str()))
    }
}

/// `catalog-1`, `catalog-2`, ... as the children are named.
fn replica_names(cluster: &Cluster, group: GroupName) -> Vec<String> {
    (1..=cluster.replicas(group).len())
        .map(|id| format!("{}-{id}", group.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: FaultKind, targets: &[&str], role: Role) -> FaultEvent {
        FaultEvent {
            at_ms: 1500.0,
            kind,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            role,
            healed_at_ms: None,
            skipped: None,
        }
    }

    #[test]
    fn a_fault_says_what_it_hit_and_whose_writes_it_stops() {
        // Goal: the report's fault column and the unavailability figures (which writes a
        // fault can stop) come from the event. Method: one event of each kind.
        let kill = event(FaultKind::Kill, &["orders-2"], Role::Leader);
        assert_eq!(kill.describe(), "kill orders-2 (leader)");
        assert_eq!(kill.scope(), FaultScope::Orders);
        let pause = event(FaultKind::Pause, &["catalog-3"], Role::Follower);
        assert_eq!(pause.describe(), "pause catalog-3 (follower)");
        assert_eq!(pause.scope(), FaultScope::Catalog);
        let frontend = event(FaultKind::KillFrontend, &["frontend-2"], Role::Leader);
        assert_eq!(frontend.describe(), "kill frontend-2");
        assert_eq!(frontend.scope(), FaultScope::Frontend);
        let group = event(
            FaultKind::KillGroup,
            &["orders-1", "orders-2", "orders-3"],
            Role::Leader,
        );
        assert_eq!(group.describe(), "kill all of orders-1, orders-2, orders-3");
        assert_eq!(group.scope(), FaultScope::Orders);
    }
}
