//! `<replica dir>/members.json`: the membership in effect as the replica last knew it, written
//! by the replica whenever it changes, so that `pygmy up` knows which replicas to start and at
//! which addresses after `pygmy member` changed the group. The Raft log stays the truth: the
//! file is a copy made from it, never read by Raft, and a stale one (a replica that was down
//! during a change) loses to a newer one of the same group ([`latest`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runtime::GroupName;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::machine::ServiceMachine;
use crate::types::{RaftOf, ReplicaId};
use crate::whole_file;

/// Its file name in a replica directory.
pub const MEMBERS_FILE: &str = "members.json";

/// The membership a replica last knew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersRecord {
    /// Group name.
    pub group: String,
    /// Log index of the membership entry in effect (newer wins).
    pub config_index: u64,
    /// Every member: id -> `host:port`.
    pub members: BTreeMap<ReplicaId, String>,
    /// The voters' ids.
    pub voters: Vec<ReplicaId>,
}

/// The record in `replica_dir`, if it has one.
///
/// # Errors
/// [`Error::DataDirUnreadable`] if it exists but cannot be read or decoded.
pub fn read(replica_dir: &Path) -> Result<Option<MembersRecord>> {
    let path = replica_dir.join(MEMBERS_FILE);
    let unreadable = |reason: String| Error::DataDirUnreadable {
        path: path.clone(),
        reason,
    };
    match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| unreadable(format!("it does not decode: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// The newest record among the replica directories of `group` in `data_dir` (`<group>-<id>`),
/// if any has one.
///
/// # Errors
/// `data_dir` cannot be listed, or a record cannot be read.
pub fn latest(data_dir: &Path, group: GroupName) -> Result<Option<MembersRecord>> {
    let prefix = format!("{}-", group.as_str());
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::DataDirUnreadable {
                path: data_dir.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let mut newest: Option<MembersRecord> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_replica = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(|id| id.parse::<u64>().is_ok());
        if !is_replica {
            continue;
        }
        if let Some(record) = read(&entry.path())? {
            if newest
                .as_ref()
                .is_none_or(|n| record.config_index > n.config_index)
            {
                newest = Some(record);
            }
        }
    }
    Ok(newest)
}

/// Writes `record` into `replica_dir` whole ([`whole_file::write`]), so that a crash leaves the
/// old record or the new one.
fn write(replica_dir: &Path, record: &MembersRecord) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).expect("a record serializes");
    whole_file::write(replica_dir, MEMBERS_FILE, &bytes)
}

/// Follows `raft`'s membership for the life of the replica and rewrites the record in
/// `replica_dir` each time the entry in effect changes.
pub(crate) async fn record_membership<M: ServiceMachine>(
    raft: RaftOf<M>,
    group: GroupName,
    replica_dir: PathBuf,
) {
    let mut metrics = raft.metrics();
    let mut written: Option<u64> = None;
    loop {
        let record = {
            let m = metrics.borrow_and_update();
            let stored = &m.membership_config;
            stored.log_id().map(|log_id| MembersRecord {
                group: group.as_str().to_string(),
                config_index: log_id.index,
                members: stored
                    .membership()
                    .nodes()
                    .map(|(id, node)| (*id, node.addr.clone()))
                    .collect(),
                voters: stored.membership().voter_ids().collect(),
            })
        };
        if let Some(record) = record.filter(|r| written != Some(r.config_index)) {
            let dir = replica_dir.clone();
            let index = record.config_index;
            match tokio::task::spawn_blocking(move || write(&dir, &record)).await {
                Ok(Ok(())) => written = Some(index),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot write {MEMBERS_FILE}"),
                Err(e) => tracing::warn!(error = %e, "the {MEMBERS_FILE} writer failed"),
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, ids: &[u64]) -> MembersRecord {
        MembersRecord {
            group: "catalog".into(),
            config_index: index,
            members: ids
                .iter()
                .map(|id| (*id, format!("127.0.0.1:{}", 9000 + id)))
                .collect(),
            voters: ids.to_vec(),
        }
    }

    #[test]
    fn the_newest_record_of_a_group_wins() {
        // Goal: `latest` picks the highest membership index among the group's replica
        // directories, ignores the other group and other files, and finds none in a directory
        // without records.
        let data = tempfile::tempdir().unwrap();
        assert_eq!(latest(data.path(), GroupName::Catalog).unwrap(), None);
        for (dir, rec) in [
            ("catalog-1", record(5, &[1, 2, 3])),
            ("catalog-2", record(40, &[2, 3, 4])),
            ("catalog-3", record(12, &[2, 3, 4])),
        ] {
            std::fs::create_dir(data.path().join(dir)).unwrap();
            write(&data.path().join(dir), &rec).unwrap();
        }
        std::fs::create_dir(data.path().join("orders-1")).unwrap();
        write(&data.path().join("orders-1"), &record(99, &[1])).unwrap();
        std::fs::create_dir(data.path().join("catalog-x")).unwrap();
        write(&data.path().join("catalog-x"), &record(100, &[1])).unwrap();
        let newest = latest(data.path(), GroupName::Catalog).unwrap().unwrap();
        assert_eq!(newest, record(40, &[2, 3, 4]));
        assert!(latest(data.path(), GroupName::Orders).unwrap().is_some());
        std::fs::write(data.path().join("catalog-1").join(MEMBERS_FILE), b"{").unwrap();
        assert!(latest(data.path(), GroupName::Catalog).is_err());
    }
}
