//! `pygmy inspect DIR`: one summary per replica; `--tree NAME`: the decoded entries of a tree.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use serde_json::Value;
use storage::db::RAFT_LOG;
use storage::offline::summary::Position;
use storage::offline::{decode_entry, key_kind, Decoded, InspectMachine, ReplicaCopy, Summary};

use super::{by_group, open, replica_dirs};
use crate::output::{print, Align, Table};

/// `pygmy inspect DIR`.
pub(super) fn summaries(dir: &Path, json: bool) -> Result<()> {
    let (dirs, data_dir) = replica_dirs(dir)?;
    let mut all = Vec::new();
    for dir in &dirs {
        let opened = open(dir)?;
        all.push(by_group!(opened.group, summarize(&opened.copy))?);
    }
    if data_dir {
        print(json, &all, |out, all| {
            for (i, s) in all.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write_summary(out, s)?;
            }
            Ok(())
        })
    } else {
        print(json, &all[0], |out, s| write_summary(out, s))
    }
}

fn summarize<M: InspectMachine>(copy: &ReplicaCopy) -> Result<Summary> {
    Ok(copy.summary::<M>()?)
}

fn write_summary(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let name = s
        .replica_id
        .map_or(s.group.clone(), |id| format!("{}-{id}", s.group));
    writeln!(out, "{name} ({})", s.path.display())?;
    let line = |out: &mut dyn Write, label: &str, value: String| {
        writeln!(out, "  {:<14}{value}", format!("{label}:"))
    };
    if s.in_use {
        line(
            out,
            "in use",
            "a running replica holds it: this copy may be mid-write".into(),
        )?;
    }
    let vote = s.vote.as_ref().map_or("no vote".into(), |v| {
        let granted = if v.committed { ", granted" } else { "" };
        format!("{}, voted for {}{granted}", v.term, v.voted_for)
    });
    let cluster = s.cluster_id.clone();
    line(
        out,
        "cluster",
        cluster.unwrap_or_else(|| "no cluster id".into()),
    )?;
    line(out, "term", vote)?;
    line(out, "voters", format!("{:?}", s.voters))?;
    let range = match (s.log.first_index, s.log.last_index) {
        (Some(first), Some(last)) => format!("indexes {first} to {last}"),
        (None, Some(last)) => format!("empty, last index {last}"),
        _ => "empty".into(),
    };
    line(out, "log", format!("{} entries, {range}", s.log.entries))?;
    line(out, "last purged", position(s.last_purged))?;
    line(out, "committed", position(s.committed))?;
    line(out, "last applied", position(s.last_applied))?;
    let snapshot = s.snapshot.as_ref().map_or("none".into(), |snap| {
        let upto = position(snap.last_log);
        format!("{} up to {upto}, {} bytes", snap.id, snap.bytes)
    });
    line(out, "snapshot", snapshot)?;
    line(out, "digest", s.digest.clone())?;
    line(out, "disk", format!("{} bytes", s.disk_bytes))?;
    for problem in &s.unreadable {
        line(out, "unreadable", problem.clone())?;
    }
    let mut table = Table::new(&[
        ("TREE", Align::Left),
        ("ENTRIES", Align::Right),
        ("BYTES", Align::Right),
    ]);
    for t in &s.trees {
        table.row(vec![
            t.name.clone(),
            t.entries.to_string(),
            t.bytes.to_string(),
        ]);
    }
    table.write(out)
}

fn position(p: Option<Position>) -> String {
    p.map_or("none".into(), |p| format!("{} (term {})", p.index, p.term))
}

/// The entries of one tree, decoded.
#[derive(Debug, Serialize)]
struct TreeView {
    /// The replica directory.
    replica: String,
    /// Group name.
    group: &'static str,
    /// Tree name.
    tree: String,
    /// The entries shown.
    entries: Vec<EntryView>,
    /// The key to give `--from` for the next entries, if there are more.
    next: Option<String>,
}

