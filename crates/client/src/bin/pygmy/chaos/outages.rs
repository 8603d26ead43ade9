//! What the nemesis has taken down and until when, and which targets a new fault may take
//! without breaking `--max-down`. Pure (the leader is looked up by the caller), so that the
//! limits are tested on drawn schedules without processes.

use client::chaos::{Draw, MaxDown, Role};
use runtime::GroupName;
use tokio::time::Instant;

use crate::chaos::partition::Cut;

/// How a fault took its processes down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outage {
    /// Killed: restarted when it is over.
    Killed,
    /// Paused: resumed.
    Paused,
    /// Cut off from others: healed.
    Cut(Cut),
}

/// Processes down because of one fault (a cut-off side counts as down for `--max-down`).
#[derive(Debug)]
pub(crate) struct Down {
    /// The children it took down.
    pub(crate) names: Vec<String>,
    /// Their group (none for a frontend).
    pub(crate) group: Option<GroupName>,
    /// How they were taken down, hence how they come back.
    pub(crate) how: Outage,
    /// When they come back.
    pub(crate) until: Instant,
    /// The fault's index among the run's events.
    pub(crate) event: usize,
}

/// Everything down now, fault by fault.
#[derive(Debug, Default)]
pub(crate) struct Outages {
    down: Vec<Down>,
}

impl Outages {
    /// Records the processes a fault took down.
    pub(crate) fn push(&mut self, down: Down) {
        self.down.push(down);
    }

    /// When the next process is due back, if any is down.
    pub(crate) fn next_heal(&self) -> Option<Instant> {
        self.down.iter().map(|d| d.until).min()
    }

    /// Removes and returns the faults due back at `now`.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Down> {
        let (due, keep) = std::mem::take(&mut self.down)
            .into_iter()
            .partition(|d| d.until <= now);
        self.down = keep;
        due
    }

    fn names(&self) -> Vec<&str> {
        self.down
            .iter()
            .flat_map(|d| d.names.iter().map(String::as_str))
            .collect()
    }

    /// One frontend of `frontends` that is up, drawn at random; with two or more, never the
    /// last one up (a run with one frontend may take it down).
    ///
    /// # Errors
    /// Why no frontend may go down now.
    pub(crate) fn frontend_target(
        &self,
        frontends: &[String],
        draw: &mut Draw,
    ) -> Result<Vec<String>, String> {
        let down = self.names();
        let up: Vec<String> = frontends
            .iter()
            .filter(|f| !down.contains(&f.as_str()))
            .cloned()
            .collect();
        if up.len() < frontends.len().min(2) {
            return Err("a frontend is already down".into());
        }
        draw.pick(&up)
            .map(|f| vec![f.clone()])
            .ok_or_else(|| "no frontend is up".into())
    }

    /// Every replica of `group` (named `names`), if none of them is down.
    ///
    /// # Errors
    /// A replica of the group is already down.
    pub(crate) fn group_target(
        &self,
        group: GroupName,
        names: Vec<String>,
    ) -> Result<Vec<String>, String> {
        if self.down.iter().any(|d| d.group == Some(group)) {
            return Err(format!("a replica of {} is already down", group.as_str()));
        }
        Ok(names)
    }

    /// The replicas of `group` (named `names`) that are up, if one more of them may go down
    /// under `max_down`.
    ///
    /// # Errors
    /// As many as `max_down` allows are down already.
    pub(crate) fn replicas_up(
        &self,
        group: GroupName,
        names: &[String],
        max_down: MaxDown,
    ) -> Result<Vec<String>, String> {
        let down = self.names();
        let down_here = names.iter().filter(|n| down.contains(&n.as_str())).count();
        if down_here >= max_down.limit(names.len()) {
            return Err(format!(
                "{down_here} of {} already down (--max-down {max_down})",
                group.as_str()
            ));
        }
        Ok(names
            .iter()
            .filter(|n| !down.contains(&n.as_str()))
            .cloned()
            .collect())
    }
}

/// The replica of `up` a fault aimed at `role` takes: the leader when it is aimed at and up;
/// else one of the others drawn at random; else the first one up (a follower fault when only
/// the leader is up takes the leader).
pub(crate) fn pick_replica(
    up: &[String],
    role: Role,
    leader: Option<&String>,
    draw: &mut Draw,
) -> Option<String> {
    match (role, leader) {
        (Role::Leader, Some(l)) if up.contains(l) => Some(l.clone()),
        _ => {
            let others: Vec<&String> = up.iter().filter(|n| Some(*n) != leader).collect();
            draw.pick(&others)
                .map(|n| (*n).clone())
                .or_else(|| up.first().cloned())
        }
    }
}

#[cfg(test)]
mod tests;
