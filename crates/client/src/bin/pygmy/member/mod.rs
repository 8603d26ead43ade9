//! `pygmy member list|add|remove|replace`: a group's membership, changed through its leader with
//! openraft's learner-then-voter protocol. The membership lives in the Raft log; the
//! configuration only seeds a new group and tells this command where to find it.
//!
//! This file parses the arguments and runs each command's steps, reporting each on stderr;
//! `crate::group_client` talks to the replicas (the leader's view, changes that follow it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use api::membership::{ADD_LEARNER_PATH, CHANGE_VOTERS_PATH};
use api::{AddLearner, ChangeVoters, MemberRole, MembershipView, ReplicaStatus};
use clap::{value_parser, Args, Subcommand, ValueEnum};
use runtime::entry::ConfigArgs;
use runtime::{ClusterOverrides, GroupName};
use serde::Serialize;
use storage::replica::PROMOTE_LAG_MAX;
use tokio::time::Instant;

use crate::group_client::GroupClient;

/// Pause between two looks at a catching-up learner.
const CATCH_UP_POLL: Duration = Duration::from_millis(250);
/// Least time between two progress lines of a catch-up.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// `pygmy member ...`.
#[derive(Debug, Args)]
pub(crate) struct MemberArgs {
    #[command(subcommand)]
    command: MemberCommand,
    /// Cluster configuration file (default: the embedded one, all on 127.0.0.1); it tells
    /// where to find the groups, and with `tokens.toml` the cluster token.
    #[arg(long, env = "PYGMY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the configuration).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
}

/// A group, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GroupArg {
    /// The catalog group.
    Catalog,
    /// The order group.
    Orders,
}

impl From<GroupArg> for GroupName {
    fn from(g: GroupArg) -> Self {
        match g {
            GroupArg::Catalog => GroupName::Catalog,
            GroupArg::Orders => GroupName::Orders,
        }
    }
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// List each group's members: id, address, role, replicated position and lag.
    List {
        /// Only this group.
        #[arg(long)]
        group: Option<GroupArg>,
    },
    /// Add a replica started empty with `pygmy serve ... --join`: as a learner, then a voter
    /// once it caught up.
    Add {
        /// Its group.
        #[arg(long)]
        group: GroupArg,
        /// Its `host:port`.
        addr: String,
        #[command(flatten)]
        new: NewReplica,
    },
    /// Remove a member. Refused when it would leave fewer than 3 voters (unless --force) or
    /// fewer answering voters than a quorum.
    Remove {
        /// Its group.
        #[arg(long)]
        group: GroupArg,
        /// Its id.
        #[arg(value_parser = value_parser!(u64).range(1..))]
        id: u64,
        /// Allow fewer than 3 voters (a group of 2 stops at the loss of either).
        #[arg(long)]
        force: bool,
    },
    /// Replace member ID by a new replica at ADDR (started with `--join`): add it, let it catch
    /// up, then swap the two voters in one change. For a replica whose disk is lost.
    Replace {
        /// Its group.
        #[arg(long)]
        group: GroupArg,
        /// The id of the member to replace.
        #[arg(value_name = "ID", value_parser = value_parser!(u64).range(1..))]
        old: u64,
        /// The new replica's `host:port`.
        addr: String,
        #[command(flatten)]
        new: NewReplica,
    },
}

/// How a new replica joins.
#[derive(Debug, Args)]
pub(crate) struct NewReplica {
    /// Its id (default: the one the replica at the address answers with; while nothing
    /// answers, the suggested one is after every member, configured replica and replica
    /// directory here).
    #[arg(long, value_parser = value_parser!(u64).range(1..))]
    pub(crate) id: Option<u64>,
    /// How long to wait for it to answer, and then to catch up, e.g. 60s or 5m.
    #[arg(long, default_value = "120s", value_parser = wait_time)]
    pub(crate) wait: Duration,
}

