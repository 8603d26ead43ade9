//! `pygmy inspect`: offline inspection of replica directories (DESIGN.md section 9).
//!
//! Every view reads a private copy (`storage::offline::ReplicaCopy`): sled never opens the
//! directory given, so it is never changed. One held by a running replica is reported as in use
//! and still inspected: the copy is then what a crash at that moment would have left.
//!
//! Layout: this file parses the arguments, finds the replicas and their groups; `show` prints
//! summaries and trees, `verify` checks invariants (across groups too), `diff` compares two
//! replicas of one group. Violations and differences exit with code 1 ([`Found`]).

mod diff;
mod show;
mod verify;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use catalog_svc::CatalogMachine;
use clap::{value_parser, Args, Subcommand};
use order_svc::OrderMachine;
use runtime::GroupName;
use storage::offline::{locate, replica_dir_name, Located, ReplicaCopy};
use storage::ServiceMachine;

/// `verify` found violations or `diff` found differences (exit code 1); the message says how many.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Found(pub(crate) String);

/// `pygmy inspect DIR [--tree NAME [--from KEY] [--limit N]]`, `inspect verify DIR`,
/// `inspect diff A B`.
#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true)]
pub(crate) struct InspectArgs {
    #[command(subcommand)]
    action: Option<Action>,
    /// A replica directory (e.g. data/catalog-1), or a data directory holding several (then one
    /// summary per replica).
    #[arg(required = true)]
    dir: Option<PathBuf>,
    /// Show the decoded entries of this tree of one replica: raft_log, raft_meta, sm_meta, or a
    /// state tree (catalog: books, reservations; orders: orders, order_keys, pending,
    /// order_meta).
    #[arg(long)]
    tree: Option<String>,
    /// With --tree: the first key shown (a number for raft_log, books and orders).
    #[arg(long, requires = "tree")]
    from: Option<String>,
    /// With --tree: the most entries shown.
    #[arg(
        long,
        requires = "tree",
        default_value_t = 100,
        value_parser = value_parser!(u64).range(1..)
    )]
    limit: u64,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Check invariants of a replica, or of every replica of a data directory and across its
    /// groups; exit code 1 naming each offending key.
    Verify {
        /// A replica directory, or a data directory holding several.
        dir: PathBuf,
    },
    /// Compare the state of two replicas of one group; exit code 1 if they differ.
    Diff {
        /// A replica directory.
        a: PathBuf,
        /// Another replica directory of the same group.
        b: PathBuf,
        /// The most differing keys shown.
        #[arg(long, default_value_t = 10, value_parser = value_parser!(u64).range(1..))]
        limit: u64,
    },
}

/// Runs `pygmy inspect`.
///
/// # Errors
/// [`Found`] for violations or differences; any other error if a directory cannot be inspected.
pub(crate) fn run(args: InspectArgs, json: bool) -> Result<()> {
    // sled may panic on damaged files: the hook keeps such panics (turned into errors by
    // `storage::db::guard_sled`) quiet, and aborts on any other.
    runtime::process::install_panic_hook();
    if args.action.is_some() && (args.dir.is_some() || args.tree.is_some()) {
        bail!("`verify` and `diff` take their directories after them, and no --tree");
    }
    match args.action {
        Some(Action::Verify { dir }) => verify::run(&dir, json),
        Some(Action::Diff { a, b, limit }) => diff::run(&a, &b, limit as usize, json),
        None => {
            let dir = args.dir.expect("clap requires DIR without a subcommand");
            match args.tree {
                Some(tree) => show::tree(&dir, &tree, args.from.as_deref(), args.limit, json),
                None => show::summaries(&dir, json),
            }
        }
    }
}

/// The replica directories `dir` names: itself, or those a data directory holds (then `true`).
///
/// # Errors
/// It is neither.
pub(crate) fn replica_dirs(dir: &Path) -> Result<(Vec<PathBuf>, bool)> {
    // Storage errors name the path themselves.
    let located = locate(dir)?;
    Ok(match located {
        Located::Replica(path) => (vec![path], false),
        Located::DataDir(paths) => (paths, true),
    })
}

/// A replica's private copy and its group.
pub(crate) struct Opened {
    /// The copy.
    pub(crate) copy: ReplicaCopy,
    /// Its group.
    pub(crate) group: GroupName,
}

impl Opened {
    /// `catalog-1`, or the directory's path if it is not named that way.
    pub(crate) fn name(&self) -> String {
        let source = self.copy.source();
        match replica_dir_name(source) {
            Some((group, id)) if group == self.group.as_str() => format!("{group}-{id}"),
            _ => source.display().to_string(),
        }
    }
}

/// Copies and opens the replica directory `dir`, and finds its group; warns (on stderr) if a
/// running replica holds it.
///
/// # Errors
/// It is not a replica directory, or it cannot be copied or read.
pub(crate) fn open(dir: &Path) -> Result<Opened> {
    let shown = dir.display();
    let copy = ReplicaCopy::open(dir)?;
    if copy.in_use() {
        eprintln!(
            "pygmy: warning: {shown} is in use by a running replica; inspecting a copy taken \
             now, which may be mid-write (as a crash at this moment would leave it)"
        );
    }
    let group = group_of(&copy).with_context(|| format!("inspecting {shown}"))?;
    Ok(Opened { copy, group })
}

/// The group whose state trees the replica has, else the one its directory's name gives.
fn group_of(copy: &ReplicaCopy) -> Result<GroupName> {
    let groups = [GroupName::Catalog, GroupName::Orders];
    let by_trees: Vec<GroupName> = groups
        .into_iter()
        .filter(|g| state_trees(*g).iter().any(|t| copy.has_tree(t)))
        .collect();
    match by_trees[..] {
        [group] => return Ok(group),
        [] => {}
        _ => bail!("it holds the state trees of both groups; it is not one replica"),
    }
    let named = replica_dir_name(copy.source()).map(|(group, _)| group);
    match groups
        .into_iter()
        .find(|g| named.as_deref() == Some(g.as_str()))
    {
        Some(group) => Ok(group),
        None => bail!(
            "it has neither group's state trees and its name is not <group>-<id>, so its group \
             is unknown"
        ),
    }
}

/// The state trees of `group`, in its machine's order (the digest's order).
fn state_trees(group: GroupName) -> &'static [&'static str] {
    match group {
        GroupName::Catalog => CatalogMachine::STATE_TREES,
        GroupName::Orders => OrderMachine::STATE_TREES,
    }
}

/// Calls the generic function `$f::<M>($args...)` with `M` the state machine of `$group`.
macro_rules! by_group {
    ($group:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $group {
            runtime::GroupName::Catalog => $f::<catalog_svc::CatalogMachine>($($arg),*),
            runtime::GroupName::Orders => $f::<order_svc::OrderMachine>($($arg),*),
        }
    };
}
pub(crate) use by_group;
