//! `pygmy inspect verify DIR`: each replica's invariants, then, across the replicas of a data
//! directory, agreement within each group and the checks that need both groups.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use catalog_svc::CatalogMachine;
use order_svc::inspect::{check_against_catalog, CROSS_CHECKS};
use order_svc::OrderMachine;
use runtime::GroupName;
use serde::Serialize;
use storage::offline::{InspectMachine, Report, Skipped, Violation};
use storage::ServiceMachine;

use super::{by_group, open, replica_dirs, Found, Opened};
use crate::output::{print, Align, Table};

/// Replicas of a group that applied the same entries hold the same state.
const CHECK_AGREE: &str = "replicas at the same applied index have the same state";

/// Everything `verify` found.
#[derive(Debug, Serialize)]
struct Verdict {
    /// Each replica's own checks.
    replicas: Vec<ReplicaVerdict>,
    /// The checks across replicas and groups.
    across: Across,
    /// Number of violations in all.
    violations: usize,
}

/// One replica's checks.
#[derive(Debug, Serialize)]
struct ReplicaVerdict {
    name: String,
    path: PathBuf,
    group: &'static str,
    in_use: bool,
    last_applied: Option<u64>,
    digest: String,
    #[serde(flatten)]
    report: Report,
}

/// The checks across replicas and groups.
#[derive(Debug, Default, Serialize)]
struct Across {
    /// The catalog replica the order replica was checked against (the most advanced).
    catalog: Option<String>,
    /// The order replica checked (the most advanced).
    orders: Option<String>,
    checked: Vec<&'static str>,
    skipped: Vec<Skipped>,
    notes: Vec<String>,
    violations: Vec<Violation>,
    /// Orders whose reservation is still held: allowed, as confirming is best effort.
    held_orders: u64,
}

/// `pygmy inspect verify DIR`.
pub(super) fn run(dir: &Path, json: bool) -> Result<()> {
    let (dirs, _) = replica_dirs(dir)?;
    let mut opened = Vec::new();
    let mut replicas = Vec::new();
    for dir in &dirs {
        let replica = open(dir)?;
        replicas.push(by_group!(replica.group, verify_one(&replica))?);
        opened.push(replica);
    }
    let across = across(&opened, &replicas)?;
    let count = replicas
        .iter()
        .map(|r| r.report.violations.len())
        .sum::<usize>();
    let violations = count + across.violations.len();
    let verdict = Verdict {
        replicas,
        across,
        violations,
    };
    print(json, &verdict, |out, v| write_verdict(out, v))?;
    if violations > 0 {
        return Err(Found(format!("verify found {violations} violation(s)")).into());
    }
    Ok(())
}

fn verify_one<M: InspectMachine>(replica: &Opened) -> Result<ReplicaVerdict> {
    let copy = &replica.copy;
    Ok(ReplicaVerdict {
        name: replica.name(),
        path: copy.source().to_path_buf(),
        group: M::GROUP,
        in_use: copy.in_use(),
        last_applied: copy.last_applied()?,
        digest: copy.digest(M::STATE_TREES)?,
        report: copy.verify::<M>()?,
    })
}

/// Agreement within each group, and the order group checked against the catalog's
/// reservations when both groups are there (the most advanced replica of each).
fn across(opened: &[Opened], replicas: &[ReplicaVerdict]) -> Result<Across> {
    let mut across = Across::default();
    let paired = replicas
        .iter()
        .enumerate()
        .any(|(i, r)| replicas[..i].iter().any(|o| o.group == r.group));
    if paired {
        across.checked.push(CHECK_AGREE);
    } else {
        let reason = "needs two replicas of a group: give the data directory holding them".into();
        across.skipped.push(Skipped {
            check: CHECK_AGREE,
            reason,
        });
    }
    for (i, r) in replicas.iter().enumerate() {
        let same = replicas[..i]
            .iter()
            .find(|o| o.group == r.group && o.last_applied == r.last_applied);
        if let Some(other) = same.filter(|o| o.digest != r.digest) {
            let applied = r.last_applied.map_or("none".into(), |i| i.to_string());
            let problem = format!(
                "at applied index {applied} its state differs from {}'s (`pygmy inspect diff` \
                 shows how)",
                other.name
            );
            across
                .violations
                .push(Violation::new(CHECK_AGREE, &r.name, problem));
        }
    }
    let most_advanced = |group: GroupName| {
        let pairs = opened.iter().zip(replicas);
        let of_group = pairs.filter(|(o, _)| o.group == group);
        of_group.max_by_key(|(_, r)| r.last_applied).map(|(o, _)| o)
    };
    let (Some(catalog), Some(orders)) = (
        most_advanced(GroupName::Catalog),
        most_advanced(GroupName::Orders),
    ) else {
        let reason = "needs replicas of both groups: give the data directory holding them";
        for &check in CROSS_CHECKS {
            let reason = reason.to_string();
            across.skipped.push(Skipped { check, reason });
        }
        return Ok(across);
    };
    let reservations =
        catalog_svc::inspect::reservations(&catalog.copy.image(CatalogMachine::STATE_TREES)?);
    let checked = check_against_catalog(
        &orders.copy.image(OrderMachine::STATE_TREES)?,
        &reservations,
    );
    across.checked.extend(CROSS_CHECKS);
    across.notes.push(format!(
        "{} checked against {}: both groups must have caught up (stopped after converging), else \
         a lagging replica shows violations that are not",
        orders.name(),
        catalog.name()
    ));
    across.violations.extend(checked.violations);
    across.held_orders = checked.held_orders;
    (across.catalog, across.orders) = (Some(catalog.name()), Some(orders.name()));
    Ok(across)
}

