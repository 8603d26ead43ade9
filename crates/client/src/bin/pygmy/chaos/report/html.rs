//! The `--html` report (#16): one self-contained HTML file per run, opened with nothing but a
//! browser. It holds the verdict, the command that replays the run, each check with its
//! evidence (the operations a violation names), the faults, the timeline plot inline, the
//! operations by outcome, and every book's history in a section that expands. No script, no
//! asset from elsewhere: what it shows is HTML and CSS, and every string in it is escaped.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use check::{CheckStatus, Op, OpKind, Outcome};
use plotters::style::RGBColor;

use super::{operation_counts, RunResult};

/// Operations shown as one check's evidence; the rest are counted.
const EVIDENCE_OPS_MAX: usize = 200;
/// Operations shown in one book's history; the rest are counted.
const BOOK_OPS_MAX: usize = 5_000;

/// Writes the report of `result` to `path`; `command` is the command line that ran it.
///
/// # Errors
/// The plot cannot be drawn or the file cannot be written.
pub(crate) fn write(path: &Path, result: &RunResult, command: &str) -> Result<()> {
    let html = render(result, command)?;
    std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))
}

/// The report as one HTML document.
///
/// # Errors
/// The plot cannot be drawn.
pub(crate) fn render(result: &RunResult, command: &str) -> Result<String> {
    let mut page = String::with_capacity(64 * 1024);
    let verdict = if result.passed { "passed" } else { "FAILED" };
    let _ = writeln!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Pygmy chaos run, seed {seed}: {verdict}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n<h1>Pygmy chaos run: <span class=\"{class}\">{mark} {verdict}</span></h1>",
        seed = result.seed,
        class = if result.passed { "passed" } else { "failed" },
        mark = if result.passed { "✔" } else { "✖" },
    );
    summary(&mut page, result, command);
    checks(&mut page, result);
    timeline(&mut page, result)?;
    faults(&mut page, result);
    operations(&mut page, result);
    books(&mut page, result);
    let _ = writeln!(
        page,
        "<footer>pygmy {} · every time is seconds after the workload started</footer>\n\
         </body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    Ok(page)
}

/// The run's parameters, its figures and the command that replays it.
fn summary(page: &mut String, r: &RunResult, command: &str) {
    let fired = r.faults.iter().filter(|e| e.skipped.is_none()).count();
    let longest = r
        .timeline
        .longest_unavailability_ms()
        .map_or("-".into(), |g| format!("{:.2} s", g / 1000.0));
    let replay = replay_command(command, r.seed);
    let _ = writeln!(
        page,
        "<section id=\"run\"><h2>Run</h2><dl>\
         <dt>seed</dt><dd>{}</dd><dt>clients</dt><dd>{}</dd>\
         <dt>duration</dt><dd>{:.0} s</dd><dt>--max-down</dt><dd>{}</dd>\
         <dt>operations</dt><dd>{}</dd><dt>faults</dt><dd>{fired} injected, {} skipped</dd>\
         <dt>longest write unavailability</dt><dd>{}</dd>\
         <dt>successful operations</dt><dd>{:.1} per second</dd>\
         <dt>orders at the end</dt><dd>{}</dd></dl>\
         <p>Replay this run (same seed, same schedule of faults):</p><pre>{}</pre></section>",
        r.seed,
        r.clients,
        r.duration_ms / 1000.0,
        escape(&r.max_down.to_string()),
        r.history.len(),
        r.faults.len() - fired,
        escape(&longest),
        r.timeline.ok_per_second,
        r.final_orders,
        escape(&replay),
    );
    if let Some(why) = &r.not_settled {
        let _ = writeln!(
            page,
            "<p class=\"failed\">✖ The cluster did not settle: {}</p>",
            escape(why)
        );
    }
}

/// `command` with `--seed` set to `seed`, so that it replays the run even if it drew a seed.
fn replay_command(command: &str, seed: u64) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len() + 2);
    let mut skip_next = false;
    for word in &words {
        if skip_next {
            skip_next = false;
            continue;
        }
        if *word == "--seed" {
            skip_next = true;
            continue;
        }
        if word.starts_with("--seed=") {
            continue;
        }
        out.push((*word).to_string());
    }
    out.push(format!("--seed {seed}"));
    out.join(" ")
}

