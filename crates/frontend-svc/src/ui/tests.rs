use api::ReplicaRole;
use axum::http::StatusCode;

use super::PAGE;
use crate::testutil::{config, dead_addr, get_req, send, Fake, FakeServer, Harness};

#[tokio::test]
async fn the_page_is_html_under_a_policy_that_allows_no_other_origin() {
    // Goal: /ui is the embedded page, as text/html, with a CSP that forbids loading anything
    // from elsewhere (no CDN can creep in), and it polls /ui/state.
    let h = Harness::start().await;
    let answer = send(&h.app, get_req("/ui")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let policy = answer.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(answer.text().contains("/ui/state"));
}

#[test]
fn the_page_writes_values_as_text_never_as_markup() {
    // Goal: no HTML injection from an address or a digest: the page's script never parses
    // strings as markup and loads nothing from another origin.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!PAGE.contains(sink), "the page uses {sink}");
    }
    for remote in ["http://", "https://", "//cdn"] {
        let uses = PAGE.matches(remote).count();
        let allowed = PAGE.matches("http://www.w3.org/2000/svg").count();
        assert_eq!(
            uses - if remote == "http://" { allowed } else { 0 },
            0,
            "{remote}"
        );
    }
}

#[tokio::test]
async fn the_state_shows_roles_lag_health_and_leader_changes_after_a_probe_wave() {
    // Goal: after a probe wave, /ui/state lists each replica's role, term, applied index and
    // health, a down replica as unhealthy without a role, and the leader as a change seen.
    let catalog_1 = FakeServer::start(Fake::new("catalog", 1)).await;
    catalog_1.fake.set_status(ReplicaRole::Leader, Some(1), 3);
    let orders = FakeServer::start(Fake::new("orders", 1)).await;
    orders.fake.set_status(ReplicaRole::Leader, Some(1), 2);
    let dead = dead_addr().await;
    let state = crate::AppState::new(config(&[&catalog_1.addr, &dead], &[&orders.addr])).unwrap();
    crate::probe::probe_all(&state).await;
    let answer = send(&crate::router(state), get_req("/ui/state")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let body = answer.json();
    let catalog = &body["groups"][0];
    assert_eq!(
        (catalog["name"].as_str(), catalog["leader"].as_u64()),
        (Some("catalog"), Some(1))
    );
    let first = &catalog["replicas"][0];
    assert_eq!(
        (first["role"].as_str(), first["term"].as_u64()),
        (Some("leader"), Some(3))
    );
    assert_eq!(
        (first["healthy"].as_bool(), first["lag"].as_u64()),
        (Some(true), Some(0))
    );
    let down = &catalog["replicas"][1];
    assert_eq!(
        (down["healthy"].as_bool(), down["addr"].as_str()),
        (Some(false), Some(dead.as_str()))
    );
    assert!(down["role"].is_null() && down["lag"].is_null(), "{down}");
    assert_eq!(down["digest_agreement"], "unknown");
    let changes: Vec<(&str, u64)> = body["leader_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["group"].as_str().unwrap(), c["term"].as_u64().unwrap()))
        .collect();
    assert_eq!(changes, [("orders", 2), ("catalog", 3)]);
    assert_eq!(body["traffic"]["window_s"], 300);
    assert!(body["traffic"]["points"].is_array());
    assert!(
        body["cache"].is_object(),
        "the test frontend runs a cache: {body}"
    );
}

#[tokio::test]
async fn the_chart_counts_api_answers_once_and_leaves_out_the_pages_own() {
    // Goal: every answer of the public stack is recorded once (a handled read, a 404 of no
    // route), the page's own requests are not, and neither are the probes outside the stack.
    let h = Harness::start().await;
    for uri in ["/books/1", "/no-such-route", "/ui", "/ui/state", "/health"] {
        send(&h.app, get_req(uri)).await;
    }
    assert_eq!(h.state.ui.traffic.recorded(), 2);
}
