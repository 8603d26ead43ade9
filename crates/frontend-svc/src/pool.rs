//! The replicas of one group as the frontend sees them: address, health and last `/status`, and
//! the order in which a request tries them.
//!
//! Health is learned two ways: the probe task (`probe.rs`) asks every replica for `/status`
//! periodically, and a request that cannot connect marks its replica down at once. A replica
//! starts healthy, so the first requests go out before the first probe finished. Unhealthy
//! replicas are still tried, last: the health may be stale.
//!
//! Which replicas there are is the group's membership, which lives in its Raft log: the
//! configured addresses only seed the pool, which then follows the leader's view of the
//! membership (`membership`: `ReplicaPool::reconcile`; the probe wave fetches the view). The
//! set is swapped whole: a request works on the snapshot it took, and no lock is held across
//! an await.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use api::{GroupView, ReplicaRole, ReplicaStatus, ReplicaView};

mod membership;

pub(crate) use membership::Reconciled;

/// One replica of a group.
#[derive(Debug)]
pub(crate) struct PoolReplica {
    /// Replica id, as the group's membership names it (from 1; never reused within a group).
    pub(crate) id: u64,
    /// `host:port`.
    pub(crate) addr: String,
    base_url: String,
    /// A std mutex: nothing is awaited while it is held, and each hold is a few field copies.
    health: Mutex<Health>,
}

#[derive(Debug)]
struct Health {
    healthy: bool,
    status: Option<ReplicaStatus>,
}

impl PoolReplica {
    /// Replica `id` at `addr`, assumed healthy until shown otherwise.
    fn new(id: u64, addr: &str) -> Self {
        Self {
            id,
            addr: addr.to_string(),
            base_url: format!("http://{addr}"),
            health: Mutex::new(Health {
                healthy: true,
                status: None,
            }),
        }
    }

    /// The URL of `path_and_query` (which starts with `/`) on this replica.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url)
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether requests currently go to it first.
    pub(crate) fn is_healthy(&self) -> bool {
        self.health().healthy
    }

    /// It answered a request: it is up (its status stays as the last probe saw it).
    pub(crate) fn mark_healthy(&self) {
        self.health().healthy = true;
    }

    /// It could not be reached: down until a probe or a request reaches it again. Returns
    /// whether it was healthy until now (so that only the change is logged).
    pub(crate) fn mark_down(&self) -> bool {
        let mut health = self.health();
        health.status = None;
        std::mem::replace(&mut health.healthy, false)
    }

    /// A probe got its `/status`.
    pub(crate) fn record_status(&self, status: ReplicaStatus) {
        let mut health = self.health();
        health.healthy = true;
        health.status = Some(status);
    }

    fn view(&self) -> ReplicaView {
        let health = self.health();
        ReplicaView {
            id: self.id,
            addr: self.addr.clone(),
            healthy: health.healthy,
            status: health.status.clone(),
        }
    }
}

/// A snapshot of a group's replicas, in id order: what one request or one probe wave works on,
/// unchanged by a reconciliation meanwhile.
pub(crate) type Replicas = Arc<[Arc<PoolReplica>]>;

/// The replica set, and the view it follows.
#[derive(Debug)]
struct Members {
    replicas: Replicas,
    /// `(term, config_index)` of the leader's view it follows; `None` while it is the
    /// configuration's. A view ordered before it (a deposed leader's) is not followed.
    source: Option<(u64, u64)>,
}

/// The replicas of one group.
#[derive(Debug)]
pub(crate) struct ReplicaPool {
    group: &'static str,
    /// A std lock: each hold clones or swaps one `Arc` (or, to reconcile, builds a few), nothing
    /// is awaited under it, and requests work on the snapshot they took.
    members: RwLock<Members>,
    /// Round-robin position of reads; wraps around.
    next_read: AtomicUsize,
}

impl ReplicaPool {
    /// A pool of `group` over its configured `addrs` (replica id = position + 1), all assumed
    /// healthy until shown otherwise.
    pub(crate) fn new(group: &'static str, addrs: &[String]) -> Self {
        let replicas = (1..)
            .zip(addrs)
            .map(|(id, addr)| Arc::new(PoolReplica::new(id, addr)))
            .collect();
        Self {
            group,
            members: RwLock::new(Members {
                replicas,
                source: None,
            }),
            next_read: AtomicUsize::new(0),
        }
    }