/// Every check: verdict, what it found, and for a check that did not pass the operations it
/// names.
fn checks(page: &mut String, r: &RunResult) {
    let by_id: HashMap<u64, &Op> = r.history.iter().map(|op| (op.id, op)).collect();
    page.push_str(
        "<section id=\"checks\"><h2>Checks</h2><table><thead><tr><th>check</th><th>verdict</th>\
         <th>what it found</th></tr></thead><tbody>\n",
    );
    for c in &r.checks.checks {
        let (class, mark, word) = match c.status {
            CheckStatus::Passed => ("passed", "✔", "passed"),
            CheckStatus::Inconclusive => ("inconclusive", "?", "inconclusive"),
            CheckStatus::Failed => ("failed", "✖", "failed"),
        };
        let _ = write!(
            page,
            "<tr id=\"check-{name}\"><td><code>{name}</code></td>\
             <td class=\"{class}\">{mark} {word}</td><td>",
            name = escape(&c.name)
        );
        let mut details = c.details.iter();
        if let Some(first) = details.next() {
            page.push_str(&escape(first));
        }
        let rest: Vec<&String> = details.collect();
        if !rest.is_empty() {
            let _ = write!(page, "<details><summary>{} more</summary><ul>", rest.len());
            for d in rest {
                let _ = write!(page, "<li>{}</li>", escape(d));
            }
            page.push_str("</ul></details>");
        }
        if c.status != CheckStatus::Passed && !c.ops.is_empty() {
            let _ = write!(
                page,
                "<details open><summary>the {} operation(s) involved</summary>",
                c.ops.len()
            );
            let ops: Vec<&Op> = c
                .ops
                .iter()
                .take(EVIDENCE_OPS_MAX)
                .filter_map(|id| by_id.get(id).copied())
                .collect();
            op_table(page, &ops, c.ops.len());
            page.push_str("</details>");
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</tbody></table></section>\n");
}

/// The throughput and latency plot, inline.
fn timeline(page: &mut String, r: &RunResult) -> Result<()> {
    let svg = super::plot::render(&r.timeline, &r.faults)?;
    // The SVG element only: an XML declaration has no place inside an HTML document.
    let start = svg.find("<svg").unwrap_or(0);
    page.push_str(
        "<section id=\"timeline\"><h2>Timeline</h2><p>Successful and failed operations per second, and \
         latency percentiles, over the run; a vertical line marks each fault as it fired.</p>\
         <div class=\"plot\" role=\"img\" aria-label=\"operations per second and latency over \
         time, with faults marked\">",
    );
    page.push_str(&svg[start..]);
    page.push_str("</div><ul class=\"legend\">");
    for (RGBColor(r, g, b), what) in super::plot::LEGEND {
        let _ = write!(
            page,
            "<li><span class=\"swatch\" style=\"background:#{r:02X}{g:02X}{b:02X}\"></span>\
             {what}</li>"
        );
    }
    page.push_str("</ul></section>\n");
    Ok(())
}

/// Every fault: when, what, how long, how long until writes were answered again.
fn faults(page: &mut String, r: &RunResult) {
    page.push_str(
        "<section id=\"faults\"><h2>Faults</h2><table><thead><tr><th>at</th><th>fault</th><th>down for</th>\
         <th>writes back after</th><th>leader after</th></tr></thead><tbody>\n",
    );
    let mut gaps = r.timeline.unavailability.iter();
    for e in &r.faults {
        if let Some(why) = &e.skipped {
            let _ = writeln!(
                page,
                "<tr class=\"skipped\"><td>{:.1}</td><td>{} (skipped: {})</td>\
                 <td>-</td><td>-</td><td>-</td></tr>",
                e.at_ms / 1000.0,
                escape(&e.describe()),
                escape(why)
            );
            continue;
        }
        let down = e
            .healed_at_ms
            .map_or("-".into(), |h| format!("{:.1} s", (h - e.at_ms) / 1000.0));
        let gap = gaps.next().and_then(|u| u.gap_ms).map_or_else(
            || "no write after".to_string(),
            |g| format!("{:.2} s", g / 1000.0),
        );
        let _ = writeln!(
            page,
            "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.at_ms / 1000.0,
            escape(&e.describe()),
            down,
            escape(&gap),
            escape(e.leader_after.as_deref().unwrap_or("")),
        );
    }
    page.push_str("</tbody></table></section>\n");
}

/// Operations by kind and outcome, as the terminal summary counts them.
fn operations(page: &mut String, r: &RunResult) {
    page.push_str(
        "<section id=\"operations\"><h2>Operations</h2><table><thead><tr><th>kind</th><th>ok</th>\
         <th>refused or missing</th><th>failed (nothing applied)</th>\
         <th>unknown (may have applied)</th></tr></thead><tbody>\n",
    );
    for (kind, counts) in operation_counts(&r.history) {
        let _ = write!(page, "<tr><td>{kind}</td>");
        for count in counts {
            let _ = write!(page, "<td class=\"num\">{count}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table></section>\n");
}

/// Each book's history, and the order reads, each in a section that expands.
fn books(page: &mut String, r: &RunResult) {
    let mut by_item: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    let mut order_reads = Vec::new();
    for op in &r.history {
        match op.item() {
            Some(item) => by_item.entry(item).or_default().push(op),
            None => order_reads.push(op),
        }
    }
    page.push_str("<section id=\"histories\"><h2>Histories</h2>\n");
    for (item, ops) in &by_item {
        let initial = r.initial_stock.get(item).map_or("-".into(), u64::to_string);
        let finals: Vec<String> = r
            .final_stock
            .iter()
            .map(|(replica, stock)| {
                let s = stock.get(item).map_or("-".into(), u64::to_string);
                format!("catalog-{replica}: {s}")
            })
            .collect();
        let _ = write!(
            page,
            "<details id=\"book-{item}\"><summary>book {item}: {} operations; stock {} at the \
             start, at the end {}</summary>",
            ops.len(),
            initial,
            escape(&finals.join(", "))
        );
        op_table(page, &ops[..ops.len().min(BOOK_OPS_MAX)], ops.len());
        page.push_str("</details>\n");
    }
    if !order_reads.is_empty() {
        let _ = write!(
            page,
            "<details id=\"order-reads\"><summary>order reads: {} operations</summary>",
            order_reads.len()
        );
        op_table(
            page,
            &order_reads[..order_reads.len().min(BOOK_OPS_MAX)],
            order_reads.len(),
        );
        page.push_str("</details>\n");
    }
    page.push_str("</section>\n");
}

/// A table of `ops`, noting how many of `total` it leaves out.
fn op_table(page: &mut String, ops: &[&Op], total: usize) {
    page.push_str(
        "<table class=\"ops\"><thead><tr><th>op</th><th>client</th><th>invoked</th>\
         <th>answered</th><th>asked</th><th>outcome</th></tr></thead><tbody>",
    );
    for op in ops {
        let answered = op
            .complete_ns
            .map_or("never".into(), |ns| format!("{:.3}", ns as f64 / 1e9));
        let (class, outcome) = outcome(&op.outcome);
        let _ = write!(
            page,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            op.id,
            op.process,
            op.invoke_ns as f64 / 1e9,
            answered,
            escape(&asked(&op.kind)),
            escape(&outcome),
        );
    }
    page.push_str("</tbody></table>");
    if total > ops.len() {
        let _ = write!(page, "<p>{} more not shown.</p>", total - ops.len());
    }
}

/// What an operation asked, in words.
fn asked(kind: &OpKind) -> String {
    match kind {
        OpKind::Read { item } => format!("read book {item}"),
        OpKind::Buy {
            item,
            quantity,
            key,
        } => format!("buy {quantity} of book {item} (key {key})"),
        OpKind::Restock { item, delta } => format!("restock book {item} by {delta:+}"),
        OpKind::ReadOrder { number } => format!("read order {number}"),
    }
}

/// What an operation learnt, in words, with its class for the page's colours and marks.
fn outcome(outcome: &Outcome) -> (&'static str, String) {
    match outcome {
        Outcome::ReadStock { stock } => ("ok", format!("stock {stock}")),
        Outcome::Bought { order } => ("ok", format!("bought: order {}", order.number)),
        Outcome::Refused => ("refused", "refused: out of stock".into()),
        Outcome::Restocked { stock_after } => ("ok", format!("restocked: stock {stock_after}")),
        Outcome::OrderSeen { order } => (
            "ok",
            format!(
                "order {}: {} of book {}",
                order.number, order.quantity, order.item
            ),
        ),
        Outcome::OrderMissing => ("refused", "no such order".into()),
        Outcome::Failed { code } => ("failed", format!("failed ({code}): nothing applied")),
        Outcome::Unknown { reason } => ("unknown", format!("unknown ({reason})")),
    }
}

/// `text` with the five characters HTML gives meaning escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's style: readable on a narrow screen, and every verdict marked by a symbol and a
/// word as well as by its colour (Okabe-Ito: blue for passed, vermillion for failed).
const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 1rem auto; max-width: 80rem;
       padding: 0 1rem; color: #111; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passed, .ok { color: #0072B2; } .failed { color: #D55E00; font-weight: bold; }
.inconclusive, .unknown { color: #8a6d00; } .refused { color: #555; }
tr.skipped { color: #777; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { color: #555; } dd { margin: 0; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; }
details { margin: 0.3rem 0; } summary { cursor: pointer; }
.plot svg { max-width: 100%; height: auto; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; }
.swatch { display: inline-block; width: 1.5rem; height: 0.25rem; margin-right: 0.4rem;
          vertical-align: middle; }
footer { margin-top: 2rem; color: #666; font-size: 0.85rem; }
";
