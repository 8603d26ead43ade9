//! What `pygmy up` (and `pygmy chaos` on a given directory) checks before it touches anything:
//! no running process holds a replica directory of its data directory, and every address it
//! is about to listen on is free.
//!
//! Without these checks `up --fresh` deleted the directories of a running cluster, and a second
//! `up` reported "up" because it reached the other cluster's ports while its own children had
//! exited.

use std::path::Path;

use anyhow::{bail, Result};

use super::data_dir::replica_dirs;
use super::plan::Plan;

/// Fails, naming each, if a replica directory of `data_dir` is held by a running process
/// (the lock probe of `pygmy inspect`) or an address of `plans` is taken.
///
/// # Errors
/// What is in use, and what to do about it.
pub(crate) fn check(data_dir: &Path, plans: &[Plan]) -> Result<()> {
    let held: Vec<String> = replica_dirs(data_dir)?
        .into_iter()
        .filter(|dir| storage::offline::probe_in_use(dir))
        .map(|dir| dir.display().to_string())
        .collect();
    if !held.is_empty() {
        bail!(
            "{} in use by running replicas (another `pygmy up`, or replicas started by hand, \
             on this data directory); nothing was changed. Stop that cluster first, or give \
             another data directory (--data)",
            held.join(", ") + if held.len() == 1 { " is" } else { " are" }
        );
    }
    let taken: Vec<String> = plans
        .iter()
        .filter_map(|plan| {
            let bound = std::net::TcpListener::bind(&plan.addr);
            // Dropped at once: the child binds it a moment later.
            bound
                .err()
                .map(|e| format!("{} ({}): {e}", plan.addr, plan.name))
        })
        .collect();
    if !taken.is_empty() {
        bail!(
            "cannot listen on {}; nothing was started. Stop what listens there (another \
             `pygmy up`?) or give other addresses in the configuration",
            taken.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, addr: &str) -> Plan {
        Plan {
            name: name.into(),
            args: Vec::new(),
            log: "x.log".into(),
            addr: addr.into(),
            replica_dir: None,
        }
    }

    #[test]
    fn held_directories_and_taken_addresses_are_named() {
        // Goal: a replica directory locked as sled locks it, and an address with a listener,
        // are each refused by name; free ones pass.
        let data = tempfile::tempdir().unwrap();
        let replica = data.path().join("orders-2");
        std::fs::create_dir(&replica).unwrap();
        std::fs::create_dir(data.path().join("mine")).unwrap();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free_addr = free.local_addr().unwrap().to_string();
        drop(free);
        check(data.path(), &[plan("frontend", &free_addr)]).unwrap();
        let held = sled::open(&replica).unwrap();
        let e = check(data.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("orders-2 is in use by running replicas"), "{e}");
        drop(held);
        // Another directory: sled's lock can outlive the drop for a moment (seen in a parallel
        // test run), and `data` is then still reported in use.
        let other = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_addr = taken.local_addr().unwrap().to_string();
        let e = check(other.path(), &[plan("catalog-3", &taken_addr)])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{taken_addr} (catalog-3)")), "{e}");
    }
}
