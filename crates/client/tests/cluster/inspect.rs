//! `pygmy inspect` on real replica directories: a cluster run with SIGKILLs, a running replica,
//! damaged and foreign directories, and a violation planted into a copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use test_support::store::STORE_SETTLE;
use test_support::{poll_until, ClusterDir, ReplicaSet, Store};

use crate::store::{buy_stream, follower, restock};
use crate::{bin, code_and_stderr, pygmy};

/// Every file below `dir` with its bytes, by path.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Runs `pygmy inspect args...`; its exit code, stdout and stderr, checked for panics.
async fn inspect(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["inspect"];
    all.extend(args);
    let output: Output = pygmy(&all).await;
    let (code, stderr) = code_and_stderr(&output);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        !stderr.contains("panicked") && code.is_some(),
        "pygmy {all:?} crashed ({code:?}): {stderr}"
    );
    (code, stdout, stderr)
}

/// `pygmy --json inspect args...`, parsed; asserts it exits with `expected`.
async fn inspect_json(args: &[&str], expected: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    let (code, stdout, stderr) = inspect(&all).await;
    assert_eq!(code, Some(expected), "inspect {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("inspect {args:?}: {e}: {stdout}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[tokio::test]
async fn inspect_reads_a_cluster_killed_mid_write_without_changing_a_byte() {
    // Goal: on the data of a real run (a catalog follower SIGKILLed mid-write and left dead, the
    // order leader SIGKILLed and restarted), `pygmy inspect` summarizes every replica with the
    // digests `/status` reported, decodes log, books, reservations and orders, finds no
    // violation (across groups too) and converged replicas identical, reports a running
    // replica's directory in use while still inspecting it, and changes no file.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    for item in 1..=7u64 {
        assert_eq!(restock(&store, item, 20).await.status(), StatusCode::OK);
    }
    let catalog_leader = store.catalog.wait_leader(STORE_SETTLE).await;
    let dead = follower(&store.catalog, catalog_leader);
    let (acked, ()) = tokio::join!(buy_stream(&store, 4, 4, "a"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.catalog.kill(dead);
    });
    let order_leader = store.orders.wait_leader(STORE_SETTLE).await;
    let (more, ()) = tokio::join!(buy_stream(&store, 4, 4, "b"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.orders.kill(order_leader);
    });
    assert!(!acked.is_empty() && !more.is_empty());
    store.orders.restart(order_leader);
    // Quiesce before reading /status: no buy pending, then the order group stopped, so that no
    // confirmation reaches the catalog afterwards.
    settle(&store).await;
    let orders_status = store.orders.wait_converged(STORE_SETTLE).await;
    stop_all(&store.orders);
    let catalog_status = store.catalog.wait_converged(STORE_SETTLE).await;

    let data = dir.data_dir();
    let running = data.join(format!("catalog-{catalog_leader}"));
    let (code, stdout, stderr) = inspect(&[path_str(&running)]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("in use by a running replica"), "{stderr}");
    assert!(
        stdout.contains("in use:") && stdout.contains("books"),
        "{stdout}"
    );

    store.assert_no_panics();
    stop_all(&store.catalog);
    drop(store);
    let before = contents(&data);
    check_views(&data, dead, &catalog_status.digest, &orders_status.digest).await;
    assert!(
        before == contents(&data),
        "inspect changed a file of {}",
        data.display()
    );
}

/// Waits until no buy is pending at the order leader (every reservation resolved).
async fn settle(store: &Store<'_>) {
    let leader = store.orders.wait_leader(STORE_SETTLE).await;
    poll_until(STORE_SETTLE, "no pending buy", || async {
        let url = store.orders.url(leader, "/pending");
        let resp = store.orders.client().get(url).send().await.ok()?;
        let body: Value = resp.json().await.ok()?;
        (body["pending"].as_u64()? == 0).then_some(())
    })
    .await;
}

fn stop_all(set: &ReplicaSet<'_>) {
    for id in set.running_ids() {
        set.stop(id);
    }
}

/// Every view of `pygmy inspect` on the stopped cluster's data directory.
async fn check_views(data: &Path, dead: u64, catalog_digest: &str, orders_digest: &str) {
    check_summaries(data, dead, catalog_digest, orders_digest).await;
    let replica = |name: &str| data.join(name).to_string_lossy().into_owned();
    check_trees(
        &replica(&format!("catalog-{}", live(dead))),
        &replica("orders-1"),
    )
    .await;
    let (code, report, stderr) = inspect(&["verify", path_str(data)]).await;
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert!(report.contains("ok: 6 replicas, no violation"), "{report}");
    let verdict = inspect_json(&["verify", path_str(data)], 0).await;
    let checked = verdict["across"]["checked"].to_string();
    assert!(
        checked.contains("every order has its reservation"),
        "{checked}"
    );
    let (other, third) = (live(dead), 6 - dead - live(dead));
    let (a, b) = (
        replica(&format!("catalog-{other}")),
        replica(&format!("catalog-{third}")),
    );
    let (code, diff, stderr) = inspect(&["diff", &a, &b]).await;
    assert_eq!(code, Some(0), "{diff}{stderr}");
    assert!(diff.starts_with("identical at applied index "), "{diff}");
    let (code, _, stderr) = inspect(&["diff", &a, &replica("orders-2")]).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("compares two replicas of one group"),
        "{stderr}"
    );
}

