//! The replica processes of one group, started from a [`ClusterDir`].

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use api::{ReplicaRole, ReplicaStatus};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use crate::child::ChildGuard;
use crate::cluster_dir::ClusterDir;
use crate::poll::poll_until_or;

/// Grace period of [`ReplicaSet::stop`] between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Timeout of every request of [`ReplicaSet::client`].
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of one `GET /status` of [`ReplicaSet::status`].
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Log lines printed per replica when a test fails.
const TAIL_LINES: usize = 40;

/// A group of replica processes of one binary, started as `<bin> <prefix args...> --config
/// <cluster.toml> --id <N>`, plus `--bootstrap` on the first start (a new cluster), never on a
/// restart (a replica must not create its directory again).
///
/// On drop every child is SIGKILLed; if the thread is panicking, the last 40 lines of each
/// replica's log are printed to stderr first.
#[derive(Debug)]
pub struct ReplicaSet<'a> {
    bin: PathBuf,
    prefix_args: Vec<String>,
    dir: &'a ClusterDir,
    group: String,
    /// Replica `id` at index `id - 1`.
    children: Vec<Mutex<ChildGuard>>,
    client: reqwest::Client,
}

impl<'a> ReplicaSet<'a> {
    /// Starts replicas 1..=N of `group` (N = dir.addrs(group).len()).
    pub fn start(
        bin: &Path,
        prefix_args: &[&str],
        dir: &'a ClusterDir,
        group: &str,
    ) -> ReplicaSet<'a> {
        let n = dir.addrs(group).len();
        let mut set = ReplicaSet {
            bin: bin.to_path_buf(),
            prefix_args: prefix_args.iter().map(|a| a.to_string()).collect(),
            dir,
            group: group.to_string(),
            children: Vec::with_capacity(n),
            client: client_for(dir.token()),
        };
        for id in 1..=n as u64 {
            let child = set.spawn(id, true);
            set.children.push(Mutex::new(child));
        }
        set
    }

    /// Spawns replica `id` (no bookkeeping), with `--bootstrap` if `bootstrap`.
    fn spawn(&self, id: u64, bootstrap: bool) -> ChildGuard {
        let mut args = self.prefix_args.clone();
        args.push("--config".into());
        args.push(self.dir.config_path().to_string_lossy().into_owned());
        args.push("--id".into());
        args.push(id.to_string());
        if bootstrap {
            args.push("--bootstrap".into());
        }
        ChildGuard::spawn(&self.bin, &args, &self.log_path(id), &[])
    }

    /// The guard of replica `id`; panics on an unknown id.
    fn child(&self, id: u64) -> MutexGuard<'_, ChildGuard> {
        let index = usize::try_from(id).ok().and_then(|i| i.checked_sub(1));
        let slot = index.and_then(|i| self.children.get(i)).unwrap_or_else(|| {
            panic!(
                "group {} has replicas 1 to {}; there is no replica {id}",
                self.group,
                self.children.len()
            )
        });
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ids of every replica, running or not: `1..=N`.
    pub fn ids(&self) -> Vec<u64> {
        (1..=self.children.len() as u64).collect()
    }

    /// Ids of the replicas whose process is running.
    pub fn running_ids(&self) -> Vec<u64> {
        self.ids()
            .into_iter()
            .filter(|&id| self.is_running(id))
            .collect()
    }

    /// Whether replica `id`'s process has not exited.
    pub fn is_running(&self, id: u64) -> bool {
        self.child(id).try_exit_status().is_none()
    }

    /// SIGKILL + reap replica `id` (no-op if it is not running). Takes `&self` so a test can kill
    /// while other futures use the set.
    pub fn kill(&self, id: u64) {
        self.child(id).kill();
    }

    /// SIGTERM with 10 s grace, then SIGKILL; its exit status.
    pub fn stop(&self, id: u64) -> Option<ExitStatus> {
        self.child(id).terminate(STOP_GRACE)
    }

    /// Spawns replica `id` again, without `--bootstrap` (log appended to the same file); panics
    /// if still running.
    pub fn restart(&self, id: u64) {
        assert!(
            !self.is_running(id),
            "cannot restart {}-{id}: it is still running (kill or stop it first)",
            self.group
        );
        let child = self.spawn(id, false);
        *self.child(id) = child;
    }

    /// The exit status of replica `id` if its process has exited.
    pub fn exit_status(&self, id: u64) -> Option<ExitStatus> {
        self.child(id).try_exit_status()
    }

    /// `127.0.0.1:PORT` of replica `id`.
    pub fn addr(&self, id: u64) -> &str {
        let addrs = self.dir.addrs(&self.group);
        let index = usize::try_from(id).ok().and_then(|i| i.checked_sub(1));
        index
            .and_then(|i| addrs.get(i))
            .unwrap_or_else(|| panic!("group {} has no replica {id}", self.group))
    }

    /// `http://{addr}{path}` of replica `id`.
    pub fn url(&self, id: u64, path: &str) -> String {
        format!("http://{}{path}", self.addr(id))
    }

    /// `<logs>/<group>-<id>.log`.
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.logs_dir().join(format!("{}-{id}.log", self.group))
    }

    /// The whole log of replica `id` (empty if none).
    pub fn log(&self, id: u64) -> String {
        std::fs::read(self.log_path(id))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// A client with no proxy and a 5 s timeout, sending `Authorization: Bearer <cluster token>`
    /// on every request.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The group's name (`catalog` or `orders`).
    pub fn group(&self) -> &str {
        &self.group
    }
}

