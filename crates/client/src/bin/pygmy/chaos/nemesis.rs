//! The nemesis: carries out the seeded fault schedule against the cluster under test (kill and
//! restart, pause and resume, network cuts and their healing), never taking down more of a group
//! than `--max-down` allows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use client::chaos::{Draw, FaultKind, FaultStep, MaxDown, Role, Schedule};
use runtime::{Cluster, GroupName};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::chaos::event::FaultEvent;
use crate::chaos::lease_probe::{self, LeaseProbe};
use crate::chaos::outages::{pick_replica, Down, Outage, Outages};
use crate::chaos::partition::{minority_side, Cut, Layout};
use crate::chaos::progress::Progress;
use crate::chaos::roster::Roster;
use crate::chaos::subject::Subject;
use crate::group_client::GroupClient;
use crate::launch::group_leader;
use crate::member::{self, NewReplica};

/// How long a replacement gets to start, catch up and be swapped in.
const REPLACE_WAIT: Duration = Duration::from_secs(60);

/// A port free on loopback now (the kernel's choice).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Who the nemesis acts on, and how it reads the cluster.
pub(crate) struct Scene<'a> {
    /// The processes or containers.
    pub(crate) subject: Subject<'a>,
    /// The configuration (cluster token, configured replicas).
    pub(crate) cluster: &'a Cluster,
    /// Each group's replicas now (the `member` fault changes them).
    pub(crate) roster: Roster,
    /// `(name, host:port)` of every frontend.
    pub(crate) frontends: Vec<(String, String)>,
    /// For `/status` calls (a short timeout) and the lease probes.
    pub(crate) http: reqwest::Client,
}

/// The fault injector of one run.
pub(crate) struct Nemesis<'a> {
    scene: Scene<'a>,
    max_down: MaxDown,
    draw: Draw,
    start: Instant,
    outages: Outages,
    /// Lease probes running, by event index, with what stops each.
    probes: BTreeMap<usize, (JoinHandle<LeaseProbe>, oneshot::Sender<()>)>,
    /// Every fault, in firing order.
    pub(crate) events: Vec<FaultEvent>,
    /// Where each fault and each error is shown.
    progress: Arc<Progress>,
}

impl<'a> Nemesis<'a> {
    /// A nemesis acting on `scene`, its draws seeded by `seed`, its times counted from `start`,
    /// showing what it does on `progress`.
    pub(crate) fn new(
        scene: Scene<'a>,
        max_down: MaxDown,
        seed: u64,
        start: Instant,
        progress: Arc<Progress>,
    ) -> Self {
        Self {
            scene,
            max_down,
            draw: Draw::new(seed ^ 0x6e656d65),
            start,
            outages: Outages::default(),
            probes: BTreeMap::new(),
            events: Vec::new(),
            progress,
        }
    }