/// One summary per replica, with the digest `/status` reported for every converged one.
async fn check_summaries(data: &Path, dead: u64, catalog_digest: &str, orders_digest: &str) {
    let summaries = inspect_json(&[path_str(data)], 0).await;
    let summaries = summaries.as_array().expect("one summary per replica");
    assert_eq!(summaries.len(), 6);
    for s in summaries {
        let (group, id) = (
            s["group"].as_str().unwrap(),
            s["replica_id"].as_u64().unwrap(),
        );
        assert_eq!(s["in_use"], false, "{s}");
        let converged = if group == "catalog" {
            (id != dead).then_some(catalog_digest)
        } else {
            Some(orders_digest)
        };
        if let Some(digest) = converged {
            assert_eq!(
                s["digest"], digest,
                "{group}-{id}: the digest /status reported"
            );
        }
    }
    // The replica killed during the first buys missed the later ones.
    let applied = |s: &Value| s["last_applied"]["index"].as_u64().unwrap_or(0);
    let catalog = summaries.iter().filter(|s| s["group"] == "catalog");
    let dead_applied = catalog
        .clone()
        .find(|s| s["replica_id"] == dead)
        .map(applied);
    assert!(dead_applied < catalog.map(applied).max(), "{summaries:?}");
}

/// The log, books and reservations of a catalog replica, and the orders of an order replica.
async fn check_trees(catalog: &str, orders: &str) {
    let log = inspect_json(&[catalog, "--tree", "raft_log", "--limit", "500"], 0).await;
    let what: Vec<&str> = entries(&log)
        .iter()
        .filter_map(|e| e["what"].as_str())
        .collect();
    assert!(
        what.iter().any(|w| w.starts_with("seed 7 books")),
        "{what:?}"
    );
    assert!(what.iter().any(|w| w.starts_with("reserve ")), "{what:?}");
    let books = inspect_json(&[catalog, "--tree", "books"], 0).await;
    assert_eq!(entries(&books).len(), 7);
    let first = &entries(&books)[0]["value"];
    assert_eq!(
        first["title"],
        "How to get a good grade in 677 in 20 minutes a day"
    );
    let reservations = inspect_json(&[catalog, "--tree", "reservations", "--limit", "2"], 0).await;
    assert_eq!(entries(&reservations).len(), 2);
    assert!(reservations["next"].is_string(), "{reservations}");
    let all = inspect_json(&[orders, "--tree", "orders", "--limit", "1000"], 0).await;
    for (i, order) in entries(&all).iter().enumerate() {
        assert_eq!(order["value"]["number"], i as u64 + 1);
    }
    let (code, table, _) =
        inspect(&[orders, "--tree", "orders", "--from", "2", "--limit", "1"]).await;
    assert_eq!(code, Some(0));
    assert!(
        table.starts_with("KEY") && table.contains("committed"),
        "{table}"
    );
}

/// A catalog replica id other than `dead`.
fn live(dead: u64) -> u64 {
    if dead == 1 {
        2
    } else {
        1
    }
}

fn entries(view: &Value) -> &Vec<Value> {
    view["entries"].as_array().expect("a tree view has entries")
}

/// Runs a lone catalog replica of `dir` until it has seeded its books, then stops it; its
/// directory.
async fn stopped_catalog_replica(dir: &ClusterDir) -> PathBuf {
    let set = ReplicaSet::start(bin(), &["serve", "catalog"], dir, "catalog");
    set.wait_leader(STORE_SETTLE).await;
    poll_until(STORE_SETTLE, "the catalog to be seeded", || async {
        let resp = set.client().get(set.url(1, "/books")).send().await.ok()?;
        let body: Value = resp.json().await.ok()?;
        (!body["books"].as_array()?.is_empty()).then_some(())
    })
    .await;
    set.stop(1);
    dir.data_dir().join("catalog-1")
}

