//! What `pygmy` prints on stdout: aligned tables for people, JSON for scripts (`--json`).
//!
//! Every printer writes to the given writer and returns its I/O error, so that a closed pipe
//! (`pygmy search | head -1`) ends the program quietly instead of panicking as `println!` does.

use std::io::{self, Write};

use api::{Book, ClusterView, Order, ReplicaRole};
use serde::Serialize;

/// Length of the digest prefix shown in the cluster table.
const DIGEST_CHARS_SHOWN: usize = 12;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table of text cells, columns as wide as their widest cell, two spaces apart.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and alignments.
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Table {
        Table::with_headers(columns.iter().map(|(h, a)| (h.to_string(), *a)).collect())
    }

    /// A table whose headers are known only at run time (the fields of decoded values).
    pub(crate) fn with_headers(columns: Vec<(String, Align)>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it has one cell per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// Writes the header line and every row.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let headers: Vec<String> = self.columns.iter().map(|(h, _)| h.clone()).collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                match self.columns[i].1 {
                    Align::Left => line.push_str(&format!("{cell}{pad}  ")),
                    Align::Right => line.push_str(&format!("{pad}{cell}  ")),
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `value` as pretty JSON and a newline.
pub(crate) fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Prints `value` on stdout: as JSON with `--json`, else as `table` draws it.
pub(crate) fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    table: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
) -> anyhow::Result<()> {
    let out = &mut io::stdout().lock();
    if json {
        self::json(out, value)?;
    } else {
        table(out, value)?;
    }
    out.flush()?;
    Ok(())
}

/// Books as a table, or a line saying there are none.
pub(crate) fn books(out: &mut dyn Write, books: &[Book]) -> io::Result<()> {
    if books.is_empty() {
        return writeln!(out, "no books found");
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("TITLE", Align::Left),
        ("TOPIC", Align::Left),
        ("COST", Align::Right),
        ("STOCK", Align::Right),
    ]);
    for b in books {
        let cells = [b.id.to_string(), b.title.clone(), b.topic.clone()];
        table.row([&cells[..], &[b.cost.to_string(), b.stock.to_string()]].concat());
    }
    table.write(out)
}

/// One order as a table.
pub(crate) fn order(out: &mut dyn Write, order: &Order) -> io::Result<()> {
    let mut table = Table::new(&[
        ("ORDER", Align::Right),
        ("ITEM", Align::Right),
        ("TITLE", Align::Left),
        ("QUANTITY", Align::Right),
        ("COST", Align::Right),
        ("STATUS", Align::Left),
    ]);
    table.row(vec![
        order.number.to_string(),
        order.item.to_string(),
        order.title.clone(),
        order.quantity.to_string(),
        order.cost.to_string(),
        wire_name(&order.status),
    ]);
    table.write(out)
}

/// One line per group (leader, term), then a table of every replica.
pub(crate) fn cluster(out: &mut dyn Write, view: &ClusterView) -> io::Result<()> {
    for g in &view.groups {
        let leader = g
            .leader
            .map_or("no leader".into(), |id| format!("leader {id}"));
        writeln!(out, "{}: {leader}, term {}", g.name, g.term)?;
    }
    let mut table = Table::new(&[
        ("GROUP", Align::Left),
        ("REPLICA", Align::Right),
        ("ADDR", Align::Left),
        ("HEALTHY", Align::Left),
        ("ROLE", Align::Left),
        ("LEADER", Align::Right),
        ("TERM", Align::Right),
        ("LAST_APPLIED", Align::Right),
        ("DIGEST", Align::Left),
    ]);
    for g in &view.groups {
        for r in &g.replicas {
            let mut cells = vec![g.name.clone(), r.id.to_string(), r.addr.clone()];
            cells.push(if r.healthy { "yes" } else { "no" }.into());
            cells.extend(match &r.status {
                None => vec!["-".into(); 5],
                Some(s) => vec![
                    role_name(s.role).into(),
                    s.leader.map_or("-".into(), |id| id.to_string()),
                    s.term.to_string(),
                    s.last_applied.to_string(),
                    s.digest.chars().take(DIGEST_CHARS_SHOWN).collect(),
                ],
            });
            table.row(cells);
        }
    }
    writeln!(out)?;
    table.write(out)?;
    writeln!(out)?;
    match &view.cache {
        None => writeln!(out, "cache: off (--no-cache)"),
        Some(c) => writeln!(
            out,
            "cache: {} of {} entries, {} hits, {} misses, {} invalidations, {} evictions, {} refused stale inserts; lease {} (term {}, session {})",
            c.entries,
            c.capacity,
            c.hits,
            c.misses,
            c.invalidations,
            c.evictions,
            c.refused_stale_inserts,
            if c.lease_held { "held" } else { "not held" },
            c.term,
            c.session
        ),
    }
}

/// The wire (snake_case) name of a replica role.
fn role_name(role: ReplicaRole) -> &'static str {
    match role {
        ReplicaRole::Leader => "leader",
        ReplicaRole::Follower => "follower",
        ReplicaRole::Candidate => "candidate",
        ReplicaRole::Learner => "learner",
        ReplicaRole::Shutdown => "shutdown",
    }
}

/// The JSON string form of a unit enum value, e.g. `committed`.
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_are_aligned() {
        let book = |id: u64, title: &str| Book {
            id,
            title: title.into(),
            topic: "ds".into(),
            cost: 100 * id,
            stock: 5,
        };
        let shown = text(|out| books(out, &[book(1, "RPCs"), book(12, "A longer title")]));
        let expected = "\
ID  TITLE           TOPIC  COST  STOCK
 1  RPCs            ds      100      5
12  A longer title  ds     1200      5
";
        assert_eq!(shown, expected);
        assert_eq!(text(|out| books(out, &[])), "no books found\n");
    }
}