/// One entry: its key and decoded value, or why it does not decode.
#[derive(Debug, Serialize)]
struct EntryView {
    key: String,
    #[serde(flatten)]
    decoded: Option<Decoded>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `pygmy inspect DIR --tree NAME [--from KEY] [--limit N]`.
pub(super) fn tree(
    dir: &Path,
    name: &str,
    from: Option<&str>,
    limit: u64,
    json: bool,
) -> Result<()> {
    let opened = open(dir)?;
    if !opened.copy.has_tree(name) {
        let trees = opened.copy.tree_names().join(", ");
        bail!(
            "{} has no tree {name:?}; its trees are: {trees}",
            dir.display()
        );
    }
    let view = by_group!(opened.group, tree_view(&opened.copy, name, from, limit))?;
    print(json, &view, |out, view| write_tree(out, view))
}

fn tree_view<M: InspectMachine>(
    copy: &ReplicaCopy,
    tree: &str,
    from: Option<&str>,
    limit: u64,
) -> Result<TreeView> {
    let kind = key_kind::<M>(tree);
    let from = from
        .map(|text| kind.parse(text).map_err(|e| anyhow!("--from: {e}")))
        .transpose()?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut raw = copy.entries(tree, from.as_deref(), limit.saturating_add(1))?;
    let next = (raw.len() > limit).then(|| kind.render(&raw[limit].0));
    raw.truncate(limit);
    let entries = raw
        .iter()
        .map(|(k, v)| {
            let decoded = decode_entry::<M>(tree, k, v);
            EntryView {
                key: kind.render(k),
                error: decoded.as_ref().err().cloned(),
                decoded: decoded.ok(),
            }
        })
        .collect();
    Ok(TreeView {
        replica: copy.source().display().to_string(),
        group: M::GROUP,
        tree: tree.to_string(),
        entries,
        next,
    })
}

fn write_tree(out: &mut dyn Write, view: &TreeView) -> io::Result<()> {
    if view.entries.is_empty() {
        return writeln!(out, "no entries in {}", view.tree);
    }
    let table = if view.tree == RAFT_LOG {
        log_table(&view.entries)
    } else {
        value_table(&view.entries)
    };
    table.write(out)?;
    if let Some(next) = &view.next {
        writeln!(out, "(more entries: --from {next})")?;
    }
    Ok(())
}

fn log_table(entries: &[EntryView]) -> Table {
    let mut table = Table::new(&[
        ("INDEX", Align::Right),
        ("TERM", Align::Right),
        ("ENTRY", Align::Left),
    ]);
    for e in entries {
        let (term, what) = match (&e.decoded, &e.error) {
            (Some(d), _) => (d.term.map_or("-".into(), |t| t.to_string()), d.what.clone()),
            (None, error) => (
                "-".into(),
                error.as_ref().map(|e| format!("undecodable: {e}")),
            ),
        };
        table.row(vec![e.key.clone(), term, what.unwrap_or_default()]);
    }
    table
}

/// KEY and one column per field when every value is an object with the same fields (books,
/// orders, ...), else KEY and VALUE. A field that only repeats the key (a book's id) is left out;
/// numbers are right-aligned.
fn value_table(entries: &[EntryView]) -> Table {
    let object = |e: &EntryView| match e.decoded.as_ref().map(|d| &d.value) {
        Some(Value::Object(map)) => Some(map.clone()),
        _ => None,
    };
    let keys_of = |e: &EntryView| object(e).map(|m| m.keys().cloned().collect::<Vec<_>>());
    let first = entries.iter().find_map(keys_of);
    let uniform = entries
        .iter()
        .all(|e| e.error.is_some() || keys_of(e) == first);
    let repeats_key = |field: &String| {
        let same = |e: &EntryView| object(e).is_none_or(|m| cell(m.get(field)) == e.key);
        entries.iter().all(same)
    };
    let fields: Vec<String> = match first {
        Some(fields) if uniform => fields.into_iter().filter(|f| !repeats_key(f)).collect(),
        _ => Vec::new(),
    };
    let sample = entries.iter().find_map(object).unwrap_or_default();
    let align = |f: &String| match sample.get(f) {
        Some(Value::Number(_)) => Align::Right,
        _ => Align::Left,
    };
    let mut headers = vec![("KEY".to_string(), Align::Left)];
    headers.extend(fields.iter().map(|f| (f.to_uppercase(), align(f))));
    if fields.is_empty() {
        headers.push(("VALUE".into(), Align::Left));
    }
    let mut table = Table::with_headers(headers);
    for e in entries {
        let mut cells = vec![e.key.clone()];
        match (&e.decoded, &e.error) {
            (Some(d), _) if !fields.is_empty() => {
                cells.extend(fields.iter().map(|f| cell(d.value.get(f))));
            }
            (Some(d), _) => cells.push(cell(Some(&d.value))),
            (None, error) => {
                cells.push(format!(
                    "undecodable: {}",
                    error.clone().unwrap_or_default()
                ));
                cells.resize(fields.len().max(1) + 1, "-".into());
            }
        }
        table.row(cells);
    }
    table
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
