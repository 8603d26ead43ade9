//! Membership changes on real processes (#15): a replica whose directory is lost is replaced
//! under load; a group grows from 3 to 5 voters and shrinks back; removals that would cost the
//! quorum, unknown ids and unreachable addresses are refused (exit 2) with nothing changed; a
//! removed replica refuses to start again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{MembershipView, ReplicaStatus};
use client::PygmyClient;
use test_support::{free_port, poll_until, ChildGuard, ClusterDir, Store};

use crate::{bin, code_and_stderr, pygmy};

/// Time a group gets to converge after a change.
const CONVERGE: Duration = Duration::from_secs(60);

/// Buys through the frontend, one at a time, until stopped; the acknowledged order numbers.
pub(crate) struct Buyer {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Buyer {
    /// Restocks the books it buys (so that none runs out), then starts buying.
    pub(crate) async fn start(frontend: &str, admin_token: &str) -> Buyer {
        let client = PygmyClient::new(frontend).unwrap();
        for item in 1..=3 {
            client
                .update_book(item, Some(1_000_000), None, admin_token)
                .await
                .unwrap();
        }
        let client = PygmyClient::with_timeout(frontend, Duration::from_secs(20)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let (stop2, acked2) = (stop.clone(), acknowledged.clone());
        let task = tokio::spawn(async move {
            let mut k = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                k += 1;
                let key = format!("member-buy-{k}");
                // An unknown outcome is retried with the same key until it is known.
                for _ in 0..20 {
                    match client.buy(1 + k % 3, 1, Some(&key)).await {
                        Ok(order) => {
                            acked2.lock().unwrap().push(order.number);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        });
        Buyer {
            stop,
            acknowledged,
            task,
        }
    }

    /// Stops buying; every acknowledged order number.
    pub(crate) async fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let acked = self.acknowledged.lock().unwrap().clone();
        acked
    }

    pub(crate) fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// The order numbers acknowledged so far.
    pub(crate) fn acknowledged(&self) -> Vec<u64> {
        self.acknowledged.lock().unwrap().clone()
    }
}

/// `pygmy member ARGS --config <dir's config>`: exit code, stdout, stderr.
async fn member(dir: &ClusterDir, args: &[&str]) -> (Option<i32>, String, String) {
    let config = dir.config_path().to_string_lossy().into_owned();
    let mut all = vec!["member"];
    all.extend_from_slice(args);
    all.extend(["--config", &config]);
    let output = pygmy(&all).await;
    let (code, stderr) = code_and_stderr(&output);
    (
        code,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

/// `pygmy member list --group G --json`, the leader's view.
async fn members(dir: &ClusterDir, group: &str) -> MembershipView {
    let (code, stdout, stderr) = member(dir, &["list", "--group", group, "--json"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let mut views: Vec<MembershipView> = serde_json::from_str(&stdout).unwrap();
    views.pop().unwrap()
}

/// Starts `serve SERVICE --id ID --addr ADDR [--join]` against `dir`'s configuration.
fn serve_added(dir: &ClusterDir, service: &str, id: u64, addr: &str, join: bool) -> ChildGuard {
    let config = dir.config_path().to_string_lossy().into_owned();
    let id_text = id.to_string();
    let mut args = vec![
        "serve", service, "--config", &config, "--id", &id_text, "--addr", addr,
    ];
    if join {
        args.push("--join");
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let log = dir.logs_dir().join(format!("{service}-{id}.log"));
    ChildGuard::spawn(bin(), &args, &log, &[])
}

/// Waits until every member of `view` answers `/status` at the same applied index and digest.
async fn wait_converged(dir: &ClusterDir, view: &MembershipView) -> ReplicaStatus {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let addrs: Vec<String> = view.members.iter().map(|m| m.addr.clone()).collect();
    poll_until(CONVERGE, "the members to converge", || async {
        let mut seen = Vec::new();
        for addr in &addrs {
            let status: ReplicaStatus = http
                .get(format!("http://{addr}/status"))
                .bearer_auth(dir.token())
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            seen.push(status);
        }
        let first = seen[0].clone();
        seen.iter()
            .all(|s| s.last_applied == first.last_applied && s.digest == first.digest)
            .then_some(first)
    })
    .await
}

/// Every acknowledged order can be read back through the frontend.
pub(crate) async fn assert_all_readable(frontend: &str, acknowledged: &[u64]) {
    let client = PygmyClient::new(frontend).unwrap();
    for number in acknowledged {
        let order = client.order(*number).await;
        assert!(
            order.is_ok(),
            "acknowledged order {number} is lost: {order:?}"
        );
    }
}

fn replica_dir(dir: &ClusterDir, group: &str, id: u64) -> PathBuf {
    dir.data_dir().join(format!("{group}-{id}"))
}

fn wipe(path: &Path) {
    std::fs::remove_dir_all(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_directory_is_lost_is_replaced_under_load() {
    // Goal (#15): a catalog replica killed and its directory deleted is replaced by a new
    // replica under a new id (`serve --join`, then `pygmy member replace`) while buys go on:
    // the group returns to three voters with one digest, and every acknowledged order is still
    // there. Method: a whole store, a sequential buyer through the frontend; a follower killed
    // and wiped; the replacement started on a free port; the replace; more buys; convergence
    // and every acknowledged order read back.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let frontend = format!("http://{}", dir.frontend_addr());
    let buyer = Buyer::start(&frontend, dir.admin_token()).await;
    let leader = store.catalog.wait_leader(CONVERGE).await;
    let lost = (1..=3).find(|id| *id != leader).unwrap();
    poll_until(CONVERGE, "some buys", || async {
        (buyer.count() >= 5).then_some(())
    })
    .await;
    store.catalog.kill(lost);
    wipe(&replica_dir(&dir, "catalog", lost));
    let addr = format!("127.0.0.1:{}", free_port());
    let _new = serve_added(&dir, "catalog", 4, &addr, true);
    let (code, stdout, stderr) = member(
        &dir,
        &["replace", "--group", "catalog", &lost.to_string(), &addr],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}\n{stdout}");
    assert!(stderr.contains("as a learner"), "{stderr}");
    assert!(
        stderr.contains(&format!("replaced replica {lost}")),
        "{stderr}"
    );
    let before = buyer.count();
    poll_until(CONVERGE, "buys after the replacement", || async {
        (buyer.count() >= before + 5).then_some(())
    })
    .await;
    let acknowledged = buyer.finish().await;
    let view = members(&dir, "catalog").await;
    let voters: BTreeSet<u64> = view.voters().into_iter().collect();
    let expected: BTreeSet<u64> = (1..=4).filter(|id| *id != lost).collect();
    assert_eq!(voters, expected, "{view:?}");
    assert!(view.member(lost).is_none(), "{view:?}");
    let status = wait_converged(&dir, &view).await;
    assert!(status.last_applied > 0);
    assert_all_readable(&frontend, &acknowledged).await;
    store.assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_grows_to_five_and_back_and_unsafe_changes_are_refused() {
    // Goal (#15): the order group grows from 3 to 5 voters and back to 3 under buys, losing no
    // acknowledged order; a replica removed while it runs stops by itself, and a removed
    // configured replica refuses to start again; removals that
    // would leave fewer than 3 voters (without --force) or fewer answering voters than a
    // quorum, an unknown id and an address where nothing answers are refused with exit 2 and
    // change nothing. Method: a whole store and a buyer; replicas 4 and 5 joined with `member
    // add`; replicas 1 and 4 removed; replica 1 restarted; the refusals, replica 3 paused for
    // the quorum one; convergence and every acknowledged order read back.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let frontend = format!("http://{}", dir.frontend_addr());
    let buyer = Buyer::start(&frontend, dir.admin_token()).await;
    let addrs: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut four = serve_added(&dir, "order", 4, &addrs[0], true);
    let _five = serve_added(&dir, "order", 5, &addrs[1], true);
    for (id, addr) in [(4, &addrs[0]), (5, &addrs[1])] {
        let (code, _, stderr) = member(&dir, &["add", "--group", "orders", addr]).await;
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("replica {id} caught up")),
            "{stderr}"
        );
    }
    let grown = members(&dir, "orders").await;
    assert_eq!(grown.voters(), [1, 2, 3, 4, 5], "{grown:?}");
    wait_converged(&dir, &grown).await;

    for id in ["1", "4"] {
        let (code, _, stderr) = member(&dir, &["remove", "--group", "orders", id]).await;
        assert_eq!(code, Some(0), "{stderr}");
    }
    let shrunk = members(&dir, "orders").await;
    assert_eq!(shrunk.voters(), [2, 3, 5], "{shrunk:?}");

    // Replica 4, removed while it ran, stops by itself rather than campaign alone.
    let exit = four
        .wait_exit(CONVERGE)
        .await
        .expect("removed replica 4 stops by itself");
    let log = std::fs::read_to_string(four.log_path()).unwrap();
    assert_eq!(exit.code(), Some(2), "{log}");
    assert!(
        log.contains("removed from the group while running"),
        "{log}"
    );

    // The removed configured replica refuses to serve again.
    store.orders.kill(1);
    store.orders.restart(1);
    let exit = poll_until(CONVERGE, "removed replica 1 to exit", || async {
        store.orders.exit_status(1)
    })
    .await;
    assert_eq!(exit.code(), Some(2), "{}", store.orders.log(1));
    assert!(store.orders.log(1).contains("was removed from its group"));

    // Refusals: each exits 2 and leaves the voters as they were.
    let (code, _, stderr) = member(&dir, &["remove", "--group", "orders", "2"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("fewer than 3"), "{stderr}");
    let (code, _, stderr) = member(&dir, &["remove", "--group", "orders", "9"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("has no member 9"), "{stderr}");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let (code, _, stderr) = member(
        &dir,
        &["add", "--group", "orders", &nowhere, "--wait", "1s"],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("answered at"), "{stderr}");
    store.orders.pause(3);
    let (code, _, stderr) = member(&dir, &["remove", "--group", "orders", "5", "--force"]).await;
    store.orders.resume(3);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("lose its quorum"), "{stderr}");
    let (code, _, stderr) = member(&dir, &["list", "--group", "nope"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(members(&dir, "orders").await.voters(), [2, 3, 5]);

    let acknowledged = buyer.finish().await;
    assert!(!acknowledged.is_empty());
    wait_converged(&dir, &members(&dir, "orders").await).await;
    assert_all_readable(&frontend, &acknowledged).await;
}
