//! `pygmy chaos`: seeded fault injection with a history checker (DESIGN.md sections 7 and 9).
//!
//! Steps: start a fresh cluster (children of this process, launched as `pygmy up` launches
//! them: `crate::launch`) in a temporary directory or `--data DIR`; restock every book; run
//! `--clients` concurrent clients through the public API for `--duration`, recording every
//! operation ([`workload`], each answer sorted by [`classify`]), while the
//! [`nemesis`] kills, pauses and restarts replicas and the frontend on a seeded schedule; heal;
//! wait until the cluster has settled; check that every frontend's cache serves hits again
//! ([`liveness`]); read every replica's final state ([`collect`]); check the history
//! ([`check`]); report ([`report`]). Exit 1 if any check failed.
//!
//! With `--compose FILE` the cluster is a Compose project of its own instead ([`compose`]):
//! the same workload and checks, faults by `docker kill`/`pause`, and network partitions.
//!
//! Layout: `args` (the flags' values: fault kinds, `--max-down`, durations), `setup`
//! (directory, configuration, processes), `compose` (the project, its containers and cuts),
//! `subject` (what the nemesis acts on, either way), `workload` (clients and history),
//! `classify` (answer to outcome), `nemesis` (with `outages`: what is down, what may go down;
//! `partition`: who is cut from whom; `event`: a fault as it happened; `lease_probe`: cache hits
//! of a cut-off frontend), `progress` (what is shown while it runs), `liveness`, `collect`,
//! `report` (table, JSON, SVG plot).

mod args;
mod classify;
mod collect;
mod compose;
mod event;
mod lease_probe;
mod liveness;
mod nemesis;
mod outages;
mod partition;
mod progress;
mod report;
mod roster;
mod setup;
mod subject;
mod timed_restocks;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::builder::{EnumValueParser, TypedValueParser as _};
use clap::Args;
use client::chaos::{FaultKind, MaxDown, Schedule, ScheduleConfig};
use runtime::Cluster;
use tokio::time::Instant;

use crate::chaos::collect::ReplicaReader;
use crate::chaos::compose::{ContainerDns, Project, SharedDns};
use crate::chaos::nemesis::{Nemesis, Scene};
use crate::chaos::progress::Progress;
use crate::chaos::roster::Roster;
use crate::chaos::subject::Subject;
use crate::chaos::timed_restocks::RestockWatch;
use crate::chaos::workload::{Recorder, Workload};

/// Mean pause between two operations of one client: keeps per-book histories small enough for
/// an exhaustive linearizability search.
const CLIENT_PAUSE: Duration = Duration::from_millis(50);
/// Timeout of the nemesis's `/status` calls and lease probes.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);
/// Tries to read the timed restocks applied once the cluster settled.
const RESTOCK_FINAL_TRIES: u32 = 20;
/// Timeout of the checker's reads of the replicas.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `pygmy chaos ...`.
#[derive(Debug, Args)]
pub(crate) struct ChaosArgs {
    /// Cluster configuration (default: a generated one on fresh loopback ports).
    #[arg(long, conflicts_with = "compose")]
    config: Option<PathBuf>,
    /// Keep the cluster's data here (default: a temporary directory, removed if every check
    /// passes); with --compose, the configuration and the containers' logs.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run against a Compose project made from this file (e.g. docker-compose.yml) instead of
    /// processes on loopback: a project of its own with fresh volumes, removed afterwards (kept,
    /// stopped, if a check fails). Partitions need it, and root on the Docker host.
    #[arg(long)]
    compose: Option<PathBuf>,
    /// Name of the Compose project (default: pygmychaos<pid>).
    #[arg(long, requires = "compose", value_parser = args::parse_project)]
    project: Option<String>,
    /// How long the clients and the nemesis run, e.g. 60s, 10m.
    #[arg(long, default_value = "60s", value_parser = args::parse_duration)]
    duration: Duration,
    /// Seed of the fault schedule and of the clients' choices (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Frontends, each with its own cache; client `i` uses frontend `i % N`, so reads through
    /// one frontend check what writes through another did.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    frontends: u16,
    /// Faults to inject, comma-separated (empty for none); the network cuts need --compose
    /// [default: kill,pause,frontend, and with --compose every fault]
    #[arg(long, value_delimiter = ',', value_parser = args::FaultParser)]
    faults: Option<Vec<Option<FaultKind>>>,
    /// Shortest and longest gap between two faults, e.g. 1s..6s.
    #[arg(long, default_value = "1s..6s", value_parser = args::parse_interval)]
    interval: (Duration, Duration),
    /// How many replicas of a group may be down at once.
    #[arg(long, default_value = "minority",
          value_parser = EnumValueParser::<args::MaxDownArg>::new().map(MaxDown::from))]
    max_down: MaxDown,
    /// Write the full result (history, faults, checks, timeline) as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw throughput and latency over time, with the faults marked, as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write a self-contained HTML report here: verdict, checks with their evidence, faults,
    /// the plot, each book's history, and the command that replays the run.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Most states the linearizability search may explore per book (about 64 bytes each);
    /// past it the check is inconclusive, which fails the run. Raise it for long soaks.
    #[arg(long, default_value_t = 1_000_000)]
    search_states_max: u64,
    /// Turn on timed restocks in the generated cluster, as `EVERY_S,BELOW,TO` (e.g. 2,45,55:
    /// every 2 s, books under 45 copies back to 55; they start at 55); each round applied is
    /// recorded in the history as a restock nobody asked for and checked like the others.
    #[arg(long, conflicts_with_all = ["config", "compose"], value_parser = args::parse_restock)]
    restock: Option<runtime::cluster::RestockFile>,
}