fn wait_time(text: &str) -> std::result::Result<Duration, String> {
    client::bench::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs `pygmy member`.
pub(crate) fn run(args: MemberArgs, json: bool) -> Result<()> {
    let config = ConfigArgs {
        config: args.config,
        data: args.data,
    };
    let cluster = config.load(ClusterOverrides::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match args.command {
            MemberCommand::List { group } => {
                let groups = match group {
                    Some(g) => vec![g.into()],
                    None => vec![GroupName::Catalog, GroupName::Orders],
                };
                let mut listed = Vec::new();
                for group in groups {
                    let mut replicas = GroupClient::new(&cluster, group)?;
                    let view = replicas.leader_view().await?;
                    listed.push(Listed::of(&replicas, view).await);
                }
                print_listed(&listed, json)
            }
            MemberCommand::Add { group, addr, new } => {
                let mut replicas = GroupClient::new(&cluster, group.into())?;
                let id = add(&mut replicas, &addr, &new).await?;
                let view = promote(&mut replicas, id, None, new.wait).await?;
                print_listed(&[Listed::of(&replicas, view).await], json)
            }
            MemberCommand::Remove { group, id, force } => {
                let mut replicas = GroupClient::new(&cluster, group.into())?;
                let change = ChangeVoters {
                    promote: Vec::new(),
                    remove: vec![id],
                    force,
                };
                let view = replicas.change(CHANGE_VOTERS_PATH, &change).await?;
                eprintln!("{}: removed replica {id}", replicas.name());
                print_listed(&[Listed::of(&replicas, view).await], json)
            }
            MemberCommand::Replace {
                group,
                old,
                addr,
                new,
            } => {
                let mut replicas = GroupClient::new(&cluster, group.into())?;
                let view = replace(&mut replicas, old, &addr, &new).await?;
                print_listed(&[Listed::of(&replicas, view).await], json)
            }
        }
    })
}

/// Replaces member `old` by the replica at `addr` (started with `--join`): adds it, waits until
/// it caught up, then promotes it and removes `old` in one change; the membership after.
///
/// # Errors
/// `old` is no member, the new replica does not answer or catch up within `new.wait`, or the
/// group refuses a step.
pub(crate) async fn replace(
    replicas: &mut GroupClient,
    old: u64,
    addr: &str,
    new: &NewReplica,
) -> Result<MembershipView> {
    let view = replicas.leader_view().await?;
    if view.member(old).is_none() {
        bail!(
            "{} has no member {old} (members: {:?}); nothing changed",
            replicas.name(),
            view.members.iter().map(|m| m.id).collect::<Vec<_>>()
        );
    }
    let new_id = add(replicas, addr, new).await?;
    promote(replicas, new_id, Some(old), new.wait).await
}

/// Waits for the new replica to answer at `addr`, then adds it as a learner under the id it
/// answers with (which must be `new.id`, if given); its id.
async fn add(replicas: &mut GroupClient, addr: &str, new: &NewReplica) -> Result<u64> {
    let view = replicas.leader_view().await?;
    // The id to suggest while nothing answers; once the replica answers, it says its own.
    let suggested = new.id.unwrap_or_else(|| replicas.next_id(&view));
    let group = replicas.name();
    let deadline = Instant::now() + new.wait;
    let mut told = false;
    let id = loop {
        match replicas.get::<serde_json::Value>(addr, "/health").await {
            Ok(health) => {
                let answered = health["id"].as_u64().filter(|_| health["group"] == group);
                match (answered, new.id) {
                    (Some(id), None) => break id,
                    (Some(id), Some(wanted)) if id == wanted => break id,
                    _ => bail!(
                        "{addr} answers as {} replica {}, not as {group} replica {}; nothing \
                         changed",
                        health["group"],
                        health["id"],
                        new.id.map_or("(any id)".to_string(), |id| id.to_string())
                    ),
                }
            }
            Err(_) if Instant::now() < deadline => {
                if !told {
                    eprintln!(
                        "{group}: waiting for a replica at {addr}; start it with `pygmy serve {} \
                         --id {suggested} --addr {addr} --join`",
                        serve_group(group)
                    );
                    told = true;
                }
                tokio::time::sleep(CATCH_UP_POLL).await;
            }
            Err(e) => bail!(
                "no {group} replica answered at {addr} within {:?} ({e:#}); nothing changed",
                new.wait
            ),
        }
    };
    let request = AddLearner {
        id,
        addr: addr.to_string(),
    };
    let view = replicas.change(ADD_LEARNER_PATH, &request).await?;
    eprintln!(
        "{group}: added replica {id} at {addr} as a learner (membership at log index {})",
        view.config_index
    );
    Ok(id)
}

