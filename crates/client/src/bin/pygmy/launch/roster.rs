//! Which replicas a launch starts. A new cluster starts the configured replicas. An existing
//! one starts each group's members as its replica directories last recorded them
//! (`storage::members_file`): `pygmy member` may have added replicas the configuration does not
//! list and removed some it does. A member without a directory here is not started (it runs
//! elsewhere, or its disk is lost and `pygmy member replace` is the repair), nor is a removed
//! replica's retired directory; each is said on stderr.

use anyhow::Result;
use runtime::{Cluster, GroupName};
use storage::admission::holds_replica_data;
use storage::members_file;

/// One replica to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// Its group.
    pub(crate) group: GroupName,
    /// Its id.
    pub(crate) id: u64,
    /// `host:port` it serves on.
    pub(crate) addr: String,
    /// Whether the configuration lists it (otherwise it is started with `--addr`).
    pub(crate) configured: bool,
}

/// What a launch starts, and what it leaves out and why.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    /// The replicas to start, catalog first, in id order.
    pub(crate) starts: Vec<Start>,
    /// One line per replica left out.
    pub(crate) notes: Vec<String>,
}

/// The roster of `cluster`: the configured replicas if `fresh` or no directory records a
/// membership, the recorded members otherwise.
///
/// # Errors
/// A membership record cannot be read.
pub(crate) fn roster(cluster: &Cluster, fresh: bool) -> Result<Roster> {
    let mut roster = Roster::default();
    for group in [GroupName::Catalog, GroupName::Orders] {
        let configured = cluster.replicas(group);
        let record = match fresh {
            true => None,
            false => members_file::latest(&cluster.data_dir, group)?,
        };
        let Some(record) = record else {
            roster
                .starts
                .extend((1..).zip(configured).map(|(id, addr)| Start {
                    group,
                    id,
                    addr: addr.clone(),
                    configured: true,
                }));
            continue;
        };
        let name = group.as_str();
        for (id, addr) in &record.members {
            let dir = cluster.replica_dir(group, *id);
            if !holds_replica_data(&dir) {
                roster.notes.push(format!(
                    "{name} replica {id} ({addr}) is a member but {} holds no data: not \
                     started. If its disk is lost, replace it: `pygmy member replace --group \
                     {name} {id} NEW_ADDR`",
                    dir.display()
                ));
                continue;
            }
            roster.starts.push(Start {
                group,
                id: *id,
                addr: addr.clone(),
                configured: configured.get(*id as usize - 1) == Some(addr),
            });
        }
        for id in 1..=configured.len() as u64 {
            if !record.members.contains_key(&id)
                && holds_replica_data(&cluster.replica_dir(group, id))
            {
                roster.notes.push(format!(
                    "{name} replica {id} was removed from its group (membership at log index \
                     {}): its directory is retired, not started",
                    record.config_index
                ));
            }
        }
    }
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_membership_decides_who_starts() {
        // Goal: with no record the configured replicas start; with one, its members that have
        // a directory start (an added one flagged as not configured), a member without data
        // and a removed replica's directory are left out with a note each; `fresh` ignores
        // the record. Method: the embedded configuration over a temporary data directory with
        // hand-made replica directories and a record of catalog {2, 3, 4}.
        let data = tempfile::tempdir().unwrap();
        let overrides = runtime::ClusterOverrides {
            data_dir: Some(data.path().to_path_buf()),
            ..runtime::ClusterOverrides::default()
        };
        let cluster = Cluster::load(None, &overrides).unwrap();
        let ids = |r: &Roster, g: GroupName| -> Vec<u64> {
            r.starts
                .iter()
                .filter(|s| s.group == g)
                .map(|s| s.id)
                .collect()
        };
        let plain = roster(&cluster, false).unwrap();
        assert_eq!(ids(&plain, GroupName::Catalog), [1, 2, 3]);
        assert!(plain.notes.is_empty());
        for id in [1, 2, 4] {
            let dir = cluster.replica_dir(GroupName::Catalog, id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("conf"), b"").unwrap();
        }
        let record = members_file::MembersRecord {
            group: "catalog".into(),
            config_index: 30,
            members: [
                (2, cluster.catalog[1].clone()),
                (3, cluster.catalog[2].clone()),
                (4, "127.0.0.1:8104".to_string()),
            ]
            .into(),
            voters: vec![2, 3, 4],
        };
        let dir = cluster.replica_dir(GroupName::Catalog, 2);
        std::fs::write(
            dir.join(members_file::MEMBERS_FILE),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let changed = roster(&cluster, false).unwrap();
        assert_eq!(ids(&changed, GroupName::Catalog), [2, 4]);
        assert_eq!(ids(&changed, GroupName::Orders), [1, 2, 3]);
        let added = changed.starts.iter().find(|s| s.id == 4).unwrap();
        assert!(!added.configured);
        assert_eq!(added.addr, "127.0.0.1:8104");
        assert_eq!(changed.notes.len(), 2, "{:?}", changed.notes);
        assert!(
            changed.notes[0].contains("replica 3"),
            "{:?}",
            changed.notes
        );
        assert!(
            changed.notes[1].contains("replica 1 was removed"),
            "{:?}",
            changed.notes
        );
        let fresh = roster(&cluster, true).unwrap();
        assert_eq!(ids(&fresh, GroupName::Catalog), [1, 2, 3]);
    }
}