fn write_verdict(out: &mut dyn Write, v: &Verdict) -> io::Result<()> {
    let mut table = Table::new(&[
        ("REPLICA", Align::Left),
        ("GROUP", Align::Left),
        ("APPLIED", Align::Right),
        ("CHECKED", Align::Right),
        ("SKIPPED", Align::Right),
        ("VIOLATIONS", Align::Right),
        ("IN USE", Align::Left),
    ]);
    for r in &v.replicas {
        let applied = r.last_applied.map_or("-".into(), |i| i.to_string());
        let counts = [r.report.checked.len(), r.report.skipped.len()];
        let mut cells = vec![r.name.clone(), r.group.into(), applied];
        cells.extend(counts.iter().map(|n| n.to_string()));
        cells.push(r.report.violations.len().to_string());
        cells.push(
            if r.in_use {
                "yes (copy may be mid-write)"
            } else {
                "no"
            }
            .into(),
        );
        table.row(cells);
    }
    table.write(out)?;
    let a = &v.across;
    writeln!(
        out,
        "\nacross replicas: {} checked, {} skipped, {} violations",
        a.checked.len(),
        a.skipped.len(),
        a.violations.len()
    )?;
    if a.orders.is_some() {
        let held = a.held_orders;
        writeln!(
            out,
            "{held} orders' reservations still held (allowed: confirming is best effort)"
        )?;
    }
    write_lists(out, v)?;
    write_violations(out, v)
}

/// The checks run (once each), then what was skipped and noted, by replica.
fn write_lists(out: &mut dyn Write, v: &Verdict) -> io::Result<()> {
    let a = &v.across;
    let own = || v.replicas.iter().map(|r| (r.name.as_str(), &r.report));
    let mut checked: Vec<&str> = Vec::new();
    for check in own().flat_map(|(_, r)| r.checked.iter()).chain(&a.checked) {
        if !checked.contains(check) {
            checked.push(check);
        }
    }
    writeln!(out, "\nchecked:")?;
    for check in checked {
        writeln!(out, "  {check}")?;
    }
    let skipped = own().flat_map(|(n, r)| r.skipped.iter().map(move |s| (n, s)));
    let skipped: Vec<(&str, &Skipped)> = skipped
        .chain(a.skipped.iter().map(|s| ("across", s)))
        .collect();
    if !skipped.is_empty() {
        writeln!(out, "\nskipped:")?;
        for (name, s) in skipped {
            writeln!(out, "  {name}: {} ({})", s.check, s.reason)?;
        }
    }
    let notes = own().flat_map(|(n, r)| r.notes.iter().map(move |s| (n, s)));
    writeln!(out, "\nnotes:")?;
    for (name, note) in notes.chain(a.notes.iter().map(|s| ("across", s))) {
        writeln!(out, "  {name}: {note}")?;
    }
    Ok(())
}

fn write_violations(out: &mut dyn Write, v: &Verdict) -> io::Result<()> {
    if v.violations == 0 {
        return writeln!(out, "\nok: {} replicas, no violation", v.replicas.len());
    }
    let mut table = Table::new(&[
        ("REPLICA", Align::Left),
        ("CHECK", Align::Left),
        ("KEY", Align::Left),
        ("PROBLEM", Align::Left),
    ]);
    let own = v
        .replicas
        .iter()
        .flat_map(|r| r.report.violations.iter().map(|x| (r.name.as_str(), x)));
    for (name, x) in own.chain(v.across.violations.iter().map(|x| ("across", x))) {
        table.row(vec![
            name.into(),
            x.check.into(),
            x.key.clone(),
            x.problem.clone(),
        ]);
    }
    writeln!(out, "\n{} violations:", v.violations)?;
    table.write(out)
}
