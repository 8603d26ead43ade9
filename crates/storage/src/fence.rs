//! A leader's hook around its writes: told before a command is proposed and after it applies,
//! and asked how long what it grants as leader stays valid. The catalog uses it to keep the frontends'
//! caches coherent (DESIGN.md section 6); a group without one writes straight through.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::machine::{ServiceMachine, StateView};

/// What a fence answers before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceEntry {
    /// Propose it; hand `ticket` back to [`WriteFence::after`] (`None`: nothing to tell after).
    Go(Option<u64>),
    /// Do not propose it: this replica is no longer the leader (someone knows a higher term).
    Deposed,
    /// Do not propose it now: the reason (nothing was proposed; the caller may retry).
    Refused(String),
}

/// Hook around a leader's writes.
pub trait WriteFence<M: ServiceMachine>: Send + Sync + 'static {
    /// How long a grant stays valid from the moment its holder asked for it: a new leader
    /// serves nothing until grants made under an earlier leader have run out (see
    /// `replica::handover`).
    fn lease(&self) -> Duration;

    /// The latest moment a grant this replica made may still be held, if it made any: until
    /// then it refuses to vote for another leader.
    fn granted_until(&self) -> Option<Instant>;

    /// Before `command` is proposed by the leader of `term`, with the local state in `view`;
    /// may wait, but not past `deadline`.
    fn before<'a>(
        &'a self,
        view: &'a StateView,
        command: &'a M::Command,
        term: u64,
        deadline: Instant,
    ) -> BoxFuture<'a, FenceEntry>;

    /// After the write of `ticket` applied at log index `applied` (`None`: it will never apply
    /// under this leader, or the leadership was lost before learning).
    fn after(&self, ticket: u64, applied: Option<u64>);
}
