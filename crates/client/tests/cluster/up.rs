//! `pygmy up`: the whole cluster as children of one process, and nothing left behind.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use api::{Book, ClusterView};
use test_support::{poll_until, ChildGuard, ClusterDir};

use crate::{bin, code_and_stderr, pygmy, strip_tokens};

/// Time `pygmy up` gets to report both leaders.
const START: Duration = Duration::from_secs(60);
/// Time the children of a killed `pygmy up` get to notice and exit.
const ORPHANS_EXIT: Duration = Duration::from_secs(15);

/// Every address of the cluster: replicas of both groups and the frontend.
fn all_addrs(dir: &ClusterDir) -> Vec<String> {
    let mut addrs: Vec<String> = dir.addrs("catalog").to_vec();
    addrs.extend(dir.addrs("orders").iter().cloned());
    addrs.push(dir.frontend_addr().to_string());
    addrs
}

/// Where `pygmy up --frontends 2` puts the second frontend: the port after the first.
fn second_frontend(dir: &ClusterDir) -> String {
    let (host, port) = dir.frontend_addr().rsplit_once(':').unwrap();
    format!("{host}:{}", port.parse::<u16>().unwrap() + 1)
}

/// Pids and command lines of live processes whose command line mentions `root`.
fn processes_mentioning(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            // A zombie's cmdline is empty, so only running processes match.
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmdline
                .contains(root.as_ref())
                .then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

/// Addresses of `addrs` that still accept TCP connections.
async fn listening(addrs: &[String]) -> Vec<String> {
    let mut open = Vec::new();
    for addr in addrs {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            open.push(addr.clone());
        }
    }
    open
}

/// Polls until no process of the cluster in `dir` runs and no address of it accepts
/// connections; prints what is left whenever that changes.
async fn assert_nothing_left(dir: &ClusterDir, what: &str) {
    let addrs = all_addrs(dir);
    let last = Mutex::new(String::new());
    poll_until(ORPHANS_EXIT, what, || async {
        let (open, procs) = (listening(&addrs).await, processes_mentioning(dir.path()));
        let seen = format!("listening: {open:?}; processes: {procs:#?}");
        let mut last = last.lock().unwrap();
        if *last != seen {
            eprintln!("still there: {seen}");
            *last = seen;
        }
        (open.is_empty() && procs.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn killed_up_leaves_no_process_behind() {
    // Goal: `pygmy up --frontends 2` starts a working cluster with two caching frontends, and
    // SIGKILLing it (no chance to clean up) leaves no replica or frontend running. Method:
    // start it, wait until `pygmy cluster` shows both leaders, buy through the CLI, look the
    // book up through both frontends, SIGKILL `up`, then poll until every port is closed and
    // no process mentions the cluster directory.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    let config = dir.config_path().to_string_lossy().into_owned();
    let log = dir.logs_dir().join("up.log");
    let args = ["up", "--config", &config, "--frontends", "2"].map(String::from);
    let mut up = ChildGuard::spawn(bin(), &args, &log, &[]);
    let url = format!("http://{}", dir.frontend_addr());
    poll_until(START, "pygmy cluster to show both leaders", || async {
        let output = pygmy(&["cluster", "--json", "--url", &url]).await;
        let view: ClusterView = serde_json::from_slice(&output.stdout).ok()?;
        let led = view.groups.iter().filter(|g| g.leader.is_some()).count();
        (led == 2).then_some(())
    })
    .await;
    // The books are seeded through the log once the catalog leader's quiet period is over.
    poll_until(START, "the catalog to be seeded", || async {
        let output = pygmy(&["lookup", "1", "--json", "--url", &url]).await;
        output.status.success().then_some(())
    })
    .await;
    let output = pygmy(&["buy", "1", "--quantity", "2", "--json", "--url", &url]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let second = format!("http://{}", second_frontend(&dir));
    for url in [&url, &second] {
        let output = pygmy(&["lookup", "1", "--json", "--url", url]).await;
        let book: Book = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!((book.id, book.stock), (1, 3), "through {url}");
        let output = pygmy(&["cluster", "--json", "--url", url]).await;
        let view: ClusterView = serde_json::from_slice(&output.stdout).unwrap();
        assert!(view.cache.is_some(), "{url} runs its cache");
    }

    up.kill();
    assert_nothing_left(&dir, "every child of the killed pygmy up to exit").await;
    assert!(listening(&[second_frontend(&dir)]).await.is_empty());
}

#[tokio::test]
async fn up_stops_every_child_when_one_cannot_start() {
    // Goal: a child that dies while the cluster starts makes `pygmy up` fail with exit code 2,
    // name it, and stop the others; tokens missing from the config are generated and stored.
    // Method: hold the frontend's port, run `pygmy up` on a config without tokens.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    strip_tokens(&dir);
    let _taken = std::net::TcpListener::bind(dir.frontend_addr()).unwrap();
    let config = dir.config_path().to_string_lossy().into_owned();
    let output = tokio::time::timeout(START, pygmy(&["up", "--config", &config]))
        .await
        .expect("pygmy up gives up within its start-up deadline");
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("frontend exited while the cluster was starting"),
        "{stderr}"
    );
    assert!(stderr.contains("frontend.log"), "{stderr}");
    let tokens = std::fs::read_to_string(dir.data_dir().join("tokens.toml")).unwrap();
    assert!(
        tokens.contains("cluster_token = ") && tokens.contains("admin_token = "),
        "{tokens}"
    );
    // The frontend's address is ours: only the replicas' must be closed.
    let addrs: Vec<String> = all_addrs(&dir)
        .into_iter()
        .filter(|a| a != dir.frontend_addr())
        .collect();
    let open = listening(&addrs).await;
    assert!(open.is_empty(), "still listening: {open:?}");
    assert_eq!(processes_mentioning(dir.path()), Vec::<String>::new());
}
