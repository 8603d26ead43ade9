//! The start sequence `up` and `chaos` share: check that nothing is in use, clear (`--fresh`)
//! and prepare the data directory, fill the tokens, start every child; and [`Started`], the
//! cluster that came of it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use runtime::{Cluster, GroupName};

use super::children::Children;
use super::data_dir;
use super::plan::{child_envs, plans, Plan};
use super::preflight;
use super::roster::roster;
use runtime::tokens;

/// How to launch a cluster, besides its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch<'a> {
    /// The configuration file, passed on to the children (none: the embedded one).
    pub(crate) config: Option<&'a Path>,
    /// The data directory given on the command line, passed on to the children.
    pub(crate) data: Option<&'a Path>,
    /// Remove what earlier runs left in the data directory first (`up --fresh`).
    pub(crate) fresh: bool,
    /// Whether the frontends cache reads (`up --no-cache` turns it off in every child).
    pub(crate) cache: bool,
}

impl Launch<'_> {
    /// Checks that nothing is in use (before anything is touched), clears the data directory
    /// if `fresh`, prepares it (a directory without replicas bootstraps a new cluster), fills
    /// empty tokens, and starts one child per replica and per address of `frontends`. The
    /// cluster is not ready yet: [`super::ready::wait_ready`] waits for it. Runs inside a tokio
    /// runtime, which the child processes need.
    ///
    /// # Errors
    /// Something is in use, a directory or the tokens cannot be written, or a child cannot be
    /// started (those already started are killed).
    pub(crate) fn start(
        &self,
        mut cluster: Cluster,
        frontends: Vec<String>,
    ) -> Result<(Started, Children)> {
        let roster = roster(&cluster, self.fresh)?;
        for note in &roster.notes {
            eprintln!("pygmy: {note}");
        }
        let plans = plans(self.config, self.data, &cluster, &roster.starts, &frontends);
        preflight::check(&cluster.data_dir, &plans)?;
        if self.fresh {
            data_dir::clear(&cluster.data_dir)?;
        }
        let bootstrap = data_dir::prepare(&cluster.data_dir)?;
        let admin_token_stored = tokens::ensure(&mut cluster)?;
        let program = std::env::current_exe().context("cannot find the pygmy executable")?;
        let children = Children::spawn(&program, &plans, &child_envs(self.cache), bootstrap)?;
        let started = Started {
            cluster,
            plans,
            frontends,
            admin_token_stored,
            leaders: (0, 0),
        };
        Ok((started, children))
    }
}

/// A launched cluster: what `up` sums up once it is ready, and what `chaos` runs against.
#[derive(Debug)]
pub(crate) struct Started {
    /// The validated configuration, tokens filled.
    pub(crate) cluster: Cluster,
    /// What each child is.
    pub(crate) plans: Vec<Plan>,
    /// Every frontend's `host:port`, the first on `[frontend] addr`.
    pub(crate) frontends: Vec<String>,
    /// Whether the admin token is the one in `tokens.toml`.
    pub(crate) admin_token_stored: bool,
    /// Leader ids once ready: catalog, orders (`(0, 0)` before).
    pub(crate) leaders: (u64, u64),
}

impl Started {
    /// The children names of the frontends (`frontend`, `frontend-2`, ...).
    pub(crate) fn frontend_names(&self) -> Vec<String> {
        self.plans
            .iter()
            .filter(|p| p.replica_dir.is_none())
            .map(|p| p.name.clone())
            .collect()
    }

    /// The addresses of the replicas of `group` this launch started.
    pub(crate) fn replica_addrs(&self, group: GroupName) -> Vec<String> {
        let prefix = format!("{}-", group.as_str());
        self.plans
            .iter()
            .filter(|p| p.replica_dir.is_some() && p.name.starts_with(&prefix))
            .map(|p| p.addr.clone())
            .collect()
    }

    /// Where the children log.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        data_dir::logs(&self.cluster.data_dir)
    }
}
