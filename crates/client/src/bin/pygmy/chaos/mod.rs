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
//! Layout: `setup` (directory, configuration, processes), `workload` (clients and history),
//! `classify` (answer to outcome), `nemesis` (with `outages`: what is down, what may go down),
//! `liveness`, `collect`, `report` (table, JSON, SVG plot).

mod classify;
mod collect;
mod liveness;
mod nemesis;
mod outages;
mod report;
mod setup;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use client::chaos::{FaultKind, MaxDown, Schedule, ScheduleConfig};
use tokio::time::Instant;

use crate::chaos::collect::ReplicaReader;
use crate::chaos::nemesis::Nemesis;
use crate::chaos::workload::{Recorder, Workload};

/// Mean pause between two operations of one client: keeps per-book histories small enough for
/// an exhaustive linearizability search.
const CLIENT_PAUSE: Duration = Duration::from_millis(50);

/// `pygmy chaos ...`.
#[derive(Debug, Args)]
pub(crate) struct ChaosArgs {
    /// Cluster configuration (default: a generated one on fresh loopback ports).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Keep the cluster's data here (default: a temporary directory, removed if every check passes).
    #[arg(long)]
    data: Option<PathBuf>,
    /// How long the clients and the nemesis run, e.g. 60s, 10m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
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
    /// Faults to inject: kill, pause, frontend (comma-separated; empty for none).
    #[arg(long, default_value = "kill,pause,frontend", value_parser = parse_faults)]
    faults: FaultList,
    /// Shortest and longest gap between two faults, e.g. 1s..6s.
    #[arg(long, default_value = "1s..6s", value_parser = parse_interval)]
    interval: (Duration, Duration),
    /// How many replicas of a group may be down at once: minority, majority or all.
    #[arg(long, default_value = "minority")]
    max_down: MaxDown,
    /// Write the full result (history, faults, checks, timeline) as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw throughput and latency over time, with the faults marked, as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Most states the linearizability search may explore per book (about 64 bytes each);
    /// past it the check is inconclusive, which fails the run. Raise it for long soaks.
    #[arg(long, default_value_t = 1_000_000)]
    search_states_max: u64,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    client::bench::parse_duration(text).map_err(|e| e.to_string())
}

/// `--faults`, parsed (a newtype: clap reads a bare `Vec` as a repeated option).
#[derive(Debug, Clone)]
struct FaultList(Vec<FaultKind>);

fn parse_faults(text: &str) -> Result<FaultList, String> {
    FaultKind::parse_list(text).map(FaultList)
}

fn parse_interval(text: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = text
        .split_once("..")
        .ok_or("give the interval as MIN..MAX, e.g. 1s..6s")?;
    let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
    if lo.is_zero() || lo > hi {
        return Err(format!("the interval {text} needs 0 < MIN <= MAX"));
    }
    Ok((lo, hi))
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
    let mut lab =
        setup::Lab::start(args.config.as_deref(), args.data.as_deref(), args.frontends).await?;
    let outcome = drive(&args, seed, &mut lab).await;
    lab.children.stop().await;
    let failed = match outcome {
        Ok(result) => report::emit(&result, &args.report, &args.plot, json)?,
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

/// Workload and faults, then healing, settling, collecting and checking.
async fn drive(args: &ChaosArgs, seed: u64, lab: &mut setup::Lab) -> Result<report::RunResult> {
    let reader = ReplicaReader::new(&lab.started.cluster.cluster_token)?;
    let (initial_stock, orders_before) = lab.prepare(&reader).await?;
    let schedule = Schedule::draw(&ScheduleConfig {
        seed,
        faults: args.faults.0.clone(),
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
        &lab.started.frontends,
        &lab.started.cluster.admin_token,
        recorder.clone(),
        CLIENT_PAUSE,
        seed,
    )?);
    let clients: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(workload.clone().client(i, stop)))
        .collect();
    let progress = tokio::spawn(report::progress(recorder.clone(), args.duration));
    let cluster = lab.started.cluster.clone();
    let frontend_names = lab.started.frontend_names();
    let mut nemesis = Nemesis::new(
        &mut lab.children,
        &cluster,
        frontend_names,
        args.max_down,
        seed,
        start,
    )?;
    nemesis.run(&schedule, stop).await;
    for c in clients {
        c.await.context("a chaos client failed")?;
    }
    progress.abort();
    nemesis.heal_all().await;
    let events = std::mem::take(&mut nemesis.events);
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    eprintln!("pygmy chaos: healed; waiting for the cluster to settle");
    let settled = reader.settle(&lab.started.cluster).await;
    let cache_live = if lab.started.cluster.cache.enabled {
        eprintln!("pygmy chaos: checking that every frontend's cache serves hits again");
        let books: Vec<u64> = initial_stock.keys().copied().collect();
        let live = liveness::check_cache_live(
            &workload.http,
            &lab.started.frontends,
            &books,
            lab.started.cluster.cache.lease,
        )
        .await;
        Some(live.map_err(|e| format!("{e:#}")))
    } else {
        None
    };
    let state = reader
        .collect(&lab.started.cluster, &lab.started.logs_dir())
        .await?;
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
        initial_stock,
        orders_before,
        state,
        settled: settled.err().map(|e| format!("{e:#}")),
        cache_live,
        search_states_max: args.search_states_max,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_fault_lists_are_checked_when_parsed() {
        let ms = Duration::from_millis;
        assert_eq!(parse_interval("1s..6s"), Ok((ms(1000), ms(6000))));
        assert_eq!(parse_interval("500ms..500ms"), Ok((ms(500), ms(500))));
        for bad in ["6s..1s", "0s..1s", "1s", "1s..x"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        let faults = parse_faults("kill, frontend").unwrap().0;
        assert_eq!(faults, [FaultKind::Kill, FaultKind::KillFrontend]);
        assert!(parse_faults("").unwrap().0.is_empty(), "no faults at all");
        assert!(parse_faults("kill,flood").is_err());
    }
}
