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

    /// SIGSTOP replica `id`: it stays up but answers nothing until [`ReplicaSet::resume`].
    pub fn pause(&self, id: u64) {
        self.child(id).pause();
    }

    /// SIGCONT replica `id` after [`ReplicaSet::pause`].
    pub fn resume(&self, id: u64) {
        self.child(id).resume();
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
mod tests;
