//! The replicas of one group as the frontend sees them: address, health and last `/status`, and
//! the order in which a request tries them.
//!
//! Health is learned two ways: the probe task (`probe.rs`) asks every replica for `/status`
//! periodically, and a request that cannot connect marks its replica down at once. A replica
//! starts healthy, so the first requests go out before the first probe finished. Unhealthy
//! replicas are still tried, last: the health may be stale.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use api::{GroupView, ReplicaRole, ReplicaStatus, ReplicaView};

/// One replica of a group.
#[derive(Debug)]
pub(crate) struct PoolReplica {
    /// Replica id: position in the configuration, from 1.
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

/// The replicas of one group, id = index + 1.
#[derive(Debug)]
pub(crate) struct ReplicaPool {
    group: &'static str,
    replicas: Vec<PoolReplica>,
    /// Round-robin position of reads; wraps around.
    next_read: AtomicUsize,
}

impl ReplicaPool {
    /// A pool of `group` over `addrs`, all assumed healthy until shown otherwise.
    pub(crate) fn new(group: &'static str, addrs: &[String]) -> Self {
        let replicas = (1..)
            .zip(addrs)
            .map(|(id, addr)| PoolReplica {
                id,
                addr: addr.clone(),
                base_url: format!("http://{addr}"),
                health: Mutex::new(Health {
                    healthy: true,
                    status: None,
                }),
            })
            .collect();
        Self {
            group,
            replicas,
            next_read: AtomicUsize::new(0),
        }
    }

    /// `catalog` or `orders`.
    pub(crate) fn group(&self) -> &'static str {
        self.group
    }

    /// Every replica, in id order.
    pub(crate) fn replicas(&self) -> &[PoolReplica] {
        &self.replicas
    }

    /// Order for a read: healthy replicas round-robin, then the unhealthy ones.
    pub(crate) fn read_targets(&self) -> Vec<&PoolReplica> {
        let start = self.next_read.fetch_add(1, Ordering::Relaxed);
        let len = self.replicas.len();
        let rotated = (0..len).map(|i| &self.replicas[(start + i) % len]);
        healthy_first(rotated.collect())
    }

    /// Order for a write: the leader (if known and healthy), then as for a read.
    pub(crate) fn leader_targets(&self) -> Vec<&PoolReplica> {
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
            .replicas
            .iter()
            .filter_map(|r| r.health().status.clone())
            .collect();
        statuses
            .iter()
            .max_by_key(|s| (s.term, s.role == ReplicaRole::Leader))
            .map_or((None, 0), |s| (s.leader, s.term))
    }

    /// Replicas currently healthy.
    /// Replica `id` (from 1), for tests that set what the probes saw.
    #[cfg(test)]
    pub(crate) fn replica(&self, id: u64) -> &PoolReplica {
        &self.replicas[usize::try_from(id - 1).unwrap()]
    }

    pub(crate) fn healthy_count(&self) -> usize {
        self.replicas.iter().filter(|r| r.is_healthy()).count()
    }

    /// The group as `GET /cluster` shows it.
    pub(crate) fn view(&self) -> GroupView {
        let (leader, term) = self.leader_and_term();
        GroupView {
            name: self.group.to_string(),
            leader,
            term,
            replicas: self.replicas.iter().map(PoolReplica::view).collect(),
        }
    }
}

/// Stable partition: healthy replicas keep their order, unhealthy ones follow.
fn healthy_first(replicas: Vec<&PoolReplica>) -> Vec<&PoolReplica> {
    let (mut healthy, unhealthy): (Vec<_>, Vec<_>) =
        replicas.into_iter().partition(|r| r.is_healthy());
    healthy.extend(unhealthy);
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: ReplicaRole, leader: Option<u64>, term: u64) -> ReplicaStatus {
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

    fn pool() -> ReplicaPool {
        let addrs: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:{i}")).collect();
        ReplicaPool::new("orders", &addrs)
    }

    fn ids(targets: &[&PoolReplica]) -> Vec<u64> {
        targets.iter().map(|r| r.id).collect()
    }

    #[test]
    fn reads_rotate_over_healthy_replicas_and_try_unhealthy_ones_last() {
        // Goal: round-robin reads skip a down replica but still list it as a last resort.
        let pool = pool();
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [2, 3, 1]);
        assert!(pool.replicas()[2].mark_down());
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [1, 2, 3]);
        assert_eq!(ids(&pool.read_targets()), [2, 1, 3]);
        assert_eq!(pool.healthy_count(), 2);
    }

    #[test]
    fn writes_go_to_the_leader_of_the_highest_term() {
        // Goal: a stale leader report (lower term) does not win; the group view says the same.
        let pool = pool();
        pool.replicas()[0].record_status(status(1, ReplicaRole::Leader, Some(1), 3));
        pool.replicas()[1].record_status(status(2, ReplicaRole::Follower, Some(3), 4));
        pool.replicas()[2].record_status(status(3, ReplicaRole::Leader, Some(3), 4));
        assert_eq!(pool.leader_and_term(), (Some(3), 4));
        assert_eq!(pool.leader_targets()[0].id, 3);
        let view = pool.view();
        assert_eq!(
            (view.name.as_str(), view.leader, view.term),
            ("orders", Some(3), 4)
        );
        assert!(pool.replicas()[2].mark_down());
        assert_eq!(pool.leader_and_term(), (Some(3), 4));
        assert_ne!(
            pool.leader_targets()[0].id,
            3,
            "a down leader is tried last"
        );
    }
}