/// Waits until learner `id` caught up, then promotes it (removing `replacing` in the same
/// change); the membership after.
async fn promote(
    replicas: &mut GroupClient,
    id: u64,
    replacing: Option<u64>,
    wait: Duration,
) -> Result<MembershipView> {
    let group = replicas.name();
    let deadline = Instant::now() + wait;
    let mut last_progress = Instant::now();
    loop {
        let view = replicas.leader_view().await?;
        let Some(learner) = view.member(id) else {
            bail!("{group} replica {id} is no longer a member; it was removed meanwhile");
        };
        if learner.role == MemberRole::Voter {
            break;
        }
        let matched = learner.matched_index.unwrap_or(0);
        let behind = view.last_log_index.saturating_sub(matched);
        if learner.matched_index.is_some() && behind <= PROMOTE_LAG_MAX {
            let change = ChangeVoters {
                promote: vec![id],
                remove: replacing.into_iter().collect(),
                force: false,
            };
            let view = replicas.change(CHANGE_VOTERS_PATH, &change).await?;
            match replacing {
                Some(old) => eprintln!(
                    "{group}: replica {id} caught up (at {matched} of {}) and replaced replica \
                     {old} as a voter; voters now {:?}",
                    view.last_log_index,
                    view.voters()
                ),
                None => eprintln!(
                    "{group}: replica {id} caught up (at {matched} of {}) and is a voter; \
                     voters now {:?}",
                    view.last_log_index,
                    view.voters()
                ),
            }
            return Ok(view);
        }
        if Instant::now() >= deadline {
            bail!(
                "{group} replica {id} did not catch up within {wait:?} (at {matched} of {}); it \
                 stays a learner: `pygmy member remove --group {group} {id}` drops it",
                view.last_log_index
            );
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            eprintln!(
                "{group}: replica {id} catching up: at {matched} of {} ({behind} behind)",
                view.last_log_index
            );
            last_progress = Instant::now();
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    replicas.leader_view().await
}

/// The `pygmy serve` subcommand of a group.
fn serve_group(group: &str) -> &'static str {
    if group == "catalog" {
        "catalog"
    } else {
        "order"
    }
}

/// A group's membership as its leader sees it, with each member's applied index as the member
/// itself reports it (`None`: it did not answer).
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    view: MembershipView,
    /// Member id -> its last applied log index.
    applied: BTreeMap<u64, Option<u64>>,
}

impl Listed {
    /// `view`, with every member's `/status` asked at once.
    async fn of(replicas: &GroupClient, view: MembershipView) -> Self {
        let asks = view.members.iter().map(|m| async move {
            let status = replicas.get::<ReplicaStatus>(&m.addr, "/status").await;
            (m.id, status.ok().map(|s| s.last_applied))
        });
        let applied = futures::future::join_all(asks).await.into_iter().collect();
        Self { view, applied }
    }
}

fn print_listed(listed: &[Listed], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(listed)?);
        return Ok(());
    }
    println!(
        "{:<8} {:>4}  {:<22} {:<8} {:>10} {:>7} {:>10}",
        "GROUP", "ID", "ADDRESS", "ROLE", "MATCHED", "LAG", "APPLIED"
    );
    for Listed { view, applied } in listed {
        for m in &view.members {
            let role = if view.leader == Some(m.id) {
                "leader"
            } else {
                m.role.as_str()
            };
            let (matched, lag) = match m.matched_index {
                Some(i) => (
                    i.to_string(),
                    view.last_log_index.saturating_sub(i).to_string(),
                ),
                None => ("-".into(), "-".into()),
            };
            let applied = applied
                .get(&m.id)
                .copied()
                .flatten()
                .map_or("-".to_string(), |a| a.to_string());
            println!(
                "{:<8} {:>4}  {:<22} {:<8} {:>10} {:>7} {:>10}",
                view.group, m.id, m.addr, role, matched, lag, applied
            );
        }
        if view.changing {
            println!(
                "{:<8} a change is half-way (joint configuration); it finishes on the next \
                 change",
                view.group
            );
        }
    }
    Ok(())
}
