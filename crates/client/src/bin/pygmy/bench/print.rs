//! `pygmy bench`'s tables: the report (a summary line, the request kinds, the errors, the
//! tiers) and the checkpoints of `--checkpoint-every`.

use std::io::Write;

use client::bench::{Checkpoint, Op, Report, STATUS_GETS_PER_CHECKPOINT};

use crate::output::{Align, Table};

/// The report as tables: a summary line, one row per request kind and one for all of them,
/// the errors by kind, and the time spent per tier.
pub(super) fn print_report(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let run = &report.run;
    let cut = if run.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    writeln!(
        out,
        "op {}, concurrency {}: {} requests in {:.2} s, {:.1} req/s{cut}\n",
        run.op.name(),
        run.concurrency,
        report.requests,
        report.elapsed_s,
        report.throughput_rps
    )?;
    let mut table = Table::new(&[
        ("KIND", Align::Left),
        ("COUNT", Align::Right),
        ("OK", Align::Right),
        ("OUT_OF_STOCK", Align::Right),
        ("ERRORS", Align::Right),
        ("REQ/S", Align::Right),
        ("P50_MS", Align::Right),
        ("P90_MS", Align::Right),
        ("P99_MS", Align::Right),
        ("P99.9_MS", Align::Right),
        ("MAX_MS", Align::Right),
    ]);
    let mut errors = Vec::new();
    for k in report.kinds.iter().chain(std::iter::once(&report.total)) {
        let l = &k.latency_ms;
        let counts = [k.count, k.ok, k.out_of_stock, k.errors].map(|n| n.to_string());
        let rate = format!("{:.1}", k.throughput_rps);
        let ms = [l.p50, l.p90, l.p99, l.p999, l.max].map(|v| format!("{v:.3}"));
        table.row([&[k.kind.clone()][..], &counts, &[rate], &ms].concat());
        if k.kind != "all" && k.errors > 0 {
            let list: Vec<String> = k
                .errors_by_kind
                .iter()
                .map(|(e, n)| format!("{e} {n}"))
                .collect();
            errors.push(format!("errors of {}: {}", k.kind, list.join(", ")));
        }
    }
    table.write(out)?;
    for line in errors {
        writeln!(out, "{line}")?;
    }
    if let Some(cpu) = &report.cpu {
        writeln!(
            out,
            "\nCPU of the cluster's {} processes: {:.2} s, {} us per request",
            cpu.processes, cpu.cpu_s, cpu.per_request_us
        )?;
    }
    print_tiers(out, report)
}

/// Time per tier from `Server-Timing`, or a line saying there was none.
fn print_tiers(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    writeln!(out)?;
    if report.tiers.is_empty() {
        return writeln!(out, "no Server-Timing entries were received");
    }
    let mut table = Table::new(&[
        ("TIER", Align::Left),
        ("COUNT", Align::Right),
        ("P50_MS", Align::Right),
        ("P99_MS", Align::Right),
        ("MAX_MS", Align::Right),
    ]);
    for t in &report.tiers {
        let l = &t.latency_ms;
        let ms = [l.p50, l.p99, l.max].map(|v| format!("{v:.3}"));
        table.row([&[t.tier.clone(), t.count.to_string()][..], &ms[..]].concat());
    }
    table.write(out)
}

/// The checkpoints as a table, one row each, with a legend for the replica columns.
pub(super) fn print_checkpoints(
    out: &mut dyn Write,
    checkpoints: &[Checkpoint],
    op: Op,
) -> std::io::Result<()> {
    writeln!(out)?;
    let Some(first) = checkpoints.first() else {
        return writeln!(out, "no checkpoint: the run ended before the first one");
    };
    let count = if op == Op::Buy { "ORDERS" } else { "REQUESTS" };
    let mut columns: Vec<(String, Align)> = [count, "ELAPSED_S", "REQ/S", "P50_MS", "P99_MS"]
        .into_iter()
        .chain(["ERRORS", "CPU_US/REQ"])
        .map(|h| (h.to_string(), Align::Right))
        .collect();
    for unit in ["MS", "MIB"] {
        for replica in &first.replicas {
            columns.push((format!("{}_{unit}", short(&replica.replica)), Align::Right));
        }
    }
    let mut table = Table::with_headers(columns);
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    for c in checkpoints {
        let mut row = vec![
            c.requests.to_string(),
            format!("{:.1}", c.elapsed_s),
            format!("{:.1}", c.throughput_rps),
            format!("{:.3}", c.latency_ms.p50),
            format!("{:.3}", c.latency_ms.p99),
            c.errors.to_string(),
            or_dash(c.cpu_per_request_us.map(|us| us.to_string())),
        ];
        row.extend(
            c.replicas
                .iter()
                .map(|r| or_dash(r.status_ms.map(|ms| format!("{ms:.3}")))),
        );
        row.extend(
            c.replicas
                .iter()
                .map(|r| or_dash(r.rss_mib.map(|mib| format!("{mib:.1}")))),
        );
        table.row(row);
    }
    table.write(out)?;
    writeln!(
        out,
        "per window of its own requests; C1 = catalog-1, O1 = orders-1, ...: _MS the median of \
         {STATUS_GETS_PER_CHECKPOINT} GET /status, _MIB resident memory (VmRSS); - not measured"
    )
}

/// `catalog-1` -> `C1`, `orders-2` -> `O2`.
fn short(replica: &str) -> String {
    let initial = replica.chars().next().unwrap_or('?').to_ascii_uppercase();
    let id = replica.rsplit_once('-').map_or("", |(_, id)| id);
    format!("{initial}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_columns_are_named_by_group_initial_and_id() {
        assert_eq!(short("catalog-1"), "C1");
        assert_eq!(short("orders-3"), "O3");
    }
}
