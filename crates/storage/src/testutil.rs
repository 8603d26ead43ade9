//! Helpers of the crate's unit tests.

use serde::{Deserialize, Serialize};

use crate::machine::{ServiceMachine, StateTxn, TxnResult};
use crate::offline::{decode_json, InspectMachine, KeyKind, Violation};
use crate::snapshot::StateImage;

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
