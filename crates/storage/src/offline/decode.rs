//! Keys and values of a replica as a person reads them: key encodings, and every tree's values
//! decoded (log entries with their commands described, Raft metadata, state values).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::replay::Entry;
use super::InspectMachine;
use crate::db::{RAFT_LOG, RAFT_META, SM_META};
use crate::keys::{try_key_u64, u64_key};
use crate::snapshot::{StateImage, SNAPSHOT_DATA};

/// How a tree's keys are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// 8-byte big-endian numbers (log index, book id, order number).
    U64,
    /// Text (buy keys, metadata names).
    Text,
}

impl KeyKind {
    /// The key as a person reads it; bytes that do not fit the kind are shown as hex.
    pub fn render(self, key: &[u8]) -> String {
        let hex = || format!("0x{}", hex::encode(key));
        match self {
            KeyKind::U64 => try_key_u64(key).map_or_else(hex, |n| n.to_string()),
            KeyKind::Text => match std::str::from_utf8(key) {
                Ok(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()) => s.into(),
                _ => hex(),
            },
        }
    }

    /// A key typed by a person (`--from`), encoded as stored.
    ///
    /// # Errors
    /// The text is not a number for a numeric tree.
    pub fn parse(self, text: &str) -> std::result::Result<Vec<u8>, String> {
        match self {
            KeyKind::U64 => text
                .parse::<u64>()
                .map(|n| u64_key(n).to_vec())
                .map_err(|_| format!("{text:?} is not a number; this tree's keys are numbers")),
            KeyKind::Text => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// How the keys of `tree` of a replica of `M` are encoded.
pub fn key_kind<M: InspectMachine>(tree: &str) -> KeyKind {
    match tree {
        RAFT_LOG => KeyKind::U64,
        RAFT_META | SM_META => KeyKind::Text,
        state => M::key_kind(state),
    }
}

/// `tree/key`, the way reports name a key.
pub fn tree_key<M: InspectMachine>(tree: &str, key: &[u8]) -> String {
    format!("{tree}/{}", key_kind::<M>(tree).render(key))
}

/// Decodes a stored state value as `T`.
///
/// # Errors
/// It does not decode; why.
pub fn decode<T: DeserializeOwned>(raw: &[u8]) -> std::result::Result<T, String> {
    serde_json::from_slice(raw).map_err(|e| format!("does not decode: {e}"))
}

/// Decodes a stored state value as `T` and shows it as JSON (for
/// [`InspectMachine::decode_value`]).
///
/// # Errors
/// It does not decode as a `T`; why.
pub fn decode_json<T: DeserializeOwned + Serialize>(
    raw: &[u8],
) -> std::result::Result<serde_json::Value, String> {
    serde_json::to_value(decode::<T>(raw)?).map_err(|e| e.to_string())
}

/// A stored value decoded for showing.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// Its JSON form.
    pub value: serde_json::Value,
    /// For a log entry: its term.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// For a log entry: what it does, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
}

/// Decodes a value of any tree of a replica of `M`: a log entry (with its command described),
/// Raft metadata, or a state value (by the service).
///
/// # Errors
/// It does not decode; why.
pub fn decode_entry<M: InspectMachine>(
    tree: &str,
    key: &[u8],
    raw: &[u8],
) -> std::result::Result<Decoded, String> {
    let plain = |value| Decoded {
        value,
        term: None,
        what: None,
    };
    match tree {
        RAFT_LOG => {
            let entry: Entry<M> = decode(raw)?;
            let what = match &entry.payload {
                openraft::EntryPayload::Blank => "blank (a new leader's first entry)".to_string(),
                openraft::EntryPayload::Normal(command) => M::describe(command),
                openraft::EntryPayload::Membership(m) => {
                    let voters: Vec<u64> = m.voter_ids().collect();
                    format!("membership: voters {voters:?}")
                }
            };
            Ok(Decoded {
                value: serde_json::to_value(&entry).map_err(|e| e.to_string())?,
                term: Some(entry.log_id.leader_id.term),
                what: Some(what),
            })
        }
        SM_META if key == SNAPSHOT_DATA => {
            let image = StateImage::decode(raw).map_err(|e| format!("state image: {e}"))?;
            let trees: serde_json::Map<String, serde_json::Value> = image
                .trees
                .iter()
                .map(|(name, entries)| (name.clone(), entries.len().into()))
                .collect();
            let value = serde_json::json!({ "image_bytes": raw.len(), "entries": trees });
            Ok(plain(value))
        }
        RAFT_META | SM_META => decode(raw).map(plain),
        state => M::decode_value(state, raw).map(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_render_and_parse_by_kind() {
        assert_eq!(KeyKind::U64.render(&u64_key(42)), "42");
        assert_eq!(KeyKind::U64.render(b"abc"), "0x616263");
        assert_eq!(KeyKind::Text.render(b"buy-1"), "buy-1");
        assert_eq!(KeyKind::Text.render(b"a b"), "0x612062");
        assert_eq!(KeyKind::U64.parse("7").unwrap(), u64_key(7).to_vec());
        assert!(KeyKind::U64
            .parse("x")
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(KeyKind::Text.parse("k").unwrap(), b"k".to_vec());
    }
}
