//! `/ui`: the live cluster page (#16), and `/ui/state`, the JSON it polls once a second.
//!
//! Layout: `page.html` is the page, plain HTML, CSS and JS written by hand and embedded in the
//! binary (no CDN, no build step); `state` is the JSON's shape and how it is derived; `traffic`
//! records the frontend's answers per second (fed by `layers::server_timing`); `recent` keeps
//! the leader changes the probes saw (fed by `probe::probe_all`).
//!
//! The page needs no token and shows no secret. It puts every value in the DOM as text
//! (`textContent`, SVG attributes from numbers), never as markup, so an address or a digest
//! cannot inject HTML; its Content-Security-Policy allows no other origin.

pub(crate) mod recent;
pub(crate) mod state;
pub(crate) mod traffic;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::response::{Html, IntoResponse};
use axum::Json;

use crate::state::AppState;
use recent::LeaderChanges;
use state::{TrafficPoint, UiCache, UiGroup, UiState, UiTraffic};
use traffic::{Traffic, TRAFFIC_WINDOW_S};

/// The page, as written in `page.html`.
const PAGE: &str = include_str!("page.html");

/// How often the page asks for `/ui/state`, in milliseconds: the issue's "at most once a
/// second", and below the probes' period the page would only show the same wave again.
const REFRESH_MS: u64 = 1_000;

/// Inline script and style only, data only from this origin, nothing framed or posted.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The routes of the page, whose own requests the traffic chart leaves out (it would
/// otherwise show its own polling as the cluster's load).
pub(crate) const PAGE_ROUTES: [&str; 2] = ["/ui", "/ui/state"];

/// What the frontend records for the page beside what the probes and the cache know.
#[derive(Debug, Default)]
pub(crate) struct Recorders {
    /// Answers per second.
    pub(crate) traffic: Traffic,
    /// Leader changes.
    pub(crate) leaders: LeaderChanges,
}

/// The live cluster page.
#[utoipa::path(
    get,
    path = "/ui",
    operation_id = "ui",
    tag = "operations",
    responses((status = 200, description = "The live cluster page: one self-contained HTML \
               document that polls `/ui/state` once a second", body = String,
               content_type = "text/html"))
)]
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Html(PAGE),
    )
}

/// What the page shows: both groups, the cache, the traffic and the leader changes.
#[utoipa::path(
    get,
    path = "/ui/state",
    operation_id = "ui_state",
    tag = "operations",
    responses((status = 200, description = "Both groups as the probes last saw them, this \
               frontend's cache, its answers per second over the last minutes, and recent \
               leader changes", body = UiState))
)]
pub(crate) async fn state(State(state): State<AppState>) -> impl IntoResponse {
    let cache = match &state.cache {
        Some(cache) => Some(UiCache::from(cache.view().await)),
        None => None,
    };
    let now_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let body = UiState {
        now_unix_ms,
        refresh_ms: REFRESH_MS,
        groups: vec![
            UiGroup::of(state.catalog.view()),
            UiGroup::of(state.orders.view()),
        ],
        cache,
        traffic: UiTraffic {
            window_s: TRAFFIC_WINDOW_S,
            points: state
                .ui
                .traffic
                .window()
                .into_iter()
                .map(TrafficPoint::from)
                .collect(),
        },
        leader_changes: state.ui.leaders.newest_first(),
    };
    ([(CACHE_CONTROL, "no-store")], Json(body))
}

#[cfg(test)]
mod tests;
