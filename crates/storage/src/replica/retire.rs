//! A replica removed from its group while it runs stops by itself. Once removed, its leader no
//! longer writes to it, so it would time out and campaign in ever higher terms, alone: it
//! cannot win, but the frontends and its old peers would keep hearing of those terms. Once its
//! membership has named it, whenever it knows no leader for long, or its own membership leaves
//! it out, it asks the group's leader (`admission::refuse_if_removed`); if the leader's
//! membership leaves it out too, it retires: its process stops, saying why.

use std::time::Duration;

use tokio::time::Instant;

use super::Replica;
use crate::admission;
use crate::error::Error;
use crate::machine::ServiceMachine;

/// Time between two looks at this replica's own state.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Follows `replica` for its life and retires it (see the module doc) if its group removed it.
pub(super) async fn retire_when_removed<M: ServiceMachine>(replica: Replica<M>) {
    let spec = replica.spec().clone();
    let patience = spec.raft.election_max * 2;
    let mut leaderless_since: Option<Instant> = None;
    // Whether its membership ever named it: a replica joining (not added yet, or catching up
    // on entries from before it was added) is no removed one, and cannot campaign.
    let mut was_listed = false;
    loop {
        tokio::select! {
            () = replica.inner.retired.cancelled() => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let (leader, listed) = {
            let m = replica.inner.raft.metrics();
            let m = m.borrow();
            let listed = m
                .membership_config
                .membership()
                .get_node(&spec.id)
                .is_some();
            (m.current_leader, listed)
        };
        was_listed |= listed;
        if !was_listed {
            continue;
        }
        if leader.is_some() && listed {
            leaderless_since = None;
            continue;
        }
        let since = *leaderless_since.get_or_insert_with(Instant::now);
        if listed && since.elapsed() < patience {
            continue;
        }
        if let Err(removed @ Error::Removed { .. }) =
            admission::refuse_if_removed(&spec, &replica.inner.peers).await
        {
            tracing::error!(error = %removed, "removed from the group while running: stopping");
            replica.retire(removed.to_string());
            return;
        }
    }
}
