//! A throwaway state for unit and property tests of a service machine, and for replaying a
//! replica's log offline ([`crate::offline`]): commands are applied through the same transaction
//! path as the runner, on a temporary sled Db.

use std::marker::PhantomData;

use sled::transaction::{TransactionError, TransactionalTree};
use sled::Transactional;

use crate::digest::StateDigest;
use crate::machine::{ServiceMachine, StateTxn, StateView, TxnResult};
use crate::snapshot::StateImage;

/// A temporary state of machine `M`.
pub struct ScratchState<M> {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    _machine: PhantomData<fn() -> M>,
}

impl<M: ServiceMachine> ScratchState<M> {
    /// An empty state (a temporary Db removed on drop).
    ///
    /// # Panics
    /// If the temporary Db cannot be created.
    pub fn new() -> Self {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary sled db opens");
        let trees = M::STATE_TREES
            .iter()
            .map(|n| db.open_tree(n).expect("tree opens"))
            .collect();
        Self {
            db,
            trees,
            _machine: PhantomData,
        }
    }

    /// A state holding `image`, e.g. a snapshot to replay later log entries onto.
    ///
    /// # Panics
    /// If the image's trees are not the machine's state trees, or sled fails.
    pub fn from_image(image: &StateImage) -> Self {
        let state = Self::new();
        let names: Vec<&str> = image.trees.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            M::STATE_TREES,
            "an image of this machine's state trees"
        );
        for ((_, entries), tree) in image.trees.iter().zip(&state.trees) {
            for (k, v) in entries {
                tree.insert(k.as_slice(), v.as_slice())
                    .expect("temporary sled db accepts writes");
            }
        }
        state
    }

    /// The state now, as an image of every state tree.
    ///
    /// # Panics
    /// If sled fails.
    pub fn image(&self) -> StateImage {
        let named = M::STATE_TREES
            .iter()
            .copied()
            .zip(self.trees.iter().map(Some));
        StateImage::capture_trees(named).expect("temporary sled db is readable")
    }

    /// Applies `command` in one transaction, as the runner does.
    ///
    /// # Panics
    /// If sled fails.
    pub fn apply(&self, command: &M::Command) -> M::Response {
        self.transact(|state| M::apply(state, command))
    }

    /// Runs `change` in one transaction over the state trees: an offline repair that is no
    /// command of the machine (a restore's, see `pygmy restore`).
    ///
    /// # Panics
    /// If sled fails.
    pub fn transact<R>(&self, change: impl Fn(&StateTxn<'_>) -> TxnResult<R>) -> R {
        let result = self.trees[..].transaction(|txs: &Vec<TransactionalTree>| {
            // A scratch state keeps no digest: it only answers what commands do.
            let state = StateTxn::new(M::STATE_TREES, txs, StateDigest::default());
            Ok(change(&state)?)
        });
        match result {
            Ok(r) => r,
            Err(TransactionError::Storage(e)) => panic!("sled failed: {e}"),
            Err(TransactionError::Abort(())) => unreachable!("machines never abort"),
        }
    }

    /// Reads of the state.
    pub fn view(&self) -> StateView {
        StateView::new(self.db.clone())
    }
}

impl<M: ServiceMachine> Default for ScratchState<M> {
    fn default() -> Self {
        Self::new()
    }
}