impl ChaosArgs {
    /// The files the result is written to, besides stdout.
    fn outputs(&self) -> report::Outputs<'_> {
        report::Outputs {
            report: self.report.as_deref(),
            plot: self.plot.as_deref(),
            html: self.html.as_deref(),
        }
    }

    /// `--faults`, or the default for where the run goes.
    fn faults(&self) -> Vec<FaultKind> {
        args::faults_or_default(self.faults.as_deref(), self.compose.is_some())
    }
}

/// Some check failed: `main` turns this into exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{0} check(s) failed; see the report above")]
pub(crate) struct ChecksFailed(pub(crate) usize);

/// Runs one chaos experiment.
///
/// # Errors
/// [`ChecksFailed`] if a check failed; any other error if the run could not be carried out.
pub(crate) fn run(args: ChaosArgs, json: bool) -> Result<()> {
    runtime::process::init_tracing();
    runtime::process::restrict_file_modes();
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!("pygmy chaos: seed {seed} (repeat the run with --seed {seed})");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(experiment(args, seed, json))
}

async fn experiment(args: ChaosArgs, seed: u64, json: bool) -> Result<()> {
    if let Some(compose) = args.compose.clone() {
        if args.faults().contains(&FaultKind::Member) {
            bail!("member starts a new replica process; it needs processes, not --compose");
        }
        return experiment_on_compose(args, &compose, seed, json).await;
    }
    if args.faults().iter().any(|k| k.is_partition()) {
        bail!("isolate, split, oneway and frontend-cut need --compose: processes sharing one loopback cannot be cut off from one another");
    }
    let mut lab = setup::Lab::start(
        args.config.as_deref(),
        args.data.as_deref(),
        args.frontends,
        args.restock.as_ref(),
    )
    .await?;
    let stage = Stage {
        cluster: lab.started.cluster.clone(),
        frontends: lab
            .started
            .frontend_names()
            .into_iter()
            .zip(lab.started.frontends.clone())
            .collect(),
        dns: None,
    };
    let logs = lab.started.logs_dir();
    let subject = Subject::Processes {
        children: &mut lab.children,
        logs,
    };
    let outcome = drive(&args, seed, &stage, subject).await;
    lab.children.stop().await;
    let failed = match outcome {
        Ok(result) => report::emit(&result, &args.outputs(), json)?,
        Err(e) => {
            lab.keep();
            return Err(e);
        }
    };
    if failed > 0 {
        lab.keep();
        return Err(ChecksFailed(failed).into());
    }
    Ok(())
}

/// [`experiment`] on a Compose project made from `file`.
async fn experiment_on_compose(
    args: ChaosArgs,
    file: &std::path::Path,
    seed: u64,
    json: bool,
) -> Result<()> {
    let (temp, dir) = setup::run_dir(args.data.as_deref(), "pygmy-chaos-compose-")?;
    let name = args
        .project
        .clone()
        .unwrap_or_else(|| format!("pygmychaos{}", std::process::id()));
    let mut project = Project::up(file, &name, &dir).await?;
    let outcome = async {
        if args.faults().iter().any(|k| k.is_partition()) {
            project.check_partitions().await?;
        }
        let stage = Stage {
            cluster: project.cluster().clone(),
            frontends: project.frontends().to_vec(),
            dns: Some(project.dns()),
        };
        drive(&args, seed, &stage, Subject::Containers(&mut project)).await
    }
    .await;
    let failed = outcome.and_then(|result| report::emit(&result, &args.outputs(), json));
    let passed = matches!(failed, Ok(0));
    project.finish(!passed).await;
    if !passed {
        let kept = temp.map_or(dir, tempfile::TempDir::keep);
        eprintln!(
            "pygmy chaos: configuration and logs kept in {}",
            kept.display()
        );
    }
    match failed? {
        0 => Ok(()),
        n => Err(ChecksFailed(n).into()),
    }
}

/// The cluster under test as the clients and the checker see it.
struct Stage {
    /// The configuration, tokens filled.
    cluster: Cluster,
    /// `(name, host:port)` of every frontend.
    frontends: Vec<(String, String)>,
    /// How the replicas' names resolve, for a Compose project.
    dns: Option<Arc<ContainerDns>>,
}

