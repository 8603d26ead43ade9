//! Following a group's membership: the pool takes the members of its leader's view, keeping
//! the replicas that stay (and what the probes learned of them). Only the leader's view is
//! followed, and never one ordered before the view already followed: a follower's, or a
//! deposed leader's, may lack the latest change.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use api::MembershipView;

use super::{PoolReplica, ReplicaPool, Replicas};

/// What following a membership view did to a pool.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// The view was not followed, for this reason (not the leader's, another group's, older
    /// than the one followed, no members).
    Ignored(&'static str),
    /// The pool already held exactly the view's members.
    Unchanged,
    /// The pool now holds the view's members.
    Changed(MembershipChange),
}

/// Ids whose presence in a pool changed, each list in id order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MembershipChange {
    /// Members new to the pool.
    pub(crate) added: Vec<u64>,
    /// Replicas that are no longer members.
    pub(crate) removed: Vec<u64>,
    /// Members at a new address (their health starts afresh).
    pub(crate) moved: Vec<u64>,
}

impl ReplicaPool {
    /// Makes the pool hold the members of `view`, if it is this group's leader's view with at
    /// least one member, not ordered before the one followed so far: a replica whose id and
    /// address are unchanged is kept (with its health), a new member starts healthy, a replica
    /// no longer a member is dropped (requests that took it finish with it).
    pub(crate) fn reconcile(&self, view: &MembershipView) -> Reconciled {
        if let Some(why) = unfollowable(self.group, view) {
            return Reconciled::Ignored(why);
        }
        let mut members = self.members.write().unwrap_or_else(PoisonError::into_inner);
        let source = (view.term, view.config_index);
        if members.source.is_some_and(|followed| source < followed) {
            return Reconciled::Ignored("older than the view the pool follows");
        }
        members.source = Some(source);
        let addrs: BTreeMap<u64, &str> = view
            .members
            .iter()
            .map(|m| (m.id, m.addr.as_str()))
            .collect();
        let old: BTreeMap<u64, &Arc<PoolReplica>> =
            members.replicas.iter().map(|r| (r.id, r)).collect();
        let mut change = MembershipChange::default();
        let replicas: Replicas = addrs
            .iter()
            .map(|(&id, &addr)| match old.get(&id) {
                Some(kept) if kept.addr == addr => Arc::clone(kept),
                moved => {
                    let ids = if moved.is_some() {
                        &mut change.moved
                    } else {
                        &mut change.added
                    };
                    ids.push(id);
                    Arc::new(PoolReplica::new(id, addr))
                }
            })
            .collect();
        change.removed = old
            .keys()
            .filter(|id| !addrs.contains_key(id))
            .copied()
            .collect();
        if change == MembershipChange::default() {
            return Reconciled::Unchanged;
        }
        // The invariant `replicas` gives every request: ids distinct, in order, never empty.
        assert!(!replicas.is_empty() && replicas.windows(2).all(|w| w[0].id < w[1].id));
        members.replicas = replicas;
        Reconciled::Changed(change)
    }
}

