//! The body of `GET /ui/state`: what the page shows, derived from the probes' view of both
//! groups, the cache's counters and this frontend's recorders. Shows no secret: addresses,
//! indexes, digests and counters only.

use api::{CacheView, GroupView, ReplicaRole, ReplicaView};
use serde::Serialize;

use super::recent::LeaderChange;
use super::traffic::SecondSummary;

/// Everything `/ui` shows, in one answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UiState {
    /// When this answer was made, milliseconds since the Unix epoch.
    pub(crate) now_unix_ms: u64,
    /// How often the page asks again, in milliseconds.
    pub(crate) refresh_ms: u64,
    /// The catalog group, then the order group.
    pub(crate) groups: Vec<UiGroup>,
    /// This frontend's cache; `null` when it runs without one.
    pub(crate) cache: Option<UiCache>,
    /// Answers of this frontend's public API, per second.
    pub(crate) traffic: UiTraffic,
    /// Leader changes this frontend saw, newest first.
    pub(crate) leader_changes: Vec<LeaderChange>,
}

/// One group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UiGroup {
    /// `catalog` or `orders`.
    pub(crate) name: String,
    /// Leader id (the report of the highest term wins); `null` while unknown.
    pub(crate) leader: Option<u64>,
    /// Highest term reported.
    pub(crate) term: u64,
    /// Every replica, in id order.
    pub(crate) replicas: Vec<UiReplica>,
}

/// One replica. The fields from its `/status` are `null` while it does not answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UiReplica {
    /// Replica id, from 1.
    pub(crate) id: u64,
    /// `host:port`.
    pub(crate) addr: String,
    /// Whether its last probe (or request) reached it.
    pub(crate) healthy: bool,
    /// Its role.
    pub(crate) role: Option<ReplicaRole>,
    /// Its term.
    pub(crate) term: Option<u64>,
    /// Index of the last entry it applied.
    pub(crate) applied: Option<u64>,
    /// Entries it has applied fewer than the leader; `null` when either is unknown.
    pub(crate) lag: Option<u64>,
    /// Hex digest of its state.
    pub(crate) digest: Option<String>,
    /// Whether its digest equals those of replicas at the same applied index.
    pub(crate) digest_agreement: DigestAgreement,
}

/// A replica's digest against its peers'. Equal digests at equal applied index mean equal
/// state; at different indexes digests say nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DigestAgreement {
    /// Every peer at the same applied index has the same digest (and there is one).
    Agrees,
    /// A peer at the same applied index has another digest: the replicas diverged.
    Differs,
    /// No peer at the same applied index, or no digest: nothing to compare.
    Unknown,
}

/// The cache, as the page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UiCache {
    /// Entries now (approximate).
    pub(crate) entries: u64,
    /// Most entries kept.
    pub(crate) capacity: u64,
    /// Answers served from the cache since the frontend started.
    pub(crate) hits: u64,
    /// Cacheable requests read from a replica since the frontend started.
    pub(crate) misses: u64,
    /// `hits / (hits + misses)`, from 0 to 1; `null` before the first cacheable request.
    pub(crate) hit_rate: Option<f64>,
    /// Whether it holds a lease from the catalog leader (hits are served only then).
    pub(crate) lease_held: bool,
    /// Catalog term of its registration.
    pub(crate) lease_term: u64,
}

/// Per-second answers of the public API (the page's own requests to `/ui` excluded).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UiTraffic {
    /// Seconds covered at most.
    pub(crate) window_s: u64,
    /// One per completed second since the frontend started, at most `window_s`, oldest first.
    pub(crate) points: Vec<TrafficPoint>,
}

/// One second of answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrafficPoint {
    /// How many seconds ago it ended.
    pub(crate) ago_s: u64,
    /// Answers given.
    pub(crate) requests: u64,
    /// Of which 429 or 5xx.
    pub(crate) failures: u64,
    /// Median latency, in milliseconds; `null` without answers.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile latency, in milliseconds.
    pub(crate) p99_ms: Option<f64>,
    /// Largest latency, in milliseconds.
    pub(crate) max_ms: Option<f64>,
}

impl UiGroup {
    /// `group` as the probes see it, with each replica's lag and digest agreement.
    pub(crate) fn of(group: GroupView) -> Self {
        let leader_applied = group
            .replicas
            .iter()
            .find(|r| Some(r.id) == group.leader)
            .and_then(|r| r.status.as_ref())
            .map(|s| s.last_applied);
        let replicas = group
            .replicas
            .iter()
            .map(|r| UiReplica::of(r, leader_applied, &group.replicas))
            .collect();
        Self {
            name: group.name,
            leader: group.leader,
            term: group.term,
            replicas,
        }
    }
}

impl UiReplica {
    fn of(replica: &ReplicaView, leader_applied: Option<u64>, peers: &[ReplicaView]) -> Self {
        let status = replica.status.as_ref();
        let applied = status.map(|s| s.last_applied);
        Self {
            id: replica.id,
            addr: replica.addr.clone(),
            healthy: replica.healthy,
            role: status.map(|s| s.role),
            term: status.map(|s| s.term),
            applied,
            lag: leader_applied
                .zip(applied)
                .map(|(leader, own)| leader.saturating_sub(own)),
            digest: status.map(|s| s.digest.clone()),
            digest_agreement: agreement(replica, peers),
        }
    }
}

