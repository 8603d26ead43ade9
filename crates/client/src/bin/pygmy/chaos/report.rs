//! What a chaos run found: the checks run on its history and final state, printed as a table,
//! written as JSON, drawn as SVG.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use check::{check_all, CheckInput, CheckLimits, CheckReport, CheckStatus, Op, OpKind, Outcome};
use client::chaos::timeline::Sample;
use client::chaos::{FaultScope, MaxDown, Schedule, Timeline, Write};
use serde::Serialize;

use crate::chaos::collect::FinalState;
use crate::chaos::event::FaultEvent;
use crate::chaos::workload::{ReadServed, Tallies, Tally};
use crate::output::{Align, Table};

mod html;
mod partitions;
mod plot;

/// Everything a run produced, before checking.
pub(crate) struct RunFacts {
    /// The seed of the schedule and the clients' draws.
    pub(crate) seed: u64,
    /// The arguments, as given.
    pub(crate) args_summary: String,
    /// `--max-down`.
    pub(crate) max_down: MaxDown,
    /// Concurrent clients.
    pub(crate) clients: u64,
    /// How long the clients and the nemesis were to run.
    pub(crate) duration_ms: f64,
    /// How long they ran, healing included.
    pub(crate) elapsed_ms: f64,
    /// The drawn fault schedule.
    pub(crate) schedule: Schedule,
    /// The faults as they happened.
    pub(crate) events: Vec<FaultEvent>,
    /// Every operation of the clients.
    pub(crate) history: Vec<Op>,
    /// How each read of the history was served (frontend, cache hit or miss, index).
    pub(crate) reads_served: Vec<ReadServed>,
    /// Stock of each book when the history began.
    pub(crate) initial_stock: BTreeMap<u64, u64>,
    /// Orders already in the log before the run (a kept `--data` directory).
    pub(crate) orders_before: u64,
    /// Every replica's final state.
    pub(crate) state: FinalState,
    /// Why the cluster did not settle, if it did not.
    pub(crate) settled: Option<String>,
    /// Whether every frontend's cache served hits again after healing (`None`: no cache).
    pub(crate) cache_live: Option<Result<String, String>>,
    /// The frontends' cache lease.
    pub(crate) lease: Duration,
    /// Most states the linearizability search explores per book.
    pub(crate) search_states_max: u64,
}

/// The full result, as written to `--report`.
#[derive(Serialize)]
pub(crate) struct RunResult {
    seed: u64,
    arguments: String,
    max_down: MaxDown,
    clients: u64,
    duration_ms: f64,
    passed: bool,
    checks: CheckReport,
    not_settled: Option<String>,
    faults: Vec<FaultEvent>,
    schedule: Schedule,
    timeline: Timeline,
    initial_stock: BTreeMap<u64, u64>,
    final_stock: Vec<(u64, BTreeMap<u64, u64>)>,
    final_orders: usize,
    history: Vec<Op>,
    reads_served: Vec<ReadServed>,
}

