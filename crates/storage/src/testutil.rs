//! Helpers of the crate's unit tests.

use openraft::{CommittedLeaderId, EntryPayload};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use crate::db::ReplicaDb;
use crate::machine::{ServiceMachine, StateTxn, TxnResult};
use crate::metrics::StoreMetrics;
use crate::offline::{decode_json, InspectMachine, KeyKind, Violation};
use crate::snapshot::StateImage;
use crate::types::{GroupTypes, LogId};

/// A minimal register machine: `Set(k, v)` answers the previous value.
pub(crate) struct Registers;

/// Sets register `.0` to `.1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Set(pub(crate) String, pub(crate) String);

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

impl InspectMachine for Registers {
    const STATE_CHECKS: &'static [&'static str] = &[];

    fn key_kind(_tree: &str) -> KeyKind {
        KeyKind::Text
    }

    fn decode_value(_tree: &str, value: &[u8]) -> Result<serde_json::Value, String> {
        decode_json::<String>(value)
    }

    fn describe(Set(k, v): &Set) -> String {
        format!("set {k} to {v}")
    }

    fn check_state(_state: &StateImage) -> Vec<Violation> {
        Vec::new()
    }
}

/// A fresh replica Db of [`Registers`] in a temporary directory (kept alive by the `TempDir`).
pub(crate) fn registers_db() -> (TempDir, ReplicaDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = ReplicaDb::open(
        dir.path(),
        4 << 20,
        Registers::STATE_TREES,
        StoreMetrics::unrecorded(),
    )
    .unwrap();
    (dir, db)
}

/// The log id of `index` in term 1.
pub(crate) fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// Blank entries at `indexes`.
pub(crate) fn blanks(
    indexes: impl IntoIterator<Item = u64>,
) -> Vec<openraft::Entry<GroupTypes<Registers>>> {
    let blank = |i| openraft::Entry::<GroupTypes<Registers>> {
        log_id: log_id(i),
        payload: EntryPayload::Blank,
    };
    indexes.into_iter().map(blank).collect()
}
