//! The HTTP client settings of every call between Pygmy's own processes (Raft RPC, forwarded
//! writes, reservations, cache notices, a frontend's calls to replicas).

/// A reqwest builder for calls to Pygmy processes: never through a proxy from the environment
/// (they are addressed directly), Nagle off, no redirects followed and no retries by reqwest.
///
/// Pygmy's routes answer no redirect, and every caller decides itself whether a call may be sent
/// again (a write may not, unless it is idempotent). Turning reqwest's own retry policy off also
/// spares each call the copy of its request that the policy keeps for a retry (#13).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
}