impl RunResult {
    /// How many checks did not pass (failed or inconclusive): the run fails if any.
    pub(crate) fn failed(&self) -> usize {
        self.checks
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Passed)
            .count()
    }

    /// Runs every check on `facts`.
    pub(crate) fn check(facts: RunFacts) -> RunResult {
        let input = CheckInput {
            history: facts.history,
            initial_stock: facts.initial_stock,
            order_logs: facts.state.order_logs,
            catalog_stock: facts.state.catalog_stock,
            digests: facts.state.digests,
            panics: facts.state.panics,
            orders_before: facts.orders_before,
        };
        let limits = CheckLimits {
            search_states_per_item_max: facts.search_states_max,
            ..CheckLimits::default()
        };
        let mut checks = check_all(&input, &limits);
        if let Some(why) = &facts.settled {
            checks.checks.push(check::CheckResult {
                name: "cluster_settled".into(),
                status: CheckStatus::Failed,
                details: vec![why.clone()],
                ops: Vec::new(),
            });
        }
        if let Some(live) = &facts.cache_live {
            let (status, detail) = match live {
                Ok(held) => (CheckStatus::Passed, held),
                Err(why) => (CheckStatus::Failed, why),
            };
            checks.checks.push(check::CheckResult {
                name: "cache_live".into(),
                status,
                details: vec![detail.clone()],
                ops: Vec::new(),
            });
        }
        checks
            .checks
            .extend(partitions::lease_check(&facts.events, facts.lease));
        let samples: Vec<Sample> = input.history.iter().map(sample).collect();
        let faults: Vec<(f64, String, FaultScope)> = facts
            .events
            .iter()
            .filter(|e| e.skipped.is_none())
            .map(|e| (e.at_ms, e.describe(), e.scope()))
            .collect();
        let timeline = Timeline::build(&samples, &faults, facts.elapsed_ms.max(facts.duration_ms));
        RunResult {
            seed: facts.seed,
            arguments: facts.args_summary,
            max_down: facts.max_down,
            clients: facts.clients,
            duration_ms: facts.duration_ms,
            passed: checks.passed(),
            checks,
            not_settled: facts.settled,
            faults: facts.events,
            schedule: facts.schedule,
            timeline,
            initial_stock: input.initial_stock,
            final_stock: input.catalog_stock,
            final_orders: input.order_logs.first().map_or(0, |(_, o)| o.len()),
            history: input.history,
            reads_served: facts.reads_served,
        }
    }
}

/// One operation as the timeline sees it: when, whether it succeeded, which write it was.
fn sample(op: &Op) -> Sample {
    let ms = |ns: u64| ns as f64 / 1e6;
    let ok = matches!(
        op.outcome,
        Outcome::ReadStock { .. }
            | Outcome::Bought { .. }
            | Outcome::Refused
            | Outcome::Restocked { .. }
            | Outcome::OrderSeen { .. }
            | Outcome::OrderMissing
    );
    Sample {
        invoke_ms: ms(op.invoke_ns),
        complete_ms: op.complete_ns.map(ms),
        ok,
        write: match op.kind {
            OpKind::Buy { .. } => Some(Write::Buy),
            OpKind::Restock { .. } => Some(Write::Restock),
            _ => None,
        },
    }
}

/// Where [`emit`] writes the result besides stdout (`--report`, `--plot`, `--html`).
pub(crate) struct Outputs<'a> {
    /// The JSON result.
    pub(crate) report: Option<&'a Path>,
    /// The SVG plot.
    pub(crate) plot: Option<&'a Path>,
    /// The HTML report.
    pub(crate) html: Option<&'a Path>,
}

/// Prints the summary, writes the JSON, the plot and the HTML report; the number of checks
/// that did not pass.
///
/// # Errors
/// A file cannot be written.
pub(crate) fn emit(result: &RunResult, outputs: &Outputs<'_>, json: bool) -> Result<usize> {
    let mut out = std::io::stdout().lock();
    if json {
        crate::output::json(&mut out, result)?;
    } else {
        summary(&mut out, result)?;
    }
    if let Some(path) = outputs.report {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        serde_json::to_writer(std::io::BufWriter::new(file), result)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("pygmy chaos: report written to {}", path.display());
    }
    if let Some(path) = outputs.plot {
        plot::draw(path, &result.timeline, &result.faults)?;
        eprintln!("pygmy chaos: plot written to {}", path.display());
    }
    if let Some(path) = outputs.html {
        let command: Vec<String> = std::env::args().collect();
        html::write(path, result, &command.join(" "))?;
        eprintln!("pygmy chaos: HTML report written to {}", path.display());
    }
    Ok(result.failed())
}