/// `replica`'s digest against those of `peers` at the same applied index.
fn agreement(replica: &ReplicaView, peers: &[ReplicaView]) -> DigestAgreement {
    let Some(own) = replica.status.as_ref().filter(|s| !s.digest.is_empty()) else {
        return DigestAgreement::Unknown;
    };
    let comparable: Vec<&str> = peers
        .iter()
        .filter(|p| p.id != replica.id)
        .filter_map(|p| p.status.as_ref())
        .filter(|s| s.last_applied == own.last_applied && !s.digest.is_empty())
        .map(|s| s.digest.as_str())
        .collect();
    if comparable.is_empty() {
        DigestAgreement::Unknown
    } else if comparable.iter().all(|d| *d == own.digest) {
        DigestAgreement::Agrees
    } else {
        DigestAgreement::Differs
    }
}

impl From<CacheView> for UiCache {
    fn from(cache: CacheView) -> Self {
        let asked = cache.hits.saturating_add(cache.misses);
        #[allow(clippy::cast_precision_loss)] // A ratio for a page: 2^53 requests are far off.
        let hit_rate = (asked > 0).then(|| cache.hits as f64 / asked as f64);
        Self {
            entries: cache.entries,
            capacity: cache.capacity,
            hits: cache.hits,
            misses: cache.misses,
            hit_rate,
            lease_held: cache.lease_held,
            lease_term: cache.term,
        }
    }
}

impl From<(u64, SecondSummary)> for TrafficPoint {
    fn from((ago_s, second): (u64, SecondSummary)) -> Self {
        let [p50_ms, p99_ms, max_ms] = match second.latency_ms {
            Some(ms) => ms.map(Some),
            None => [None; 3],
        };
        Self {
            ago_s,
            requests: second.requests,
            failures: second.failures,
            p50_ms,
            p99_ms,
            max_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use api::ReplicaStatus;

    use super::*;

    fn replica(id: u64, status: Option<(ReplicaRole, u64, &str)>) -> ReplicaView {
        ReplicaView {
            id,
            addr: format!("127.0.0.1:{id}"),
            healthy: status.is_some(),
            status: status.map(|(role, last_applied, digest)| ReplicaStatus {
                group: "catalog".into(),
                id,
                role,
                leader: Some(1),
                term: 4,
                last_log_index: last_applied,
                last_applied,
                snapshot_index: 0,
                last_purged: 0,
                digest: digest.into(),
            }),
        }
    }

    fn group(replicas: Vec<ReplicaView>) -> UiGroup {
        UiGroup::of(GroupView {
            name: "catalog".into(),
            leader: Some(1),
            term: 4,
            replicas,
        })
    }

    #[test]
    fn lag_is_behind_the_leaders_applied_index_and_unknown_for_a_down_replica() {
        // Goal: lag = leader's applied - own applied; a down replica has no status, no lag.
        let view = group(vec![
            replica(1, Some((ReplicaRole::Leader, 10, "aa"))),
            replica(2, Some((ReplicaRole::Follower, 7, "bb"))),
            replica(3, None),
        ]);
        let lags: Vec<Option<u64>> = view.replicas.iter().map(|r| r.lag).collect();
        assert_eq!(lags, [Some(0), Some(3), None]);
        assert_eq!(view.replicas[2].role, None);
        assert!(!view.replicas[2].healthy);
    }

    #[test]
    fn digests_are_compared_only_at_equal_applied_indexes() {
        // Goal: equal digests at one index agree, a different digest at the same index
        // differs (for both sides), and a replica alone at its index is unknown.
        let view = group(vec![
            replica(1, Some((ReplicaRole::Leader, 10, "aa"))),
            replica(2, Some((ReplicaRole::Follower, 10, "aa"))),
            replica(3, Some((ReplicaRole::Follower, 9, "cc"))),
        ]);
        let agreements: Vec<DigestAgreement> =
            view.replicas.iter().map(|r| r.digest_agreement).collect();
        use DigestAgreement::{Agrees, Differs, Unknown};
        assert_eq!(agreements, [Agrees, Agrees, Unknown]);
        let diverged = group(vec![
            replica(1, Some((ReplicaRole::Leader, 10, "aa"))),
            replica(2, Some((ReplicaRole::Follower, 10, "ab"))),
            replica(3, None),
        ]);
        let agreements: Vec<DigestAgreement> = diverged
            .replicas
            .iter()
            .map(|r| r.digest_agreement)
            .collect();
        assert_eq!(agreements, [Differs, Differs, Unknown]);
    }

    #[test]
    fn the_hit_rate_is_a_ratio_and_absent_before_any_cacheable_request() {
        // Goal: hits / (hits + misses), none without requests (never NaN in the JSON).
        let mut view = CacheView {
            capacity: 100,
            entries: 3,
            hits: 3,
            misses: 1,
            invalidations: 0,
            evictions: 0,
            refused_stale_inserts: 0,
            lease_held: true,
            term: 2,
            session: 1,
        };
        assert_eq!(UiCache::from(view.clone()).hit_rate, Some(0.75));
        (view.hits, view.misses) = (0, 0);
        assert_eq!(UiCache::from(view).hit_rate, None);
    }
}
