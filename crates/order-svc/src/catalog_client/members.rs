//! The catalog addresses the client calls. The catalog group's membership lives in its Raft log
//! (`pygmy member` changes it), so the configured addresses only seed the list: the client
//! follows the catalog leader's view of the membership, looked at every few seconds in the
//! background and after a call that reached no catalog replica. The configured addresses stay
//! a fallback to ask, in case every followed one moved since the last look.
//!
//! A replica's client keeps the view it follows in the replica directory, and starts from it
//! after a restart; it also asks the catalog replicas recorded in a shared data directory
//! (`on_disk`).
//!
//! Only the leader's view is followed, and never one ordered before the view followed (by term,
//! then membership log index): a follower's, or a deposed leader's, may lack the latest change.

mod on_disk;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use api::membership::MEMBERS_PATH;
use api::MembershipView;
use runtime::GroupName;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::CatalogClient;
pub use on_disk::CatalogDirs;
use on_disk::{KeptView, ViewKeeper};

/// Time between two looks at the membership in the background: how long the client may call
/// addresses a membership change left behind (a call still reaches the group through any
/// replica that remains).
const LOOK_INTERVAL: Duration = Duration::from_secs(3);
/// Least time between two looks: calls failing one after another while the catalog group is
/// down ask at most once per this interval.
const LOOK_GAP_MIN: Duration = Duration::from_secs(1);
/// Time one catalog replica gets to answer its view.
const VIEW_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the catalog replicas are: the addresses of the leader's last view (kept across
/// restarts when the client has a directory), else the configured ones.
#[derive(Debug)]
pub(super) struct CatalogAddrs {
    configured: Arc<[String]>,
    /// A std lock: each hold clones or swaps an `Arc`, and nothing is awaited under it.
    followed: RwLock<Followed>,
    /// When the last look began, for [`LOOK_GAP_MIN`].
    looked_at: Mutex<Option<Instant>>,
    /// Writes the followed view into the replica directory; `None`: kept in memory only.
    keeper: Option<Arc<ViewKeeper>>,
    /// Where catalog replicas on this machine keep their membership records, if known.
    data_dir: Option<PathBuf>,
}

/// The addresses calls go to, and the view they come from.
#[derive(Debug)]
struct Followed {
    addrs: Arc<[String]>,
    /// `(term, config_index)` of the leader's view followed; `None`: the configured addresses.
    source: Option<(u64, u64)>,
}

impl CatalogAddrs {
    /// The `configured` addresses, until a leader's view is followed; with `dirs`, the view
    /// kept in the replica directory, if there is a usable one, is followed from the start.
    pub(super) fn new(configured: Vec<String>, dirs: Option<&CatalogDirs>) -> Self {
        let configured: Arc<[String]> = configured.into();
        let kept = dirs.and_then(|dirs| on_disk::load(&dirs.replica_dir));
        let followed = match &kept {
            Some(kept) => Followed {
                addrs: kept.addrs.clone().into(),
                source: Some(kept.source()),
            },
            None => Followed {
                addrs: Arc::clone(&configured),
                source: None,
            },
        };
        let keeper = dirs.map(|dirs| {
            let written = kept.as_ref().map(KeptView::source);
            Arc::new(ViewKeeper::new(dirs.replica_dir.clone(), written))
        });
        Self {
            followed: RwLock::new(followed),
            configured,
            looked_at: Mutex::new(None),
            keeper,
            data_dir: dirs.map(|dirs| dirs.data_dir.clone()),
        }
    }

    /// The addresses calls go to now, in member id order.
    pub(super) fn current(&self) -> Arc<[String]> {
        let followed = self.followed.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&followed.addrs)
    }

    /// Whom a look asks: the current addresses, then the `recorded` ones (the catalog
    /// replicas' own records), then the configured ones, each once.
    fn to_ask(&self, recorded: &[String]) -> Vec<String> {
        let mut addrs = self.current().to_vec();
        for addr in recorded.iter().chain(self.configured.iter()) {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }

    /// Whether a look may begin at `now` ([`LOOK_GAP_MIN`] after the last one); if so, it is
    /// the last one from now on.
    fn may_look(&self, now: Instant) -> bool {
        let mut looked_at = self
            .looked_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if looked_at.is_some_and(|at| now < at + LOOK_GAP_MIN) {
            return false;
        }
        *looked_at = Some(now);
        true
    }

    /// Calls go to the members of `view` from now on, if it is the catalog leader's view with
    /// members, not ordered before the view followed so far. Returns whether the addresses
    /// called are new: they changed, or this is the first view followed (the configured
    /// addresses were called until now, and no view is kept yet).
    fn follow(&self, view: &MembershipView) -> Result<bool, &'static str> {
        if view.group != GroupName::Catalog.as_str() {
            return Err("another group's view");
        }
        if view.leader != Some(view.answered_by) {
            return Err("not the leader's view");
        }
        if view.members.is_empty() {
            return Err("a view without members");
        }
        let mut followed = self
            .followed
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let source = (view.term, view.config_index);
        if followed.source.is_some_and(|seen| source < seen) {
            return Err("older than the view followed");
        }
        let addrs: Arc<[String]> = view.members.iter().map(|m| m.addr.clone()).collect();
        let changed = followed.source.is_none() || addrs != followed.addrs;
        *followed = Followed {
            addrs,
            source: Some(source),
        };
        Ok(changed)
    }
}

