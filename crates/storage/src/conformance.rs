//! openraft's own storage conformance suite, run against the sled log store and runner.

use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

use crate::db::ReplicaDb;
use crate::log_store::LogStore;
use crate::machine::ServiceMachine;
use crate::metrics::StoreMetrics;
use crate::state_machine::StateMachineStore;
use crate::testutil::Registers;
use crate::types::{GroupTypes, StorageError};

struct SledBuilder;

impl StoreBuilder<GroupTypes<Registers>, LogStore<Registers>, StateMachineStore<Registers>, TempDir>
    for SledBuilder
{
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<Registers>, StateMachineStore<Registers>), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = ReplicaDb::open(
            dir.path(),
            4 << 20,
            Registers::STATE_TREES,
            StoreMetrics::unrecorded(),
        )
        .expect("fresh sled db opens");
        let sm = StateMachineStore::open(db.clone())
            .await
            .expect("a fresh state machine opens");
        Ok((dir, LogStore::new(db), sm))
    }
}

#[test]
fn sled_store_passes_openraft_suite() {
    // Goal: the log store and state machine meet every rule openraft's suite checks.
    Suite::test_all(SledBuilder).unwrap();
}