impl ReplicaSet<'_> {
    /// `GET /status` of replica `id`; None if not running/unreachable/non-200.
    pub async fn status(&self, id: u64) -> Option<ReplicaStatus> {
        if !self.is_running(id) {
            return None;
        }
        fetch_status(self.client.clone(), self.url(id, "/status")).await
    }

    /// For every running replica, in id order: its id and its `/status` (None if it did not
    /// answer). Replicas are queried concurrently.
    pub async fn statuses(&self) -> Vec<(u64, Option<ReplicaStatus>)> {
        let mut tasks = tokio::task::JoinSet::new();
        for id in self.running_ids() {
            let (client, url) = (self.client.clone(), self.url(id, "/status"));
            tasks.spawn(async move { (id, fetch_status(client, url).await) });
        }
        let mut out = tasks.join_all().await;
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// Polls running replicas until one reports role Leader and every running replica that
    /// answers reports that same leader id; returns it.
    ///
    /// On timeout the panic message also lists what each replica last answered.
    pub async fn wait_leader(&self, timeout: Duration) -> u64 {
        let what = format!(
            "a leader of group {} agreed by every answering replica",
            self.group
        );
        let last = Mutex::new(Vec::new());
        let last = &last;
        let attempt = || async move {
            let seen = self.statuses().await;
            let answers: Vec<&ReplicaStatus> =
                seen.iter().filter_map(|(_, s)| s.as_ref()).collect();
            let leaders: Vec<u64> = answers
                .iter()
                .filter(|s| s.role == ReplicaRole::Leader)
                .map(|s| s.id)
                .collect();
            let agreed = match leaders[..] {
                [leader] => answers
                    .iter()
                    .all(|s| s.leader == Some(leader))
                    .then_some(leader),
                _ => None,
            };
            *lock(last) = seen;
            agreed
        };
        poll_until_or(timeout, &what, attempt, || self.describe(&lock(last))).await
    }

    /// Polls until every RUNNING replica answers /status with the same last_applied and the
    /// same digest (and last_applied > 0); returns one status.
    ///
    /// On timeout the panic message also lists what each replica last answered.
    pub async fn wait_converged(&self, timeout: Duration) -> ReplicaStatus {
        let what = format!("every running replica of group {} to converge", self.group);
        let last = Mutex::new(Vec::new());
        let last = &last;
        let attempt = || async move {
            let seen = self.statuses().await;
            let answers: Option<Vec<&ReplicaStatus>> =
                seen.iter().map(|(_, s)| s.as_ref()).collect();
            let converged = answers.and_then(|answers| {
                let first = *answers.first()?;
                let same = answers
                    .iter()
                    .all(|s| s.last_applied == first.last_applied && s.digest == first.digest);
                (same && first.last_applied > 0).then(|| first.clone())
            });
            *lock(last) = seen;
            converged
        };
        poll_until_or(timeout, &what, attempt, || self.describe(&lock(last))).await
    }

    /// One line per replica of what it last answered, for timeout messages.
    fn describe(&self, seen: &[(u64, Option<ReplicaStatus>)]) -> String {
        if seen.is_empty() {
            return "; no replica was running".into();
        }
        let lines: Vec<String> = seen
            .iter()
            .map(|(id, status)| match status {
                None => format!("  {}-{id}: no answer", self.group),
                Some(s) => format!(
                    "  {}-{id}: {:?} leader={:?} term={} last_log_index={} last_applied={} digest={:.12}",
                    self.group, s.role, s.leader, s.term, s.last_log_index, s.last_applied, s.digest
                ),
            })
            .collect();
        format!("; last seen:\n{}", lines.join("\n"))
    }

    /// Panics if any replica log contains "panicked", naming the replica and quoting the line.
    pub fn assert_no_panics(&self) {
        let mut found = Vec::new();
        for id in self.ids() {
            for line in self.log(id).lines().filter(|l| l.contains("panicked")) {
                let path = self.log_path(id);
                found.push(format!("{}-{id} ({}): {line}", self.group, path.display()));
            }
        }
        assert!(found.is_empty(), "replica panicked:\n{}", found.join("\n"));
    }
}

