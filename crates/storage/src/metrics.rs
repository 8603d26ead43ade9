//! The metric handles of one replica's storage: flushes, applies, snapshots. Registered once
//! when the replica starts, with its labels, so that the hot paths (every flush, every apply)
//! only record into a handle. Names and HELP texts are in `runtime::metric_catalog`; the Raft
//! state is published by `replica::metrics`.

use std::time::Duration;

use metrics::{Counter, Histogram, Label};
use runtime::metric_catalog::{
    SNAPSHOT_BUILDS, SNAPSHOT_BUILD_DURATION, SNAPSHOT_INSTALLS, SNAPSHOT_INSTALL_DURATION,
    STORAGE_APPLY_ENTRIES, STORAGE_FLUSH_DURATION, STORAGE_FLUSH_ENTRIES,
};
use runtime::GroupName;

/// The labels of every metric of replica `id` of `group`: `group` and `replica`.
pub fn replica_labels(group: GroupName, id: u64) -> Vec<Label> {
    vec![
        Label::new("group", group.as_str()),
        Label::new("replica", id.to_string()),
    ]
}

/// What the group-commit flusher records.
#[derive(Clone, Debug)]
pub struct FlushMetrics {
    /// Time of each flush.
    pub(crate) duration: Histogram,
    /// Log entries each flush made durable.
    pub(crate) entries: Histogram,
}

/// One replica's storage metric handles; cheap to clone (each handle is shared).
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    pub(crate) flush: FlushMetrics,
    pub(crate) apply_entries: Histogram,
    snapshot_builds: Counter,
    snapshot_build_duration: Histogram,
    snapshot_installs: Counter,
    snapshot_install_duration: Histogram,
}

impl StoreMetrics {
    /// The handles of replica `id` of `group`, registered in the process recorder (installed
    /// first if need be).
    pub fn register(group: GroupName, id: u64) -> Self {
        let labels = replica_labels(group, id);
        Self {
            flush: FlushMetrics {
                duration: STORAGE_FLUSH_DURATION.histogram(&labels),
                entries: STORAGE_FLUSH_ENTRIES.histogram(&labels),
            },
            apply_entries: STORAGE_APPLY_ENTRIES.histogram(&labels),
            snapshot_builds: SNAPSHOT_BUILDS.counter(&labels),
            snapshot_build_duration: SNAPSHOT_BUILD_DURATION.histogram(&labels),
            snapshot_installs: SNAPSHOT_INSTALLS.counter(&labels),
            snapshot_install_duration: SNAPSHOT_INSTALL_DURATION.histogram(&labels),
        }
    }

    /// Handles that record nothing: offline inspection, and tests that do not look at metrics.
    pub fn unrecorded() -> Self {
        Self {
            flush: FlushMetrics {
                duration: Histogram::noop(),
                entries: Histogram::noop(),
            },
            apply_entries: Histogram::noop(),
            snapshot_builds: Counter::noop(),
            snapshot_build_duration: Histogram::noop(),
            snapshot_installs: Counter::noop(),
            snapshot_install_duration: Histogram::noop(),
        }
    }

    /// Counts a snapshot built in `took`.
    pub(crate) fn snapshot_built(&self, took: Duration) {
        self.snapshot_builds.increment(1);
        self.snapshot_build_duration.record(took.as_secs_f64());
    }

    /// Counts a snapshot installed in `took`.
    pub(crate) fn snapshot_installed(&self, took: Duration) {
        self.snapshot_installs.increment(1);
        self.snapshot_install_duration.record(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, SnapshotMeta};
    use openraft::StoredMembership;
    use test_support::Scrape;
    use tokio::io::AsyncWriteExt as _;

    use super::*;
    use crate::db::ReplicaDb;
    use crate::log_store::LogStore;
    use crate::machine::ServiceMachine;
    use crate::snapshot::StateImage;
    use crate::state_machine::StateMachineStore;
    use crate::testutil::{blanks, log_id, Registers};

    #[tokio::test]
    async fn flushes_applies_and_snapshots_are_recorded_under_the_replica_labels() {
        // Goal: a flush counts the log entries written before it (and a metadata flush 0), an
        // apply its batch, a snapshot build and an install one each with their durations, all
        // under `group` and `replica`. Method: handles registered in a recorder of this
        // test's own, then read back from its text.
        let recorder = runtime::telemetry::new_recorder();
        let metrics = metrics::with_local_recorder(&recorder, || {
            StoreMetrics::register(GroupName::Orders, 2)
        });
        let dir = tempfile::tempdir().unwrap();
        let db = ReplicaDb::open(dir.path(), 4 << 20, Registers::STATE_TREES, metrics).unwrap();
        let written = LogStore::<Registers>::new(db.clone())
            .write_entries(blanks(0..=2))
            .unwrap();
        db.flusher.flush_log_entries(written).await.unwrap();
        db.flush().await.unwrap();
        let mut sm = StateMachineStore::<Registers>::open(db.clone())
            .await
            .unwrap();
        sm.apply(blanks(0..=2)).await.unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let image = StateImage {
            trees: vec![(Registers::STATE_TREES[0].to_string(), Vec::new())],
        };
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(10)),
            last_membership: StoredMembership::default(),
            snapshot_id: "1-10-0".into(),
        };
        let mut data = sm.begin_receiving_snapshot().await.unwrap();
        data.write_all(&image.encode()).await.unwrap();
        sm.install_snapshot(&meta, data).await.unwrap();

        let scrape = Scrape::parse(&recorder.handle().render());
        let labels = [("group", "orders"), ("replica", "2")];
        let value = |name: &str| scrape.value(name, &labels).unwrap_or(-1.0);
        assert_eq!(value("pygmy_storage_flush_entries_sum"), 3.0);
        assert!(value("pygmy_storage_flush_entries_count") >= 2.0);
        let zero_entry_flushes = [("le", "0")];
        let zero = scrape.samples("pygmy_storage_flush_entries_bucket", &zero_entry_flushes);
        assert!(zero.map(|s| s.value).sum::<f64>() >= 1.0);
        assert_eq!(
            value("pygmy_storage_flush_duration_seconds_count"),
            value("pygmy_storage_flush_entries_count")
        );
        assert_eq!(value("pygmy_storage_apply_entries_sum"), 3.0);
        assert_eq!(value("pygmy_storage_apply_entries_count"), 1.0);
        for name in [
            "pygmy_snapshot_builds_total",
            "pygmy_snapshot_installs_total",
        ] {
            assert_eq!(value(name), 1.0, "{name}");
            assert!(scrape.help(name).is_some(), "{name} has HELP");
        }
        assert_eq!(value("pygmy_snapshot_build_duration_seconds_count"), 1.0);
        assert_eq!(value("pygmy_snapshot_install_duration_seconds_count"), 1.0);
    }
}
