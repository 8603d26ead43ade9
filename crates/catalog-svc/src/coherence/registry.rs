//! The frontends registered with this leader, each under a lease and a session.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A frontend the leader must tell of its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    /// The frontend's id.
    pub(crate) frontend: String,
    /// Where notices go: `http://host:port`.
    pub(crate) notify_url: String,
    /// Its session: a frontend whose session ended may have missed notices.
    pub(crate) session: u64,
    /// When its lease ends, as this leader counts (never earlier than the frontend counts).
    pub(crate) expires: Instant,
}

/// Registrations by frontend id.
#[derive(Debug, Default)]
pub(crate) struct FrontendRegistry {
    inner: Mutex<RegistryState>,
}

#[derive(Debug, Default)]
struct RegistryState {
    by_frontend: HashMap<String, Registration>,
    last_session: u64,
    /// The latest lease end ever registered, kept when registrations are forgotten.
    granted_until: Option<Instant>,
}

impl FrontendRegistry {
    /// Registers or renews `frontend` at `now` for `lease`; its session (a new one unless its
    /// previous lease is still running).
    pub(crate) fn renew(
        &self,
        frontend: &str,
        notify_url: &str,
        now: Instant,
        lease: Duration,
    ) -> u64 {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let expires = now + lease;
        state.granted_until = state.granted_until.max(Some(expires));
        if let Some(r) = state.by_frontend.get_mut(frontend) {
            if r.expires > now && r.notify_url == notify_url {
                r.expires = expires;
                return r.session;
            }
        }
        state.last_session += 1;
        let session = state.last_session;
        state.by_frontend.insert(
            frontend.to_string(),
            Registration {
                frontend: frontend.to_string(),
                notify_url: notify_url.to_string(),
                session,
                expires,
            },
        );
        session
    }

    /// The latest moment a lease registered here may run to (`None`: none ever was).
    pub(crate) fn granted_until(&self) -> Option<Instant> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .granted_until
    }

    /// Every registration whose lease runs past `now` (expired ones are forgotten).
    pub(crate) fn live(&self, now: Instant) -> Vec<Registration> {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.by_frontend.retain(|_, r| r.expires > now);
        state.by_frontend.values().cloned().collect()
    }

    /// Ends `registration`'s session (if it is still the current one): the frontend missed a
    /// notice, so its next renewal starts a new session, which resets its cache.
    pub(crate) fn end_session(&self, registration: &Registration) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let current = state.by_frontend.get(&registration.frontend);
        if current.is_some_and(|r| r.session == registration.session) {
            state.by_frontend.remove(&registration.frontend);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(1);

    #[test]
    fn the_latest_lease_end_outlives_its_registration() {
        let registry = FrontendRegistry::default();
        assert_eq!(registry.granted_until(), None);
        let t0 = Instant::now();
        registry.renew("f", "http://a", t0 + LEASE, LEASE);
        registry.renew("g", "http://b", t0, LEASE);
        assert!(registry.live(t0 + LEASE * 3).is_empty());
        assert_eq!(registry.granted_until(), Some(t0 + LEASE * 2));
    }

    #[test]
    fn renewals_keep_the_session_until_it_lapses_or_ends() {
        // Goal: a renewal within the lease keeps the session; after expiry or end_session a
        // renewal starts a new one; expired registrations are not live.
        let registry = FrontendRegistry::default();
        let t0 = Instant::now();
        let s1 = registry.renew("f", "http://a", t0, LEASE);
        assert_eq!(registry.renew("f", "http://a", t0 + LEASE / 2, LEASE), s1);
        assert_eq!(
            registry.live(t0 + LEASE).len(),
            1,
            "renewed at t0 + lease/2"
        );
        assert!(registry.live(t0 + LEASE * 2).is_empty());
        let s2 = registry.renew("f", "http://a", t0 + LEASE * 2, LEASE);
        assert!(s2 > s1);
        let live = registry.live(t0 + LEASE * 2);
        registry.end_session(&live[0]);
        assert!(registry.live(t0 + LEASE * 2).is_empty());
        let s3 = registry.renew("f", "http://a", t0 + LEASE * 2, LEASE);
        assert!(s3 > s2);
        assert!(
            registry.renew("f", "http://b", t0 + LEASE * 2, LEASE) > s3,
            "a new address is a new session"
        );
    }
}