impl CatalogClient {
    /// Looks at the catalog membership every [`LOOK_INTERVAL`] until `cancel` fires. Meant to
    /// run for the life of the replica.
    pub async fn follow_members(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.look(Instant::now() + LOOK_INTERVAL) => {}
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(LOOK_INTERVAL) => {}
            }
        }
    }

    /// Asks the catalog replicas, one after another until `deadline`, for the leader's view of
    /// the membership, and follows the first one learned; no more than once per
    /// [`LOOK_GAP_MIN`].
    pub(super) async fn look(&self, deadline: Instant) {
        let now = Instant::now();
        if now >= deadline || !self.addrs.may_look(now) {
            return;
        }
        let recorded = self.recorded_addrs().await;
        for addr in self.addrs.to_ask(&recorded) {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return;
            }
            let view = match self.leader_view(&addr, wait.min(VIEW_TIMEOUT)).await {
                Ok(view) => view,
                Err(reason) => {
                    tracing::debug!(addr, %reason, "no catalog membership from this replica");
                    continue;
                }
            };
            match self.addrs.follow(&view) {
                Ok(changed) => {
                    self.followed(&view, changed);
                    if changed {
                        self.keep_view().await;
                    }
                    return;
                }
                Err(why) => tracing::debug!(addr, why, "catalog membership view not followed"),
            }
        }
    }

    /// After following `view`: calls start at its leader; a change is logged.
    fn followed(&self, view: &MembershipView, changed: bool) {
        let current = self.addrs.current();
        let leader = view.member(view.answered_by).map(|m| &m.addr);
        if let Some(at) = current.iter().position(|a| Some(a) == leader) {
            self.preferred.store(at, Ordering::Relaxed);
        }
        if changed {
            let (leader, term, addrs) = (view.answered_by, view.term, current.join(", "));
            tracing::info!(
                leader,
                term,
                addrs,
                "following the catalog membership; calling its members"
            );
        }
    }

    /// The view of the catalog replica at `addr` or, when it names another member as leader,
    /// that leader's view; each request within `timeout`.
    async fn leader_view(&self, addr: &str, timeout: Duration) -> Result<MembershipView, String> {
        let view = self.fetch_view(addr, timeout).await?;
        let leader = match view.leader {
            Some(leader) if leader != view.answered_by => view.member(leader),
            _ => None,
        };
        match leader {
            Some(leader) => self.fetch_view(&leader.addr, timeout).await,
            None => Ok(view),
        }
    }

    /// `GET /raft/members` of `addr` with the cluster token, within `timeout`.
    async fn fetch_view(&self, addr: &str, timeout: Duration) -> Result<MembershipView, String> {
        let response = self
            .http
            .get(format!("http://{addr}{MEMBERS_PATH}"))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {MEMBERS_PATH} answered {status}"));
        }
        response.json().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_client::ReserveAnswer;
    use crate::testutil::{catalog_view as view, dead_addr, reserve, FakeCatalog};

    #[test]
    fn calls_go_to_the_leaders_latest_view_and_the_configured_addresses_stay_to_ask() {
        // Goal: until a leader's view is followed the configured addresses are called; then
        // its members are, in id order, with the addresses the catalog replicas record, then
        // the configured ones left over, still asked in a look; a follower's, another group's,
        // an empty or an older view changes nothing.
        let addrs = CatalogAddrs::new(vec!["a:1".into(), "a:2".into(), "a:3".into()], None);
        assert_eq!(&*addrs.current(), ["a:1", "a:2", "a:3"]);
        let members = [(2, "a:2"), (3, "a:3"), (4, "b:4")];
        assert!(addrs.follow(&view(2, Some(4), 5, &members)).is_err());
        assert!(addrs.follow(&view(4, Some(4), 5, &[])).is_err());
        let orders = MembershipView {
            group: "orders".into(),
            ..view(4, Some(4), 5, &members)
        };
        assert!(addrs.follow(&orders).is_err());
        assert_eq!(&*addrs.current(), ["a:1", "a:2", "a:3"]);
        assert_eq!(addrs.follow(&view(4, Some(4), 5, &members)), Ok(true));
        assert_eq!(&*addrs.current(), ["a:2", "a:3", "b:4"]);
        assert_eq!(addrs.to_ask(&[]), ["a:2", "a:3", "b:4", "a:1"]);
        let recorded = ["b:5".to_string(), "a:1".to_string(), "a:3".to_string()];
        assert_eq!(addrs.to_ask(&recorded), ["a:2", "a:3", "b:4", "b:5", "a:1"]);
        assert_eq!(addrs.follow(&view(4, Some(4), 5, &members)), Ok(false));
        let deposed = view(1, Some(1), 4, &[(1, "a:1"), (2, "a:2"), (3, "a:3")]);
        assert!(addrs.follow(&deposed).is_err());
        assert_eq!(&*addrs.current(), ["a:2", "a:3", "b:4"]);
    }

    #[test]
    fn the_first_view_followed_is_new_even_at_the_configured_addresses() {
        // Goal: a view naming exactly the configured addresses is still new the first time
        // (so it is kept for the next start), and only then is the same view not new.
        let addrs = CatalogAddrs::new(vec!["a:1".into(), "a:2".into()], None);
        let members = [(1, "a:1"), (2, "a:2")];
        assert_eq!(addrs.follow(&view(1, Some(1), 3, &members)), Ok(true));
        assert_eq!(addrs.follow(&view(1, Some(1), 3, &members)), Ok(false));
        assert_eq!(addrs.follow(&view(2, Some(2), 4, &members)), Ok(false));
    }

    #[test]
    fn looks_are_at_least_the_least_gap_apart() {
        // Goal: calls failing one after another ask for the membership once per gap.
        let addrs = CatalogAddrs::new(vec!["a:1".into()], None);
        let start = Instant::now();
        assert!(addrs.may_look(start));
        assert!(!addrs.may_look(start + LOOK_GAP_MIN / 2));
        assert!(addrs.may_look(start + LOOK_GAP_MIN));
    }

    #[tokio::test]
    async fn a_call_that_reaches_no_catalog_replica_follows_the_leader_it_is_told_of() {
        // Goal: when every address followed is gone (the members moved since the last look),
        // the failed round looks at the membership, through a configured replica that names the
        // new leader, and the retried reservation is held there. Method: the client follows a
        // view whose one member is dead; replica 3 (configured) names 6 as leader.
        let old = FakeCatalog::start().await;
        let new = FakeCatalog::start().await;
        let members = [(3, old.addr.as_str()), (6, new.addr.as_str())];
        old.set_view(view(3, Some(6), 6, &members));
        new.set_view(view(6, Some(6), 6, &members));
        let client = Arc::new(CatalogClient::new(vec![old.addr.clone()], "token".into()));
        let dead_addr = dead_addr().await;
        let stale = client
            .addrs
            .follow(&view(4, Some(4), 5, &[(4, &dead_addr)]));
        assert_eq!(stale, Ok(true));
        let answer = reserve(&client).await;
        assert!(matches!(answer, ReserveAnswer::Held(_)), "{answer:?}");
        assert_eq!((old.reserves(), new.reserves()), (0, 1));
        assert_eq!(
            &*client.addrs.current(),
            [old.addr.clone(), new.addr.clone()]
        );
    }

    #[tokio::test]
    async fn the_catalog_is_reached_when_the_one_configured_replica_left_is_gone_too() {
        // Goal: after `member replace` moved two of three catalog replicas, the background
        // look learns where the members are from the one configured replica left, so that
        // reservations are held even once that one is gone too; cancelling ends the look.
        // Method: 2 of 3 configured addresses are dead; replica 3 names 6 as leader, and
        // stops once the client follows the view.
        let old = FakeCatalog::start().await;
        let new = FakeCatalog::start().await;
        let members = [(3, old.addr.as_str()), (6, new.addr.as_str())];
        old.set_view(view(3, Some(6), 6, &members));
        new.set_view(view(6, Some(6), 6, &members));
        let configured = vec![dead_addr().await, dead_addr().await, old.addr.clone()];
        let client = Arc::new(CatalogClient::new(configured, "token".into()));
        let cancel = CancellationToken::new();
        let look = tokio::spawn(Arc::clone(&client).follow_members(cancel.clone()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !client.addrs.current().contains(&new.addr) {
            assert!(
                Instant::now() < deadline,
                "the new leader was never learned"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        old.stop().await;
        let answer = reserve(&client).await;
        assert!(matches!(answer, ReserveAnswer::Held(_)), "{answer:?}");
        assert_eq!(new.reserves(), 1);
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), look)
            .await
            .expect("the look ends on cancellation")
            .unwrap();
    }
}
