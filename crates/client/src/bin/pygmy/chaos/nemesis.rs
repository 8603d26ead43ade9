//! The nemesis: carries out the seeded fault schedule against the child processes (SIGKILL and
//! restart, SIGSTOP and SIGCONT), never taking down more of a group than `--max-down` allows.

use std::time::Duration;

use anyhow::Result;
use client::chaos::{Draw, FaultKind, FaultScope, FaultStep, MaxDown, Role, Schedule};
use nix::sys::signal::Signal;
use serde::Serialize;
use storage::{Cluster, GroupName};
use tokio::time::Instant;

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

/// Processes currently down because of one event.
#[derive(Debug)]
struct Down {
    names: Vec<String>,
    group: Option<GroupName>,
    paused: bool,
    until: Instant,
    event: usize,
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
    down: Vec<Down>,
    /// Every fault, in firing order.
    pub(crate) events: Vec<FaultEvent>,
}

impl<'a> Nemesis<'a> {
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
            down: Vec::new(),
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
            let next_heal = self.down.iter().map(|d| d.until).min();
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
        let (due, keep): (Vec<Down>, Vec<Down>) = std::mem::take(&mut self.down)
            .into_iter()
            .partition(|d| d.until <= now);
        self.down = keep;
        for d in due {
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
            FaultKind::KillFrontend => self.frontend_target(),
            FaultKind::KillGroup => self.group_target(group),
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
                self.down.push(Down {
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

    fn down_names(&self) -> Vec<&str> {
        self.down
            .iter()
            .flat_map(|d| d.names.iter().map(String::as_str))
            .collect()
    }

    /// One frontend that is up, drawn at random (never the last one up).
    fn frontend_target(&mut self) -> Result<Vec<String>, String> {
        let down = self.down_names();
        let up: Vec<String> = self
            .frontends
            .iter()
            .filter(|f| !down.contains(&f.as_str()))
            .cloned()
            .collect();
        if up.len() < self.frontends.len().min(2) {
            return Err("a frontend is already down".into());
        }
        self.draw
            .pick(&up)
            .map(|f| vec![f.clone()])
            .ok_or_else(|| "no frontend is up".into())
    }

    fn group_target(&self, group: GroupName) -> Result<Vec<String>, String> {
        if self.down.iter().any(|d| d.group == Some(group)) {
            return Err(format!("a replica of {} is already down", group.as_str()));
        }
        Ok(replica_names(self.cluster, group))
    }

    async fn replica_target(
        &mut self,
        group: GroupName,
        role: Role,
    ) -> Result<Vec<String>, String> {
        let names = replica_names(self.cluster, group);
        let down = self.down_names();
        let down_here = names.iter().filter(|n| down.contains(&n.as_str())).count();
        if down_here >= self.max_down.limit(names.len()) {
            return Err(format!(
                "{down_here} of {} already down (--max-down {})",
                group.as_str(),
                self.max_down
            ));
        }
        let up: Vec<String> = names
            .iter()
            .filter(|n| !down.contains(&n.as_str()))
            .cloned()
            .collect();
        let replicas = self.cluster.replicas(group);
        let leader = group_leader(&self.http, &self.cluster.cluster_token, replicas).await;
        let leader_name = leader.map(|id| format!("{}-{id}", group.as_str()));
        let pick = match (role, &leader_name) {
            (Role::Leader, Some(l)) if up.contains(l) => Some(l.clone()),
            _ => {
                let others: Vec<&String> = up
                    .iter()
                    .filter(|n| Some(*n) != leader_name.as_ref())
                    .collect();
                self.draw
                    .pick(&others)
                    .map(|n| (*n).clone())
                    .or_else(|| up.first().cloned())
            }
        };
        pick.map(|n| vec![n])
            .ok_or_else(|| format!("no replica of {} is up", group.as_str()))
    }
}

/// `catalog-1`, `catalog-2`, ... as the children are named.
fn replica_names(cluster: &Cluster, group: GroupName) -> Vec<String> {
    (1..=cluster.replicas(group).len())
        .map(|id| format!("{}-{id}", group.as_str()))
        .collect()
}