impl Stage {
    /// An HTTP client for the replicas, with `timeout` per request.
    fn http(&self, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        let builder = reqwest::Client::builder().no_proxy().timeout(timeout);
        match &self.dns {
            Some(dns) => builder.dns_resolver(Arc::new(SharedDns(dns.clone()))),
            None => builder,
        }
        .build()
    }

    fn frontend_addrs(&self) -> Vec<String> {
        self.frontends.iter().map(|(_, a)| a.clone()).collect()
    }
}

/// Workload and faults, then healing, settling, collecting and checking.
async fn drive(
    args: &ChaosArgs,
    seed: u64,
    stage: &Stage,
    subject: Subject<'_>,
) -> Result<report::RunResult> {
    let cluster = &stage.cluster;
    let frontends = stage.frontend_addrs();
    let reader = ReplicaReader::new(stage.http(READ_TIMEOUT)?, &cluster.cluster_token);
    let (mut initial_stock, orders_before) =
        setup::prepare(&frontends[0], cluster, &reader).await?;
    let restock_baseline = match cluster.restock {
        Some(_) => {
            let (rounds, stock) = timed_restocks::baseline(&reader, &cluster.catalog[0]).await?;
            initial_stock = stock;
            Some(rounds)
        }
        None => None,
    };
    let schedule = Schedule::draw(&ScheduleConfig {
        seed,
        faults: args.faults(),
        interval_ms: (
            args.interval.0.as_millis() as u64,
            args.interval.1.as_millis() as u64,
        ),
        max_down: args.max_down,
        duration_ms: args.duration.as_millis() as u64,
    });
    let start = Instant::now();
    let stop = start + args.duration;
    let recorder = Arc::new(Recorder::new(start));
    let workload = Arc::new(Workload::new(
        &frontends,
        &cluster.admin_token,
        recorder.clone(),
        CLIENT_PAUSE,
        seed,
    )?);
    let scene = Scene {
        subject,
        cluster,
        roster: Roster::configured(cluster),
        frontends: stage.frontends.clone(),
        http: stage.http(STATUS_TIMEOUT)?,
    };
    let watch = match &restock_baseline {
        Some(baseline) => {
            let reader = ReplicaReader::new(stage.http(READ_TIMEOUT)?, &cluster.cluster_token);
            let watch = RestockWatch::new(reader, &cluster.catalog, recorder.clone(), baseline);
            Some(tokio::spawn(watch.run(stop)))
        }
        None => None,
    };
    let clients: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(workload.clone().client(i, stop)))
        .collect();
    let progress = Progress::new(args.duration);
    let showing = tokio::spawn(progress.clone().show(recorder.clone()));
    let mut nemesis = Nemesis::new(scene, args.max_down, seed, start, progress.clone());
    nemesis.run(&schedule, stop).await;
    let clients_done = join_clients(clients).await;
    // Off the terminal before anything else is printed, whether the clients ended well or not.
    showing.abort();
    progress.finish();
    clients_done?;
    nemesis.heal_all().await;
    let events = std::mem::take(&mut nemesis.events);
    let (subject, roster) = nemesis.into_parts();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    eprintln!("pygmy chaos: healed; waiting for the cluster to settle");
    let settled = reader.settle(&roster).await;
    if let Some(watch) = watch {
        // After settling: every round that will ever apply has, and is recorded.
        let mut watch = watch.await.context("the timed restock watch failed")?;
        watch.read_final(RESTOCK_FINAL_TRIES).await?;
    }
    let cache_live = if cluster.cache.enabled {
        eprintln!("pygmy chaos: checking that every frontend's cache serves hits again");
        let books: Vec<u64> = initial_stock.keys().copied().collect();
        let live =
            liveness::check_cache_live(&workload.http, &frontends, &books, cluster.cache.lease)
                .await;
        Some(live.map_err(|e| format!("{e:#}")))
    } else {
        None
    };
    let state = reader.collect(&roster, &subject.logs().await?).await?;
    Ok(report::RunResult::check(report::RunFacts {
        seed,
        args_summary: format!("{args:?}"),
        max_down: args.max_down,
        clients: args.clients,
        duration_ms: args.duration.as_millis() as f64,
        elapsed_ms,
        schedule,
        events,
        history: recorder.history(),
        reads_served: recorder.reads_served(),
        initial_stock,
        orders_before,
        state,
        settled: settled.err().map(|e| format!("{e:#}")),
        cache_live,
        lease: cluster.cache.lease,
        search_states_max: args.search_states_max,
    }))
}

/// Waits for every client; an error if any of them panicked.
async fn join_clients(clients: Vec<tokio::task::JoinHandle<()>>) -> Result<()> {
    let mut done = Ok(());
    for client in clients {
        done = done.and(client.await.context("a chaos client failed"));
    }
    done
}
