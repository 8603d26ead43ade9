//! Operator mistakes a replica refuses on its own (issue #11): a wiped directory, a wrong
//! cluster token, another cluster's directory. None may disturb the running group.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use api::{ErrorBody, ErrorCode};
use reqwest::StatusCode;
use serde_json::json;
use test_support::store::STORE_SETTLE;
use test_support::{poll_until, ClusterDir, ReplicaSet, Store};

use crate::{bin, code_and_stderr, pygmy};

/// Time a refused replica gets to exit.
const REFUSAL: Duration = Duration::from_secs(30);

/// `<data_dir>/<group>-<id>`.
fn replica_dir(dir: &ClusterDir, group: &str, id: u64) -> PathBuf {
    dir.data_dir().join(format!("{group}-{id}"))
}

/// Empties replica directory `path` as a lost disk would (the directory itself stays), keeping
/// its contents at `<path>.saved`.
fn wipe(path: &Path) -> PathBuf {
    let saved = path.with_extension("saved");
    std::fs::rename(path, &saved).unwrap();
    std::fs::create_dir(path).unwrap();
    saved
}

/// Waits until replica `id` of `set` has exited, then returns its exit code and log.
async fn refused(set: &ReplicaSet<'_>, id: u64) -> (Option<i32>, String) {
    let what = format!("{}-{id} to refuse to start", set.group());
    let status = poll_until(REFUSAL, &what, || async { set.exit_status(id) }).await;
    (status.code(), set.log(id))
}

/// The term of the Raft vote stored in replica directory `path` (read offline by `pygmy inspect`).
async fn stored_term(path: &Path) -> u64 {
    let output = pygmy(&["inspect", "--json", &path.to_string_lossy()]).await;
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    summary["term"].as_u64().expect("a term in the summary")
}

#[tokio::test]
async fn wiped_replicas_refuse_to_start_and_never_form_a_new_group() {
    // Goal (#11 item 2): a replica restarted on an emptied directory refuses to start (exit 2,
    // saying why and what to do), panics nowhere, and leaves its directory as it was; two wiped
    // order replicas of three refuse rather than elect a new group that acknowledges buys.
    // Method: a whole store; a buy; a catalog follower killed, its directory emptied, restarted;
    // its directory restored, restarted: it rejoins. Then two order followers killed, emptied,
    // restarted: both refuse, and a buy is not acknowledged.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let buy = || {
        store
            .client()
            .post(store.url("/orders"))
            .json(&json!({"item": 1, "quantity": 1}))
            .send()
    };
    assert_eq!(buy().await.unwrap().status(), StatusCode::CREATED);

    let leader = store.catalog.wait_leader(STORE_SETTLE).await;
    let follower = store.catalog.ids().into_iter().find(|&id| id != leader);
    let follower = follower.unwrap();
    store.catalog.kill(follower);
    let path = replica_dir(&dir, "catalog", follower);
    let saved = wipe(&path);
    store.catalog.restart(follower);
    let (code, log) = refused(&store.catalog, follower).await;
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("is empty or missing"), "{log}");
    assert!(log.contains("pygmy member replace"), "{log}");
    let left: Vec<_> = std::fs::read_dir(&path).unwrap().collect();
    assert!(left.is_empty(), "the refused start created {left:?}");
    std::fs::remove_dir(&path).unwrap();
    std::fs::rename(&saved, &path).unwrap();
    store.catalog.restart(follower);
    store.catalog.wait_converged(STORE_SETTLE).await;

    let leader = store.orders.wait_leader(STORE_SETTLE).await;
    let followers: Vec<u64> = store
        .orders
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    for &id in &followers {
        store.orders.kill(id);
        wipe(&replica_dir(&dir, "orders", id));
        store.orders.restart(id);
    }
    for &id in &followers {
        let (code, log) = refused(&store.orders, id).await;
        assert_eq!(code, Some(2), "orders-{id}: {log}");
        assert!(log.contains("is empty or missing"), "orders-{id}: {log}");
    }
    let response = buy().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    store.assert_no_panics();
}

/// `pygmy serve catalog --id ID --config CONFIG extra...` with `envs`, to completion.
async fn serve_catalog(dir: &ClusterDir, id: u64, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let config = dir.config_path().to_string_lossy().into_owned();
    let id = id.to_string();
    let mut args = vec!["serve", "catalog", "--id", &id, "--config", &config];
    args.extend_from_slice(extra);
    let run = crate::pygmy_with_env(&args, envs);
    tokio::time::timeout(REFUSAL, run)
        .await
        .expect("a refused replica exits at once")
}

/// The term and leader of the group, as its leader reports them.
async fn term_and_leader(set: &ReplicaSet<'_>) -> (u64, u64) {
    let leader = set.wait_leader(STORE_SETTLE).await;
    let status = set.status(leader).await.expect("the leader answers");
    (status.term, leader)
}

#[tokio::test]
async fn a_replica_its_peers_reject_exits_before_it_can_disturb_the_group() {
    // Goal (#11 items 11b and 2): a replica started with a wrong cluster token, or on another
    // cluster's directory, exits 2 naming the mismatch, before Raft starts: the group's term
    // does not move (the wrong token once pushed it from 1 to 14). Peers refuse Raft requests
    // without this cluster's id. Method: a catalog group; a follower killed and started again
    // with a wrong token, then as a bootstrap on another data directory (a new cluster id);
    // the group's term and the refused replica's stored term are compared before and after.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 1, &[]);
    let set = ReplicaSet::start(bin(), &["serve", "catalog"], &dir, "catalog");
    let (term, leader) = term_and_leader(&set).await;
    let follower = set.ids().into_iter().find(|&id| id != leader).unwrap();
    set.kill(follower);
    let path = replica_dir(&dir, "catalog", follower);
    let follower_term = stored_term(&path).await;

    let wrong = [("PYGMY_CLUSTER_TOKEN", "a-wrong-cluster-token-0123")];
    let (code, stderr) = code_and_stderr(&serve_catalog(&dir, follower, &[], &wrong).await);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refused this replica: it rejected this replica's cluster token"),
        "{stderr}"
    );
    let elsewhere = dir.path().join("elsewhere");
    let other_data = elsewhere.to_string_lossy().into_owned();
    let extra = ["--data", &other_data, "--bootstrap"];
    let (code, stderr) = code_and_stderr(&serve_catalog(&dir, follower, &extra, &[]).await);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("it belongs to another cluster"), "{stderr}");
    let other_replica = elsewhere.join(format!("catalog-{follower}"));
    assert_eq!(stored_term(&other_replica).await, 0, "Raft never started");
    assert_eq!(stored_term(&path).await, follower_term);
    assert_eq!(term_and_leader(&set).await, (term, leader));

    for (header, why) in [
        (Some("another-cluster"), "comes from cluster"),
        (None, "header"),
    ] {
        let mut request = set
            .client()
            .post(set.url(leader, "/raft/vote"))
            .json(&json!({}));
        if let Some(id) = header {
            request = request.header("x-pygmy-cluster", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.code, ErrorCode::WrongCluster);
        assert!(body.error.message.contains(why), "{}", body.error.message);
    }

    set.restart(follower);
    set.wait_converged(STORE_SETTLE).await;
    assert_eq!(term_and_leader(&set).await, (term, leader));
    set.assert_no_panics();
}
