//! openraft's own storage conformance suite, run against the sled log store and runner.

use openraft::testing::{StoreBuilder, Suite};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use crate::db::ReplicaDb;
use crate::log_store::LogStore;
use crate::machine::{ServiceMachine, StateTxn, TxnResult};
use crate::state_machine::StateMachineStore;
use crate::types::{GroupTypes, StorageError};

/// A minimal register machine: `Set(k, v)` answers the previous value.
struct Registers;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Set(String, String);

impl ServiceMachine for Registers {
    type Command = Set;
    type Response = Option<String>;
    const GROUP: &'static str = "test";
    const STATE_TREES: &'static [&'static str] = &["registers"];

    fn apply(txn: &StateTxn<'_>, Set(k, v): &Set) -> TxnResult<Option<String>> {
        let old = txn.get("registers", k.as_bytes())?;
        txn.insert("registers", k.as_bytes(), v)?;
        Ok(old)
    }
}

struct SledBuilder;

impl StoreBuilder<GroupTypes<Registers>, LogStore<Registers>, StateMachineStore<Registers>, TempDir>
    for SledBuilder
{
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<Registers>, StateMachineStore<Registers>), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = ReplicaDb::open(dir.path(), 4 << 20, Registers::STATE_TREES)
            .expect("fresh sled db opens");
        Ok((dir, LogStore::new(db.clone()), StateMachineStore::new(db)))
    }
}

#[test]
fn sled_store_passes_openraft_suite() {
    // Goal: the log store and state machine meet every rule openraft's suite checks.
    Suite::test_all(SledBuilder).unwrap();
}