/// Why `view` must not set the members of `group`'s pool, if it must not.
fn unfollowable(group: &str, view: &MembershipView) -> Option<&'static str> {
    if view.group != group {
        Some("another group's view")
    } else if view.leader != Some(view.answered_by) {
        // Only the leader's membership is the group's latest; a follower's may lag behind.
        Some("not the leader's view")
    } else if view.members.is_empty() {
        Some("a view without members")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use api::{Member, MemberRole, ReplicaRole};

    use super::*;
    use crate::pool::tests::{ids, pool, status};

    /// The orders membership as replica `answered_by` reports it, at `(term, config_index)`:
    /// `members` are `(id, port)` pairs on 127.0.0.1.
    fn membership(
        answered_by: u64,
        leader: Option<u64>,
        (term, config_index): (u64, u64),
        members: &[(u64, u16)],
    ) -> MembershipView {
        let members = members.iter().map(|&(id, port)| Member {
            id,
            addr: format!("127.0.0.1:{port}"),
            role: MemberRole::Voter,
            matched_index: None,
        });
        MembershipView {
            group: "orders".into(),
            answered_by,
            cluster_id: "c".into(),
            leader,
            term,
            last_log_index: config_index,
            config_index,
            changing: false,
            members: members.collect(),
        }
    }

    #[test]
    fn the_leaders_view_replaces_a_member_and_kept_replicas_keep_their_health() {
        // Goal: after `member replace 1 -> 4`, the pool holds 2, 3 and 4: replica 2 is the same
        // replica (still down, as the probes saw it), 3 keeps its status and stays the leader,
        // 4 starts healthy with no status, 1 is gone from reads, writes and the view.
        let pool = pool();
        let kept = pool.replica(2);
        assert!(kept.mark_down());
        pool.replica(3)
            .record_status(status(3, ReplicaRole::Leader, Some(3), 7));
        let view = membership(3, Some(3), (7, 40), &[(2, 2), (3, 3), (4, 8104)]);
        let change = MembershipChange {
            added: vec![4],
            removed: vec![1],
            moved: vec![],
        };
        assert_eq!(pool.reconcile(&view), Reconciled::Changed(change));
        assert_eq!(ids(&pool.replicas()), [2, 3, 4]);
        assert!(Arc::ptr_eq(&kept, &pool.replica(2)));
        assert!(!pool.replica(2).is_healthy());
        assert_eq!(pool.leader_and_term(), (Some(3), 7));
        assert_eq!(pool.leader_targets()[0].id, 3);
        let new = pool.replica(4);
        assert!(new.is_healthy() && new.view().status.is_none());
        assert_eq!(new.url("/books"), "http://127.0.0.1:8104/books");
        assert_eq!(
            ids(&pool.read_targets())[2],
            2,
            "the down replica is tried last"
        );
        let shown: Vec<u64> = pool.view().replicas.iter().map(|r| r.id).collect();
        assert_eq!(shown, [2, 3, 4]);
        assert_eq!(pool.reconcile(&view), Reconciled::Unchanged);
        assert!(
            Arc::ptr_eq(&new, &pool.replica(4)),
            "no change, same replica"
        );
    }

    #[test]
    fn only_the_leaders_latest_view_with_members_is_followed() {
        // Goal: a follower's view, a view naming no leader, another group's, an empty one and
        // one older than the view followed leave the pool as it was; a newer one moving a
        // member to another address replaces that replica, whose health starts afresh.
        let pool = pool();
        let members = [(2, 2), (3, 3), (4, 4)];
        let follower = membership(2, Some(3), (7, 40), &members);
        assert!(matches!(pool.reconcile(&follower), Reconciled::Ignored(_)));
        let leaderless = membership(2, None, (7, 40), &members);
        assert!(matches!(
            pool.reconcile(&leaderless),
            Reconciled::Ignored(_)
        ));
        let other_group = MembershipView {
            group: "catalog".into(),
            ..membership(3, Some(3), (7, 40), &members)
        };
        assert!(matches!(
            pool.reconcile(&other_group),
            Reconciled::Ignored(_)
        ));
        let empty = membership(3, Some(3), (7, 40), &[]);
        assert!(matches!(pool.reconcile(&empty), Reconciled::Ignored(_)));
        assert_eq!(ids(&pool.replicas()), [1, 2, 3]);
        let current = membership(3, Some(3), (7, 40), &[(1, 1), (2, 2), (3, 3)]);
        assert_eq!(pool.reconcile(&current), Reconciled::Unchanged);
        let deposed = membership(1, Some(1), (6, 50), &members);
        assert!(matches!(pool.reconcile(&deposed), Reconciled::Ignored(_)));
        assert_eq!(ids(&pool.replicas()), [1, 2, 3]);
        assert!(pool.replica(2).mark_down());
        let moved = membership(3, Some(3), (7, 41), &[(1, 1), (2, 9002), (3, 3)]);
        let change = MembershipChange {
            added: vec![],
            removed: vec![],
            moved: vec![2],
        };
        assert_eq!(pool.reconcile(&moved), Reconciled::Changed(change));
        let replica = pool.replica(2);
        assert_eq!(
            (replica.addr.as_str(), replica.is_healthy()),
            ("127.0.0.1:9002", true)
        );
    }
}