/// The human summary: operations, faults, checks, verdict.
fn summary(out: &mut dyn std::io::Write, r: &RunResult) -> std::io::Result<()> {
    writeln!(
        out,
        "pygmy chaos: seed {}, {} clients, {:.0} s, --max-down {}",
        r.seed,
        r.clients,
        r.duration_ms / 1000.0,
        r.max_down
    )?;
    writeln!(out, "\noperations")?;
    operations_table(&r.history).write(out)?;
    writeln!(out, "\nfaults")?;
    let mut t = Table::new(&[
        ("at", Align::Right),
        ("fault", Align::Left),
        ("down for", Align::Right),
        ("writes back after", Align::Right),
        ("leader after", Align::Left),
    ]);
    for (e, u) in r
        .faults
        .iter()
        .filter(|e| e.skipped.is_none())
        .zip(&r.timeline.unavailability)
    {
        let down = e
            .healed_at_ms
            .map_or("-".into(), |h| format!("{:.1}s", (h - e.at_ms) / 1000.0));
        let gap = u
            .gap_ms
            .map_or("no write after".into(), |g| format!("{:.2}s", g / 1000.0));
        t.row(vec![
            format!("{:.1}s", e.at_ms / 1000.0),
            e.describe(),
            down,
            gap,
            e.leader_after.clone().unwrap_or_default(),
        ]);
    }
    t.write(out)?;
    let skipped = r.faults.iter().filter(|e| e.skipped.is_some()).count();
    let longest = r
        .timeline
        .longest_unavailability_ms()
        .map_or("-".into(), |g| format!("{:.2}s", g / 1000.0));
    writeln!(out, "{} faults injected, {skipped} skipped (limit of --max-down); longest write unavailability {longest}; {:.1} ok ops/s", r.faults.len() - skipped, r.timeline.ok_per_second)?;
    let samples: Vec<Sample> = r.history.iter().map(sample).collect();
    let leaders = partitions::leader_partitions(&r.faults, &samples);
    if leaders.count > 0 {
        let slowest = leaders.failovers_ms.iter().copied().reduce(f64::max);
        writeln!(
            out,
            "{} partition(s) cut a leader off from its group; in {} of them the rest elected another leader, which answered a write sent after the cut before the cut healed (at the latest {} after the cut)",
            leaders.count,
            leaders.failovers_ms.len(),
            slowest.map_or("-".into(), |ms| format!("{:.2}s", ms / 1000.0))
        )?;
    }
    writeln!(out, "\nchecks")?;
    let mut t = Table::new(&[
        ("check", Align::Left),
        ("result", Align::Left),
        ("details", Align::Left),
    ]);
    for c in &r.checks.checks {
        let status = format!("{:?}", c.status).to_lowercase();
        t.row(vec![
            c.name.clone(),
            status,
            c.details.first().cloned().unwrap_or_default(),
        ]);
    }
    t.write(out)?;
    for c in r
        .checks
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
    {
        for d in c.details.iter().skip(1).take(20) {
            writeln!(out, "  {}: {d}", c.name)?;
        }
    }
    writeln!(
        out,
        "\n{}",
        if r.passed {
            "every check passed"
        } else {
            "SOME CHECKS FAILED"
        }
    )
}

/// Operations by kind, counted by [`Tally`].
fn operation_counts(history: &[Op]) -> BTreeMap<&'static str, Tallies> {
    let mut counts: BTreeMap<&str, Tallies> = BTreeMap::new();
    for op in history {
        let kind = match op.kind {
            OpKind::Read { .. } => "read stock",
            OpKind::Buy { .. } => "buy",
            OpKind::Restock { .. } => "restock",
            OpKind::ReadOrder { .. } => "read order",
        };
        counts.entry(kind).or_default()[Tally::of(&op.outcome) as usize] += 1;
    }
    counts
}

/// Operations by kind and outcome.
fn operations_table(history: &[Op]) -> Table {
    let counts = operation_counts(history);
    let cols = [
        ("kind", Align::Left),
        ("ok", Align::Right),
        ("refused/missing", Align::Right),
        ("failed", Align::Right),
        ("unknown", Align::Right),
    ];
    let mut t = Table::new(&cols);
    for (kind, c) in counts {
        t.row(
            std::iter::once(kind.to_string())
                .chain(c.iter().map(u64::to_string))
                .collect(),
        );
    }
    t
}

#[cfg(test)]
mod tests;