    /// What it acted on, and the replicas each group has, once it is done.
    pub(crate) fn into_parts(self) -> (Subject<'a>, Roster) {
        (self.scene.subject, self.scene.roster)
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

    /// Restarts, resumes and reconnects everything still down.
    pub(crate) async fn heal_all(&mut self) {
        self.heal_due(Instant::now() + Duration::from_secs(24 * 3600))
            .await;
    }

    async fn heal_due(&mut self, now: Instant) {
        for d in self.outages.take_due(now) {
            // The probe stops before the cut heals: what it saw was all seen during the cut.
            if let Some((probe, stop)) = self.probes.remove(&d.event) {
                let _ = stop.send(());
                self.events[d.event].lease_probe = probe.await.ok();
            }
            let healed = match &d.how {
                Outage::Killed => self.each(&d.names, Action::Restart).await,
                Outage::Paused => self.each(&d.names, Action::Resume).await,
                Outage::Cut(cut) => {
                    if let Some(group) = d
                        .group
                        .filter(|_| self.events[d.event].kind != FaultKind::CutFrontend)
                    {
                        self.events[d.event].leader_after =
                            self.leader_beside(group, &cut.side).await;
                    }
                    self.scene.subject.heal(cut).await
                }
            };
            if let Err(e) = healed {
                self.progress.line(&format!(
                    "pygmy chaos: cannot bring {} back: {e:#}",
                    d.names.join(", ")
                ));
            }
            let at = self.ms_since_start();
            self.events[d.event].healed_at_ms = Some(at);
            self.progress.healed(d.event);
        }
    }

    /// Applies `action` to each of `names`; the first error, after trying them all.
    async fn each(&mut self, names: &[String], action: Action) -> anyhow::Result<()> {
        let mut first = Ok(());
        for name in names {
            let done = match action {
                Action::Kill => self.scene.subject.kill(name).await,
                Action::Restart => self.scene.subject.restart(name).await,
                Action::Pause => self.scene.subject.pause(name).await,
                Action::Resume => self.scene.subject.resume(name).await,
            };
            if let Err(e) = done {
                first = first.and(Err(e.context(name.clone())));
            }
        }
        first
    }

    async fn fire(&mut self, step: &FaultStep) {
        let group = match step.group.as_str() {
            "catalog" => GroupName::Catalog,
            _ => GroupName::Orders,
        };
        if step.kind == FaultKind::Member {
            return self.replace_replica(step, group).await;
        }
        let mut event = FaultEvent::new(self.ms_since_start(), step.kind, step.role);
        let planned = self.plan(step, group, &mut event).await;
        let (names, how, down_group) = match planned {
            Err(why) => {
                event.skipped = Some(why);
                self.events.push(event);
                return;
            }
            Ok(p) => p,
        };
        let hit = match &how {
            Outage::Killed => self.each(&event.targets.clone(), Action::Kill).await,
            Outage::Paused => self.each(&event.targets.clone(), Action::Pause).await,
            Outage::Cut(cut) => self.scene.subject.cut(cut).await,
        };
        if let Err(e) = hit {
            self.progress.line(&format!(
                "pygmy chaos: cannot fault {}: {e:#}",
                event.targets.join(", ")
            ));
        }
        // Counted from when the fault took hold, not from when it was aimed.
        event.at_ms = self.ms_since_start();
        let until = Instant::now() + Duration::from_millis(step.down_ms);
        if step.kind == FaultKind::CutFrontend {
            let base = self
                .scene
                .frontends
                .iter()
                .find(|(name, _)| Some(name) == event.targets.first())
                .map(|(_, addr)| addr.clone());
            if let Some(base) = base {
                let (stop, stopped) = oneshot::channel();
                let watch =
                    lease_probe::watch(self.scene.http.clone(), base, Instant::now(), stopped);
                self.probes
                    .insert(self.events.len(), (tokio::spawn(watch), stop));
            }
        }
        if let Outage::Cut(cut) = &how {
            event.cut = Some(cut.clone());
        }
        self.outages.push(Down {
            names,
            group: down_group,
            how,
            until,
            event: self.events.len(),
        });
        let what = event.describe();
        let line = format!("pygmy chaos: {:>6.1}s {what}", event.at_ms / 1000.0);
        self.progress.fired(self.events.len(), what, &line);
        self.events.push(event);
    }

    /// What `step` takes down now: the names counted down, how, and their group; fills the
    /// event's targets and the role they had.
    async fn plan(
        &mut self,
        step: &FaultStep,
        group: GroupName,
        event: &mut FaultEvent,
    ) -> Result<(Vec<String>, Outage, Option<GroupName>), String> {
        let names = self.scene.roster.names(group);
        match step.kind {
            FaultKind::KillFrontend => {
                let frontends = self.frontend_names();
                event.targets = self.outages.frontend_target(&frontends, &mut self.draw)?;
                Ok((event.targets.clone(), Outage::Killed, None))
            }
            FaultKind::KillGroup => {
                event.targets = self.outages.group_target(group, names)?;
                Ok((event.targets.clone(), Outage::Killed, Some(group)))
            }
            FaultKind::Kill | FaultKind::Pause => {
                let (target, role) = self.replica_target(group, step.role).await?;
                event.targets = vec![target];
                event.role = role;
                let how = if step.kind == FaultKind::Pause {
                    Outage::Paused
                } else {
                    Outage::Killed
                };
                Ok((event.targets.clone(), how, Some(group)))
            }
            FaultKind::Isolate | FaultKind::Split | FaultKind::OneWay => {
                let (target, role) = self.replica_target(group, step.role).await?;
                event.role = role;
                let mut side = vec![target];
                if step.kind == FaultKind::Split {
                    self.widen_split(group, &names, &mut side);
                }
                let everyone: Vec<String> = [GroupName::Catalog, GroupName::Orders]
                    .into_iter()
                    .flat_map(|g| self.scene.roster.names(g))
                    .chain(self.frontend_names())
                    .collect();
                let layout = Layout {
                    group: &names,
                    everyone: &everyone,
                };
                let cut = Cut::of_replicas(step.kind, side.clone(), &layout)
                    .ok_or("not a replica partition")?;
                event.targets = side.clone();
                Ok((side, Outage::Cut(cut), Some(group)))
            }
            FaultKind::Member => Err("a replacement is no outage".into()),
            FaultKind::CutFrontend => {
                let frontends = self.frontend_names();
                let frontend = self.outages.frontend_target(&frontends, &mut self.draw)?;
                let catalog = self.scene.roster.names(GroupName::Catalog);
                let up = self
                    .outages
                    .replicas_up(GroupName::Catalog, &catalog, self.max_down)?;
                let leader = self
                    .leader(GroupName::Catalog)
                    .await
                    .filter(|l| up.contains(l))
                    .ok_or("no catalog leader up to cut a frontend from")?;
                event.targets = frontend.clone();
                let cut = Cut::of_frontend(frontend[0].clone(), leader.clone());
                // The leader counts as down too: faulting it during the cut would elect
                // another one, which may rightly grant the frontend a new lease.
                let names = vec![frontend[0].clone(), leader];
                Ok((names, Outage::Cut(cut), Some(GroupName::Catalog)))
            }
        }
    }

    /// The `member` fault: kills a replica, wipes its directory, starts a new one under a new id
    /// on a free port and swaps them with `pygmy member replace`, waiting for it (other faults
    /// wait meanwhile). The group has its full count again once it is done, so nothing heals.
    async fn replace_replica(&mut self, step: &FaultStep, group: GroupName) {
        let mut event = FaultEvent::new(self.ms_since_start(), step.kind, step.role);
        let target = self.replica_target(group, step.role).await;
        let (target, role) = match target {
            Ok(t) => t,
            Err(why) => {
                event.skipped = Some(why);
                self.events.push(event);
                return;
            }
        };
        event.targets = vec![target.clone()];
        event.role = role;
        let replaced = self.swap_in_new_replica(group, &target).await;
        event.at_ms = self.ms_since_start();
        match replaced {
            Ok(name) => {
                event.replacement = Some(name);
                event.healed_at_ms = Some(self.ms_since_start());
            }
            Err(e) => {
                self.progress
                    .line(&format!("pygmy chaos: cannot replace {target}: {e:#}"));
                event.skipped = Some(format!("the replacement failed: {e:#}"));
            }
        }
        let what = event.describe();
        let line = format!("pygmy chaos: {:>6.1}s {what}", event.at_ms / 1000.0);
        let index = self.events.len();
        self.progress.fired(index, what, &line);
        self.events.push(event);
        self.progress.healed(index);
    }

    /// Kills `target`, starts its successor and runs the replacement; the successor's name.
    async fn swap_in_new_replica(
        &mut self,
        group: GroupName,
        target: &str,
    ) -> anyhow::Result<String> {
        let old: u64 = target
            .rsplit_once('-')
            .and_then(|(_, id)| id.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{target} names no replica id"))?;
        let id = self.scene.roster.take_id(group);
        let addr = format!("127.0.0.1:{}", free_port()?);
        self.scene.subject.kill(target).await?;
        let name = self.scene.subject.replace(target, id, &addr)?;
        // The configured addresses may all be gone by now: the roster knows the members.
        let mut replicas =
            GroupClient::new(self.scene.cluster, group)?.knowing(self.scene.roster.addrs(group));
        let new = NewReplica {
            id: Some(id),
            wait: REPLACE_WAIT,
        };
        member::replace(&mut replicas, old, &addr, &new).await?;
        self.scene.roster.replace(group, old, id, addr);
        Ok(name)
    }

    /// Adds followers to a split's minority side until it is as large as a minority may be.
    fn widen_split(&mut self, group: GroupName, names: &[String], side: &mut Vec<String>) {
        let Ok(up) = self.outages.replicas_up(group, names, self.max_down) else {
            return;
        };
        let allowed = self.max_down.limit(names.len()) - (names.len() - up.len());
        let size = minority_side(names.len(), allowed);
        let mut rest: Vec<String> = up.into_iter().filter(|n| !side.contains(n)).collect();
        while side.len() < size && !rest.is_empty() {
            let i = self.draw.index(rest.len());
            side.push(rest.remove(i));
        }
    }

    fn frontend_names(&self) -> Vec<String> {
        self.scene
            .frontends
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The leader of `group`, by name, as its replicas report it.
    async fn leader(&self, group: GroupName) -> Option<String> {
        let replicas = self.scene.roster.addrs(group);
        let token = &self.scene.cluster.cluster_token;
        let id = group_leader(&self.scene.http, token, &replicas).await?;
        Some(format!("{}-{id}", group.as_str()))
    }

    /// The leader the replicas of `group` outside `side` report (the majority of a partition).
    async fn leader_beside(&self, group: GroupName, side: &[String]) -> Option<String> {
        let replicas: Vec<String> = self
            .scene
            .roster
            .names(group)
            .into_iter()
            .zip(self.scene.roster.addrs(group))
            .filter(|(name, _)| !side.contains(name))
            .map(|(_, addr)| addr)
            .collect();
        let token = &self.scene.cluster.cluster_token;
        let id = group_leader(&self.scene.http, token, &replicas).await?;
        Some(format!("{}-{id}", group.as_str()))
    }

    /// The replica a fault aimed at `role` takes, and the role it has.
    async fn replica_target(
        &mut self,
        group: GroupName,
        role: Role,
    ) -> Result<(String, Role), String> {
        let names = self.scene.roster.names(group);
        let up = self.outages.replicas_up(group, &names, self.max_down)?;
        let leader = self.leader(group).await;
        let target = pick_replica(&up, role, leader.as_ref(), &mut self.draw)
            .ok_or_else(|| format!("no replica of {} is up", group.as_str()))?;
        let role = if Some(&target) == leader.as_ref() {
            Role::Leader
        } else {
            Role::Follower
        };
        Ok((target, role))
    }
}

/// What the nemesis does to one process.
#[derive(Debug, Clone, Copy)]
enum Action {
    Kill,
    Restart,
    Pause,
    Resume,
}
