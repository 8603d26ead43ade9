//! `pygmy inspect diff A B`: the states of two replicas of one group, compared key by key.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;
use storage::offline::{differences, tree_key, InspectMachine};

use super::{by_group, open, Found, Opened};
use crate::output::{print, Align, Table};

/// What `diff` found.
#[derive(Debug, Serialize)]
struct DiffView {
    group: &'static str,
    a: String,
    b: String,
    applied_a: Option<u64>,
    applied_b: Option<u64>,
    /// Whether the states are equal.
    identical: bool,
    /// How many keys differ.
    differing_keys: usize,
    /// The first differing keys (at most `--limit`).
    first: Vec<KeyDiff>,
}

/// A key whose value differs; a side without the key shows `null`.
#[derive(Debug, Serialize)]
struct KeyDiff {
    key: String,
    a: Option<Value>,
    b: Option<Value>,
}

/// `pygmy inspect diff A B`.
pub(super) fn run(a: &Path, b: &Path, limit: usize, json: bool) -> Result<()> {
    let (a_opened, b_opened) = (open(a)?, open(b)?);
    if a_opened.group != b_opened.group {
        bail!(
            "{} is a replica of group {}, {} of group {}: diff compares two replicas of one group",
            a.display(),
            a_opened.group.as_str(),
            b.display(),
            b_opened.group.as_str()
        );
    }
    let view = by_group!(a_opened.group, compare(&a_opened, &b_opened, limit))?;
    print(json, &view, |out, view| write_diff(out, view))?;
    if !view.identical {
        let n = view.differing_keys;
        return Err(Found(format!("the states differ at {n} key(s)")).into());
    }
    Ok(())
}

fn compare<M: InspectMachine>(a: &Opened, b: &Opened, limit: usize) -> Result<DiffView> {
    let found = differences(
        &a.copy.image(M::STATE_TREES)?,
        &b.copy.image(M::STATE_TREES)?,
    );
    let show = |tree: &str, raw: &Option<Vec<u8>>| {
        raw.as_ref().map(|raw| {
            M::decode_value(tree, raw)
                .unwrap_or_else(|e| Value::String(format!("undecodable: {e}")))
        })
    };
    let first = found
        .iter()
        .take(limit)
        .map(|d| KeyDiff {
            key: tree_key::<M>(&d.tree, &d.key),
            a: show(&d.tree, &d.left),
            b: show(&d.tree, &d.right),
        })
        .collect();
    Ok(DiffView {
        group: M::GROUP,
        a: a.name(),
        b: b.name(),
        applied_a: a.copy.last_applied()?,
        applied_b: b.copy.last_applied()?,
        identical: found.is_empty(),
        differing_keys: found.len(),
        first,
    })
}

fn write_diff(out: &mut dyn Write, v: &DiffView) -> io::Result<()> {
    let index = |i: Option<u64>| i.map_or("none".into(), |i| i.to_string());
    let (ia, ib) = (index(v.applied_a), index(v.applied_b));
    if v.applied_a != v.applied_b {
        writeln!(
            out,
            "applied indexes differ: {} at {ia}, {} at {ib}",
            v.a, v.b
        )?;
    }
    if v.identical {
        return if v.applied_a == v.applied_b {
            writeln!(out, "identical at applied index {ia}")
        } else {
            writeln!(out, "the states are identical nonetheless")
        };
    }
    writeln!(
        out,
        "{} keys differ; the first {}:",
        v.differing_keys,
        v.first.len()
    )?;
    let mut table = Table::with_headers(vec![
        ("KEY".into(), Align::Left),
        (v.a.to_uppercase(), Align::Left),
        (v.b.to_uppercase(), Align::Left),
    ]);
    let cell = |value: &Option<Value>| value.as_ref().map_or("-".into(), Value::to_string);
    for d in &v.first {
        table.row(vec![d.key.clone(), cell(&d.a), cell(&d.b)]);
    }
    table.write(out)
}