/// A copy of the directory `from` at `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn damaged_and_foreign_directories_give_clear_errors() {
    // Goal: an empty directory, a file, a directory of other files, random bytes and truncated
    // sled files each end with a message naming the path and what to do (exit code 2), or, where
    // sled recovers a prefix of a truncated file, with a normal answer; never a panic.
    let dir = ClusterDir::new(1, 1, &[]);
    let replica = stopped_catalog_replica(&dir).await;
    let root = tempfile::tempdir().unwrap();
    let at = |name: &str| root.path().join(name);
    std::fs::create_dir(at("empty")).unwrap();
    std::fs::write(at("file"), b"not a directory").unwrap();
    std::fs::create_dir(at("foreign")).unwrap();
    std::fs::write(at("foreign").join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir(at("random")).unwrap();
    std::fs::write(at("random").join("conf"), random_bytes(200, 1)).unwrap();
    std::fs::write(at("random").join("db"), random_bytes(300_000, 2)).unwrap();
    copy_dir(&replica, &at("emptied"));
    std::fs::File::create(at("emptied").join("db")).unwrap();
    let refused: [(&str, &str); 5] = [
        ("empty", "holds no sled files"),
        ("file", "is a file, not a directory"),
        ("foreign", "holds no sled files"),
        ("random", "random"),
        ("emptied", "has no raft_log, raft_meta, sm_meta tree"),
    ];
    for (name, expected) in refused {
        let path = at(name);
        for args in [vec![path_str(&path)], vec!["verify", path_str(&path)]] {
            let (code, _, stderr) = inspect(&args).await;
            assert_eq!(code, Some(2), "{name}: {stderr}");
            assert!(
                stderr.starts_with("pygmy: ") && stderr.contains(expected),
                "{name}: {stderr}"
            );
            assert!(stderr.contains("\nhint: "), "{name}: {stderr}");
        }
    }
    for (name, file, keep) in [
        ("half", "db", 2),
        ("short", "db", 1000),
        ("conf", "conf", 5),
    ] {
        copy_dir(&replica, &at(name));
        let path = at(name).join(file);
        let len = std::fs::metadata(&path).unwrap().len();
        let keep = if keep == 2 { len / 2 } else { keep };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(keep)
            .unwrap();
        let (code, out, stderr) = inspect(&["verify", path_str(&at(name))]).await;
        match code {
            Some(0 | 1) => assert!(out.contains("REPLICA"), "{name}: {out}"),
            _ => assert!(
                stderr.starts_with("pygmy: ") && stderr.contains(name),
                "{name}: {stderr}"
            ),
        }
    }
}

/// `n` bytes of a fixed pseudo-random sequence (xorshift; no randomness needed, only noise).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn verify_passes_on_healthy_data_and_names_planted_violations() {
    // Goal: verify passes on a real replica, and on a copy where a negative stock (book 4) and a
    // stock changed behind the log's back (book 2) were written into the state tree, exits 1
    // naming both keys.
    let dir = ClusterDir::new(1, 1, &[]);
    let replica = stopped_catalog_replica(&dir).await;
    let (code, report, stderr) = inspect(&["verify", path_str(&replica)]).await;
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert!(report.contains("needs replicas of both groups"), "{report}");
    let root = tempfile::tempdir().unwrap();
    let copy = root.path().join("catalog-1");
    copy_dir(&replica, &copy);
    plant(&copy);
    let (code, report, stderr) = inspect(&["verify", path_str(&copy)]).await;
    assert_eq!(code, Some(1), "{report}{stderr}");
    assert!(stderr.contains("violation"), "{stderr}");
    let verdict = inspect_json(&["verify", path_str(&copy)], 1).await;
    let found: Vec<(String, String)> = verdict["replicas"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["check"].as_str().unwrap().into(),
                v["key"].as_str().unwrap().into(),
            )
        })
        .collect();
    let has = |check: &str, key: &str| found.iter().any(|(c, k)| c == check && k == key);
    assert!(has("stock >= 0", "books/4"), "{found:?}");
    assert!(has("state equals the log replayed", "books/2"), "{found:?}");
    assert!(
        has(
            "initial stock + restocks - held/confirmed reservations = stock",
            "books/2"
        ),
        "{found:?}"
    );
}

/// Writes two bad books into the replica directory `dir` (a copy) with sled, as the state
/// machine would store them: book 4 with a negative stock, book 2 with 99 copies.
fn plant(dir: &Path) {
    let db = sled::Config::new()
        .path(dir)
        .open()
        .expect("the copy opens");
    let books = db.open_tree(catalog_svc::command::BOOKS).unwrap();
    let key = storage::keys::u64_key;
    let book = |id: u64| -> Value {
        let raw = books.get(key(id)).unwrap().expect("a seeded book");
        serde_json::from_slice(&raw).unwrap()
    };
    let (mut four, mut two) = (book(4), book(2));
    four["stock"] = (-3).into();
    two["stock"] = 99.into();
    books
        .insert(key(4), serde_json::to_vec(&four).unwrap())
        .unwrap();
    books
        .insert(key(2), serde_json::to_vec(&two).unwrap())
        .unwrap();
    db.flush().unwrap();
}