    /// `catalog` or `orders`.
    pub(crate) fn group(&self) -> &'static str {
        self.group
    }

    /// Every replica now, in id order.
    pub(crate) fn replicas(&self) -> Replicas {
        let members = self.members.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&members.replicas)
    }

    /// Order for a read: healthy replicas round-robin, then the unhealthy ones.
    pub(crate) fn read_targets(&self) -> Vec<Arc<PoolReplica>> {
        let replicas = self.replicas();
        let start = self.next_read.fetch_add(1, Ordering::Relaxed);
        let len = replicas.len();
        let rotated = (0..len).map(|i| Arc::clone(&replicas[(start + i) % len]));
        healthy_first(rotated.collect())
    }

    /// Order for a write: the leader (if known and healthy), then as for a read.
    pub(crate) fn leader_targets(&self) -> Vec<Arc<PoolReplica>> {
        let mut targets = self.read_targets();
        if let Some(leader) = self.leader_and_term().0 {
            if let Some(pos) = targets
                .iter()
                .position(|r| r.id == leader && r.is_healthy())
            {
                let replica = targets.remove(pos);
                targets.insert(0, replica);
            }
        }
        targets
    }

    /// Leader and term as reported by the replica with the highest term (a leader wins ties).
    pub(crate) fn leader_and_term(&self) -> (Option<u64>, u64) {
        let statuses: Vec<ReplicaStatus> = self
            .replicas()
            .iter()
            .filter_map(|r| r.health().status.clone())
            .collect();
        statuses
            .iter()
            .max_by_key(|s| (s.term, s.role == ReplicaRole::Leader))
            .map_or((None, 0), |s| (s.leader, s.term))
    }

    /// Replica `id`, for tests that set what the probes saw.
    ///
    /// # Panics
    /// If it is not in the pool.
    #[cfg(test)]
    pub(crate) fn replica(&self, id: u64) -> Arc<PoolReplica> {
        let replicas = self.replicas();
        let found = replicas.iter().find(|r| r.id == id);
        Arc::clone(found.unwrap_or_else(|| panic!("replica {id} is not in the pool")))
    }

    /// Replicas currently healthy.
    pub(crate) fn healthy_count(&self) -> usize {
        self.replicas().iter().filter(|r| r.is_healthy()).count()
    }

    /// The group as `GET /cluster` shows it.
    pub(crate) fn view(&self) -> GroupView {
        let (leader, term) = self.leader_and_term();
        GroupView {
            name: self.group.to_string(),
            leader,
            term,
            replicas: self.replicas().iter().map(|r| r.view()).collect(),
        }
    }
}

/// Stable partition: healthy replicas keep their order, unhealthy ones follow.
fn healthy_first(replicas: Vec<Arc<PoolReplica>>) -> Vec<Arc<PoolReplica>> {
    let (mut healthy, unhealthy): (Vec<_>, Vec<_>) =
        replicas.into_iter().partition(|r| r.is_healthy());
    healthy.extend(unhealthy);
    healthy
}

/// The pool's tests; their helpers serve `membership`'s too.
#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn status(
        id: u64,
        role: ReplicaRole,
        leader: Option<u64>,
        term: u64,
    ) -> ReplicaStatus {
        ReplicaStatus {
            group: "orders".into(),
            id,
            role,
            leader,
            term,
            last_log_index: 0,
            last_applied: 0,
            snapshot_index: 0,
            last_purged: 0,
            digest: String::new(),
        }
    }

    pub(super) fn pool() -> ReplicaPool {
        let addrs: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:{i}")).collect();
        ReplicaPool::new("orders", &addrs)
    }

    pub(super) fn ids(targets: &[Arc<PoolReplica>]) -> Vec<u64> {
        targets.iter().map(|r| r.id).collect()
    }

    #[test]
    fn reads_rotate_over_healthy_replicas_and_try_unhealthy_ones_last() {
        // Goal: round-robin reads skip a down replica but still list it as a last resort.
        let pool = pool();
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [2, 3, 1]);
        assert!(pool.replica(3).mark_down());
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [2, 1, 3]);
        assert_eq!(pool.healthy_count(), 2);
    }

    #[test]
    fn writes_go_to_the_leader_of_the_highest_term() {
        // Goal: a stale leader report (lower term) does not win; the group view says the same.
        let pool = pool();
        pool.replica(1)
            .record_status(status(1, ReplicaRole::Leader, Some(1), 3));
        pool.replica(2)
            .record_status(status(2, ReplicaRole::Follower, Some(3), 4));
        pool.replica(3)
            .record_status(status(3, ReplicaRole::Leader, Some(3), 4));
        assert_eq!(pool.leader_and_term(), (Some(3), 4));
        assert_eq!(pool.leader_targets()[0].id, 3);
        let view = pool.view();
        assert_eq!(
            (view.name.as_str(), view.leader, view.term),
            ("orders", Some(3), 4)
        );
        assert!(pool.replica(3).mark_down());
        assert_eq!(pool.leader_and_term(), (Some(3), 4));
        assert_ne!(
            pool.leader_targets()[0].id,
            3,
            "a down leader is tried last"
        );
    }
}
