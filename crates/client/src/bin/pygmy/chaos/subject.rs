//! The cluster under test as the nemesis acts on it: this run's child processes (signals) or a
//! Compose project's containers (`docker kill`, `pause`, iptables cuts).

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use nix::sys::signal::Signal;

use crate::chaos::compose::Project;
use crate::chaos::partition::Cut;
use crate::launch::Children;

/// What the nemesis stops, resumes and cuts.
pub(crate) enum Subject<'a> {
    /// Processes this run started on loopback, logging into `logs`.
    Processes {
        /// The processes.
        children: &'a mut Children,
        /// Their logs' directory.
        logs: PathBuf,
    },
    /// Containers of a Compose project, each in its own network namespace.
    Containers(&'a mut Project),
}

impl Subject<'_> {
    /// SIGKILL.
    pub(crate) async fn kill(&mut self, name: &str) -> Result<()> {
        match self {
            Subject::Processes { children: c, .. } => c.kill(name).await,
            Subject::Containers(p) => p.kill(name).await,
        }
    }

    /// Starts a killed process again, on its own data.
    pub(crate) async fn restart(&mut self, name: &str) -> Result<()> {
        match self {
            Subject::Processes { children: c, .. } => c.restart(name),
            Subject::Containers(p) => p.restart(name).await,
        }
    }

    /// Freezes a process (SIGSTOP, or the container's cgroup).
    pub(crate) async fn pause(&mut self, name: &str) -> Result<()> {
        match self {
            Subject::Processes { children: c, .. } => c.signal(name, Signal::SIGSTOP),
            Subject::Containers(p) => p.pause(name).await,
        }
    }

    /// Thaws a paused process.
    pub(crate) async fn resume(&mut self, name: &str) -> Result<()> {
        match self {
            Subject::Processes { children: c, .. } => c.signal(name, Signal::SIGCONT),
            Subject::Containers(p) => p.resume(name).await,
        }
    }

    /// Replaces replica `name` (killed before) by replica `id` at `addr` on an empty directory,
    /// started to join its group; the new one's name. The old directory is wiped: its disk is
    /// lost.
    ///
    /// # Errors
    /// Containers (the nemesis cannot add one), no such child, or the new one cannot start.
    pub(crate) fn replace(&mut self, name: &str, id: u64, addr: &str) -> Result<String> {
        let Subject::Processes { children, .. } = self else {
            bail!("member needs processes, not --compose");
        };
        let old = children.retire(name)?;
        let new = old
            .successor(id, addr)
            .with_context(|| format!("{name} is no replica"))?;
        if let Some(dir) = &old.replica_dir {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot wipe {}", dir.display()))?;
        }
        let new_name = new.name.clone();
        children.add(new)?;
        Ok(new_name)
    }

    /// Makes a network cut.
    ///
    /// # Errors
    /// Processes sharing one loopback cannot be cut off from one another.
    pub(crate) async fn cut(&mut self, cut: &Cut) -> Result<()> {
        match self {
            Subject::Processes { .. } => bail!("partitions need --compose"),
            Subject::Containers(p) => p.cut(cut).await,
        }
    }

    /// Heals a network cut.
    pub(crate) async fn heal(&mut self, cut: &Cut) -> Result<()> {
        match self {
            Subject::Processes { .. } => Ok(()),
            Subject::Containers(p) => p.heal(cut).await,
        }
    }

    /// The directory of every process's log (a Compose project's are saved there first).
    ///
    /// # Errors
    /// A container's log cannot be saved.
    pub(crate) async fn logs(&self) -> Result<PathBuf> {
        match self {
            Subject::Processes { logs, .. } => Ok(logs.clone()),
            Subject::Containers(p) => p.save_logs().await,
        }
    }
}