impl Drop for ReplicaSet<'_> {
    fn drop(&mut self) {
        let n = self.children.len() as u64;
        // Dropping a guard SIGKILLs and reaps its child, and never panics.
        self.children.clear();
        if std::thread::panicking() {
            for id in 1..=n {
                eprintln!(
                    "----- last {TAIL_LINES} lines of {}-{id} ({}) -----\n{}",
                    self.group,
                    self.log_path(id).display(),
                    tail(&self.log(id), TAIL_LINES)
                );
            }
        }
    }
}

/// The harness's HTTP client: no proxy, 5 s timeout, cluster token on every request.
fn client_for(token: &str) -> reqwest::Client {
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|e| panic!("cluster token is not a valid header value: {e}"));
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .default_headers(headers)
        .build()
        .unwrap_or_else(|e| panic!("cannot build the HTTP client: {e}"))
}

/// `GET url` as a [`ReplicaStatus`]; None if unreachable, non-200 or not a status.
async fn fetch_status(client: reqwest::Client, url: String) -> Option<ReplicaStatus> {
    let response = client.get(&url).timeout(STATUS_TIMEOUT).send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        tracing::debug!(%url, status = %response.status(), "status not available");
        return None;
    }
    let body = response.bytes().await.ok()?;
    serde_json::from_slice(&body)
        .map_err(|e| tracing::warn!(%url, "unreadable status: {e}"))
        .ok()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::poll_until;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    /// A fake "replica": a shell that logs, then waits; `/bin/sh -c <script> --config .. --id N`.
    fn fake_set<'a>(dir: &'a ClusterDir, script: &str) -> ReplicaSet<'a> {
        ReplicaSet::start(Path::new("/bin/sh"), &["-c", script, "sh"], dir, "catalog")
    }

    #[tokio::test]
    async fn processes_are_started_killed_and_restarted() {
        let dir = ClusterDir::new(2, 1, &[]);
        let set = fake_set(&dir, "echo \"args: $*\"; exec sleep 600");
        assert_eq!(set.ids(), vec![1, 2]);
        assert!(set.is_running(1) && set.is_running(2));
        let log_has = |set: &ReplicaSet<'_>, id: u64, s: &str| set.log(id).contains(s);
        poll_until(Duration::from_secs(10), "the args line", || async {
            log_has(&set, 2, "--id 2").then_some(())
        })
        .await;
        assert!(set
            .log(2)
            .contains(&format!("--config {}", dir.config_path().display())));
        set.kill(1);
        assert!(!set.is_running(1) && set.is_running(2));
        assert_eq!(set.status(1).await, None);
        set.restart(1);
        assert!(set.is_running(1));
        assert_eq!(set.log(1).matches("=== started pid").count(), 2);
        assert!(set.stop(2).is_some());
        assert!(!set.is_running(2));
        // The fake replicas serve no HTTP: no status, so no leader.
        assert_eq!(set.status(1).await, None);
        set.assert_no_panics();
        assert_eq!(
            set.url(1, "/status"),
            format!("http://{}/status", dir.addrs("catalog")[0])
        );
        assert!(set.log_path(1).ends_with("logs/catalog-1.log"));
    }

    /// Runs `fut` on a fresh runtime and returns its panic message. A [`ClusterDir`] it
    /// borrows outlives the panic, so it is still deleted.
    fn panic_message(fut: impl std::future::Future<Output = ()>) -> String {
        let run = std::panic::AssertUnwindSafe(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(fut);
        });
        let payload = std::panic::catch_unwind(run).expect_err("expected a panic");
        let text = payload.downcast_ref::<String>().cloned();
        text.or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn panics_in_logs_are_reported() {
        let dir = ClusterDir::new(1, 1, &[]);
        let message = panic_message(async {
            let script = "echo \"thread 'main' panicked at src/main.rs:1:1\"; exec sleep 600";
            let set = fake_set(&dir, script);
            poll_until(Duration::from_secs(10), "the panic line", || async {
                set.log(1).contains("panicked").then_some(())
            })
            .await;
            set.assert_no_panics();
        });
        assert!(message.contains("catalog-1"), "{message}");
        assert!(
            message.contains("'main' panicked at src/main.rs"),
            "{message}"
        );
    }

    #[test]
    fn wait_leader_times_out_with_what_was_seen() {
        let dir = ClusterDir::new(1, 1, &[]);
        let message = panic_message(async {
            let set = fake_set(&dir, "exec sleep 600");
            set.wait_leader(Duration::from_millis(300)).await;
        });
        assert!(
            message.starts_with("timed out after 300ms waiting for a leader"),
            "{message}"
        );
        assert!(message.contains("catalog-1: no answer"), "{message}");
    }

    /// Serves `status` as `GET /status` on `addr` to requests bearing the cluster token.
    async fn serve_status(addr: &str, status: serde_json::Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).to_lowercase();
                let authorized = request.contains("authorization: bearer test-cluster-token");
                let body = serde_json::to_string(&status).unwrap();
                let head = if authorized {
                    "200 OK"
                } else {
                    "401 Unauthorized"
                };
                let response = format!(
                    "HTTP/1.1 {head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
    }

    #[tokio::test]
    async fn leader_and_convergence_are_read_from_status() {
        let dir = ClusterDir::new(2, 1, &[]);
        let set = fake_set(&dir, "exec sleep 600");
        for id in set.ids() {
            let role = if id == 1 {
                ReplicaRole::Leader
            } else {
                ReplicaRole::Follower
            };
            // JSON rather than a struct literal: fields the struct does not have are ignored.
            let status = serde_json::json!({
                "group": "catalog", "id": id, "role": role, "leader": 1, "term": 2,
                "last_log_index": 7, "last_applied": 7, "snapshot_index": 0, "last_purged": 0,
                "digest": "abc",
            });
            serve_status(set.addr(id), status).await;
        }
        assert_eq!(set.status(2).await.unwrap().role, ReplicaRole::Follower);
        assert_eq!(set.wait_leader(Duration::from_secs(10)).await, 1);
        let converged = set.wait_converged(Duration::from_secs(10)).await;
        assert_eq!(
            (converged.last_applied, converged.digest.as_str()),
            (7, "abc")
        );
    }
}
