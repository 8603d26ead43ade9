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
async fn up_refuses_a_taken_port_before_touching_anything() {
    // Goal (#11 item 3): an address of the cluster already taken (another `pygmy up`, or any
    // process) stops `pygmy up` before it starts or writes anything: exit 2, naming the address
    // and the child it was for. Method: hold the frontend's port, run `pygmy up` on a config
    // without tokens; no child may run, no token may be generated.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    strip_tokens(&dir);
    let _taken = std::net::TcpListener::bind(dir.frontend_addr()).unwrap();
    let config = dir.config_path().to_string_lossy().into_owned();
    let output = tokio::time::timeout(START, pygmy(&["up", "--config", &config]))
        .await
        .expect("pygmy up refuses at once");
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    let named = format!("cannot listen on {} (frontend)", dir.frontend_addr());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("nothing was started"), "{stderr}");
    assert!(!dir.data_dir().join("tokens.toml").exists());
    assert!(!dir.data_dir().join("cluster_id").exists());
    assert_eq!(processes_mentioning(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn up_quotes_the_real_error_of_a_child_and_stops_the_others() {
    // Goal (#11 item 3): a child that exits while the cluster starts makes `pygmy up` exit 2
    // quoting that child's own error from this run, never a stale line of an earlier run's
    // log, and stop the others; tokens missing from the config are generated and stored.
    // Method: a catalog file that does not exist (every catalog replica exits at start), a
    // catalog-1 log holding an earlier run's error line, a config without tokens.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    strip_tokens(&dir);
    let text = std::fs::read_to_string(dir.config_path()).unwrap();
    let text = text.replace(
        "[catalog]\n",
        "[catalog]\ncatalog_file = \"/nonexistent/books.toml\"\n",
    );
    std::fs::write(dir.config_path(), text).unwrap();
    let logs = dir.data_dir().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let stale = "pygmy: a stale error of an earlier run";
    for k in 1..=3 {
        std::fs::write(logs.join(format!("catalog-{k}.log")), format!("{stale}\n")).unwrap();
    }
    let config = dir.config_path().to_string_lossy().into_owned();
    let output = tokio::time::timeout(START, pygmy(&["up", "--config", &config]))
        .await
        .expect("pygmy up gives up within its start-up deadline");
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("exited while the cluster was starting"),
        "{stderr}"
    );
    assert!(
        stderr.contains("catalog file /nonexistent/books.toml"),
        "{stderr}"
    );
    assert!(!stderr.contains(stale), "{stderr}");
    let tokens = std::fs::read_to_string(dir.data_dir().join("tokens.toml")).unwrap();
    assert!(
        tokens.contains("cluster_token = ") && tokens.contains("admin_token = "),
        "{tokens}"
    );
    let open = listening(&all_addrs(&dir)).await;
    assert!(open.is_empty(), "still listening: {open:?}");
    assert_eq!(processes_mentioning(dir.path()), Vec::<String>::new());
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Asserts that `pygmy up`'s data directory and everything in it is private (#11 item 13).
fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "{}", data.display());
    for sub in ["logs", "catalog-1", "orders-3"] {
        assert_eq!(mode(&data.join(sub)), 0o700, "{sub}");
    }
    for file in files_under(data) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// Pids of live processes whose command line mentions `root`.
fn pids_mentioning(root: &Path) -> Vec<String> {
    processes_mentioning(root)
        .iter()
        .filter_map(|line| line.split_once(':').map(|(pid, _)| pid.to_string()))
        .collect()
}

#[tokio::test]
async fn a_running_cluster_is_safe_from_a_second_up_and_from_up_fresh() {
    // Goal (#11 items 1, 3, 13): `pygmy up --fresh` on the data directory of a running cluster
    // refuses (exit 2) and deletes nothing; a second `pygmy up` on the same ports (another data
    // directory) refuses before writing anything instead of reporting the other cluster as its
    // own; the running cluster's files are private and its children get no token in their
    // environment. Method: `pygmy up` on a config without tokens; once it serves, run both
    // mistakes, check the data directory, the modes and the children's environments, and that
    // the cluster still serves.
    test_support::init_tracing();
    let dir = ClusterDir::new(3, 3, &[]);
    strip_tokens(&dir);
    // `up` creates the data directory itself (the harness made it with the test's umask).
    std::fs::remove_dir_all(dir.data_dir()).unwrap();
    let config = dir.config_path().to_string_lossy().into_owned();
    let log = dir.logs_dir().join("up.log");
    let args = ["up", "--config", &config].map(String::from);
    let mut up = ChildGuard::spawn(bin(), &args, &log, &[]);
    let url = format!("http://{}", dir.frontend_addr());
    poll_until(START, "the cluster to serve the catalog", || async {
        let output = pygmy(&["lookup", "1", "--json", "--url", &url]).await;
        output.status.success().then_some(())
    })
    .await;

    let output = pygmy(&["up", "--config", &config, "--fresh"]).await;
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("in use by running replicas"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    for kept in ["catalog-1", "orders-3", "logs", "tokens.toml", "cluster_id"] {
        assert!(dir.data_dir().join(kept).exists(), "{kept} was deleted");
    }

    let other = dir.path().join("other-data");
    let other_arg = other.to_string_lossy().into_owned();
    let output = pygmy(&["up", "--config", &config, "--data", &other_arg]).await;
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(
        !other.exists(),
        "the refused up created {}",
        other.display()
    );

    assert_private(&dir.data_dir());
    let children = pids_mentioning(dir.path());
    assert!(children.len() >= 7, "{children:?}");
    for pid in children {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains("_TOKEN="),
            "pid {pid} has a token in its environment"
        );
    }
    let output = pygmy(&["lookup", "1", "--json", "--url", &url]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    up.kill();
    assert_nothing_left(&dir, "every child of the killed pygmy up to exit").await;
}
