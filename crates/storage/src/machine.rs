//! What a service plugs into the replication runtime: its commands, answers and state trees.
//!
//! A service implements [`ServiceMachine`]; the runtime applies each committed command inside one
//! sled transaction over the service's state trees (through [`StateTxn`]) together with the
//! runtime's own `last_applied`, and serves reads through [`StateView`].

use std::cell::Cell;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::digest::StateDigest;

/// The result type of operations inside an apply transaction.
pub type TxnResult<T> = Result<T, UnabortableTransactionError>;

/// A service's replicated state machine: deterministic, driven only by committed commands.
pub trait ServiceMachine: Send + Sync + 'static {
    /// A command of the log.
    type Command: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// What applying a command answers (business refusals included: apply never fails).
    type Response: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;

    /// Group name, used for directories, logs and status (`catalog`, `orders`).
    const GROUP: &'static str;
    /// Names of the sled trees holding the service's state.
    const STATE_TREES: &'static [&'static str];

    /// Applies one command. Must be deterministic (no clocks, no randomness) and touch state only
    /// through `txn`: the closure may run more than once if sled retries the transaction.
    fn apply(txn: &StateTxn<'_>, command: &Self::Command) -> TxnResult<Self::Response>;
}

/// The state trees inside an apply transaction, by name, and the state digest as the
/// transaction's writes change it.
pub struct StateTxn<'a> {
    names: &'static [&'static str],
    trees: &'a [TransactionalTree],
    digest: Cell<StateDigest>,
}

impl<'a> StateTxn<'a> {
    /// The trees `names` in a transaction that starts from state digest `digest`.
    pub(crate) fn new(
        names: &'static [&'static str],
        trees: &'a [TransactionalTree],
        digest: StateDigest,
    ) -> Self {
        assert_eq!(
            names.len(),
            trees.len(),
            "one transactional tree per state tree"
        );
        Self {
            names,
            trees,
            digest: Cell::new(digest),
        }
    }

    /// The state digest with every write of this transaction so far.
    pub(crate) fn digest(&self) -> StateDigest {
        self.digest.get()
    }

    /// Moves the digest from `old` to `new` at `key` of `tree`.
    fn track(&self, tree: &str, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) {
        let mut digest = self.digest.get();
        if let Some(old) = old {
            digest.remove(tree, key, old);
        }
        if let Some(new) = new {
            digest.add(tree, key, new);
        }
        self.digest.set(digest);
    }

    fn tree(&self, name: &str) -> &TransactionalTree {
        let at = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} is not a state tree of this service"));
        &self.trees[at]
    }

    /// Reads and decodes the value under `key`.
    ///
    /// # Panics
    /// If the stored value does not decode: the state is corrupt.
    pub fn get<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> TxnResult<Option<T>> {
        let raw = self.tree(tree).get(key)?;
        Ok(raw.map(|v| decode_value(tree, key, &v)))
    }

    /// Encodes and stores `value` under `key`.
    pub fn insert<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) -> TxnResult<()> {
        let raw = serde_json::to_vec(value).expect("state values always serialize");
        self.insert_raw(tree, key, &raw)
    }

    /// Stores already-encoded bytes (snapshot install).
    pub(crate) fn insert_raw(&self, tree: &str, key: &[u8], value: &[u8]) -> TxnResult<()> {
        let old = self.tree(tree).insert(key, value)?;
        self.track(tree, key, old.as_deref(), Some(value));
        Ok(())
    }

    /// Removes the value under `key`.
    pub fn remove(&self, tree: &str, key: &[u8]) -> TxnResult<()> {
        let old = self.tree(tree).remove(key)?;
        self.track(tree, key, old.as_deref(), None);
        Ok(())
    }
}

/// Read access to the state trees outside of Raft (after a linearizable read barrier).
#[derive(Clone)]
pub struct StateView {
    db: sled::Db,
}

impl StateView {
    pub(crate) fn new(db: sled::Db) -> Self {
        Self { db }
    }

    fn tree(&self, name: &str) -> sled::Tree {
        self.db
            .open_tree(name)
            .unwrap_or_else(|e| panic!("state tree {name} cannot be opened: {e}"))
    }

    /// Reads and decodes the value under `key`.
    ///
    /// # Panics
    /// If sled fails to read or the value does not decode: the state is corrupt.
    pub fn get<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Option<T> {
        let raw = self
            .tree(tree)
            .get(key)
            .unwrap_or_else(|e| panic!("reading {tree}: {e}"));
        raw.map(|v| decode_value(tree, key, &v))
    }

    /// Every entry of `tree` in key order, decoded.
    ///
    /// # Panics
    /// As [`StateView::get`].
    pub fn scan<T: DeserializeOwned>(&self, tree: &str) -> Vec<(Vec<u8>, T)> {
        self.tree(tree)
            .iter()
            .map(|item| {
                let (k, v) = item.unwrap_or_else(|e| panic!("scanning {tree}: {e}"));
                let value = decode_value(tree, &k, &v);
                (k.to_vec(), value)
            })
            .collect()
    }

    /// How many entries `tree` holds, by a scan of its keys (sled keeps no count): O(entries).
    ///
    /// # Panics
    /// If sled fails to read: the state is corrupt.
    pub fn count(&self, tree: &str) -> u64 {
        let mut entries = 0;
        for key in self.tree(tree).iter().keys() {
            key.unwrap_or_else(|e| panic!("scanning {tree}: {e}"));
            entries += 1;
        }
        entries
    }
}

fn decode_value<T: DeserializeOwned>(tree: &str, key: &[u8], raw: &[u8]) -> T {
    serde_json::from_slice(raw)
        .unwrap_or_else(|e| panic!("corrupt value in tree {tree} at key {key:02x?}: {e}"))
}
