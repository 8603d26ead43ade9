//! `pygmy bench --checkpoint-every N`: how the cluster's costs move as the store grows. Every
//! N completed requests, a checkpoint of that window (throughput, p50/p99) and of the
//! replicas at its end (`/status` time, resident memory, CPU per request).
//!
//! Two tasks beside the workers, so that no worker waits on a checkpoint and no window's
//! histogram waits on the network:
//! - the collector takes each window from the [`WindowRecorder`] as soon as it closes, reads
//!   the cluster's CPU and each replica's memory from `/proc` (no network), and passes the
//!   checkpoint on;
//! - the prober times each replica's `/status` for it, in order, and keeps the checkpoints.
//!   When probes are slower than windows, a checkpoint's `/status` time is taken after its
//!   window's end, never skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use client::bench::{
    median, Checkpoint, ReplicaCheckpoint, WindowRecorder, STATUS_GETS_PER_CHECKPOINT,
};
use runtime::{Cluster, GroupName};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::cluster_cpu::{self, ClusterCpu};

/// Most checkpoints in a run: more rows make neither a readable table nor a readable plot,
/// and the bound keeps the queue between the two tasks (a few hundred bytes a checkpoint)
/// and the windows ever recorded finite.
pub(crate) const CHECKPOINTS_MAX: u64 = 10_000;
/// Deadline of one `GET /status`; a replica that misses it has no `/status` time at that
/// checkpoint (a 5 s `/status` is a finding in itself, shown as missing).
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Names of the processes a replica runs as (`/proc/<pid>/comm`); memory is reported only for
/// these, so that a proxy holding a published port is never measured instead.
const REPLICA_COMMANDS: [&str; 3] = ["pygmy", "catalog-svc", "order-svc"];

/// One replica of the cluster configuration.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    /// `catalog-1`, `orders-2`, ...
    name: String,
    /// `host:port`.
    addr: String,
    /// The process serving it here, if it was found; looked up once, before the run, so a
    /// replica restarted during the run has no memory figure from then on.
    pid: Option<u32>,
}

/// The replicas of `cluster`, catalog first; their processes are looked up when `local` (the
/// cluster runs on this machine).
pub(crate) fn replicas(cluster: &Cluster, local: bool) -> Vec<Replica> {
    let mut replicas = Vec::new();
    for group in [GroupName::Catalog, GroupName::Orders] {
        for (i, addr) in cluster.replicas(group).iter().enumerate() {
            let pid = local.then(|| replica_pid(addr)).flatten();
            let name = format!("{}-{}", group.as_str(), i + 1);
            replicas.push(Replica {
                name,
                addr: addr.clone(),
                pid,
            });
        }
    }
    replicas
}

/// The replica process listening on `addr`'s port here.
fn replica_pid(addr: &str) -> Option<u32> {
    let port = addr.rsplit_once(':')?.1.parse::<u16>().ok()?;
    let pid = cluster_cpu::listener_pid(port)?;
    let name = cluster_cpu::command_name(pid)?;
    REPLICA_COMMANDS.contains(&name.as_str()).then_some(pid)
}

/// Times `GET /status` of replicas.
#[derive(Debug, Clone)]
pub(crate) struct StatusProbe {
    http: reqwest::Client,
    /// The cluster token: `/status` is an internal route.
    token: String,
}

impl StatusProbe {
    /// A probe presenting `cluster_token`.
    pub(crate) fn new(cluster_token: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(STATUS_TIMEOUT)
            .build()
            .context("cannot build the HTTP client of the /status probes")?;
        Ok(Self {
            http,
            token: cluster_token.to_string(),
        })
    }

    /// The median time of [`STATUS_GETS_PER_CHECKPOINT`] `GET /status` to `addr`, answer read,
    /// in milliseconds; `None` if any of them fails or is refused.
    async fn median_ms(&self, addr: &str) -> Option<f64> {
        let url = format!("http://{addr}/status");
        let mut times_ms = Vec::with_capacity(STATUS_GETS_PER_CHECKPOINT);
        for _ in 0..STATUS_GETS_PER_CHECKPOINT {
            let sent = Instant::now();
            let answer = self.http.get(&url).bearer_auth(&self.token).send().await;
            let answer = answer.ok().filter(|a| a.status().is_success())?;
            answer.bytes().await.ok()?;
            times_ms.push(sent.elapsed().as_secs_f64() * 1_000.0);
        }
        median(&times_ms).map(|ms| (ms * 1_000.0).round() / 1_000.0)
    }
}

/// What checkpoints need before the run: their interval and how to look at the cluster.
#[derive(Debug)]
pub(crate) struct Setup {
    /// Requests per checkpoint.
    pub(crate) every: u64,
    pub(crate) replicas: Vec<Replica>,
    /// The cluster's processes, when all were found here.
    pub(crate) cpu: Option<ClusterCpu>,
    pub(crate) status: StatusProbe,
}

/// The two checkpoint tasks of a running bench.
#[derive(Debug)]
pub(crate) struct Checkpointing {
    stop: oneshot::Sender<()>,
    collector: JoinHandle<()>,
    prober: JoinHandle<Vec<Checkpoint>>,
}

impl Setup {
    /// Starts the collector and the prober on `windows`, for a run begun at `run_started`.
    pub(crate) fn start(self, windows: Arc<WindowRecorder>, run_started: Instant) -> Checkpointing {
        let capacity = usize::try_from(CHECKPOINTS_MAX).expect("a small constant");
        let (checkpoints, probed) = mpsc::channel(capacity);
        let (stop, stopped) = oneshot::channel();
        let addrs: Vec<String> = self.replicas.iter().map(|r| r.addr.clone()).collect();
        let collector = Collector {
            closed: windows.subscribe(),
            windows,
            run_started,
            replicas: self.replicas,
            cpu: self.cpu,
            checkpoints,
        };
        Checkpointing {
            stop,
            collector: tokio::spawn(collector.run(stopped)),
            prober: tokio::spawn(probe(probed, addrs, self.status)),
        }
    }
}

impl Checkpointing {
    /// Once the workers are done: the checkpoints of every closed window, in order.
    ///
    /// # Errors
    /// A checkpoint task panicked.
    pub(crate) async fn finish(self) -> Result<Vec<Checkpoint>> {
        // The receiver is gone only if the collector ended already, which it does on stop.
        let _ = self.stop.send(());
        self.collector
            .await
            .context("the checkpoint collector panicked")?;
        self.prober.await.context("the /status prober panicked")
    }
}

/// The collector's state: takes closed windows and makes checkpoints of them.
struct Collector {
    windows: Arc<WindowRecorder>,
    closed: watch::Receiver<u64>,
    run_started: Instant,
    replicas: Vec<Replica>,
    cpu: Option<ClusterCpu>,
    checkpoints: mpsc::Sender<Checkpoint>,
}

impl Collector {
    /// Takes each window as it closes until `stopped`, then the ones closed by then. Loops
    /// until stopped: the watch's sender lives as long as `windows`, which this holds.
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let (mut taken, mut window_started, mut cpu_ticks) = (0, self.run_started, 0);
        let mut stopping = false;
        loop {
            let closed = *self.closed.borrow_and_update();
            for index in taken..closed {
                let window = self
                    .windows
                    .take(index)
                    .expect("a window announced as closed is there until taken, once");
                let mut checkpoint = Checkpoint::of(&window, window_started, self.run_started);
                window_started = window.ended_at;
                if let Some(cpu) = &self.cpu {
                    let ticks = cpu.spent_ticks();
                    let spent = ticks.saturating_sub(cpu_ticks);
                    cpu_ticks = ticks;
                    let per_request = cluster_cpu::us_per_request(spent, window.requests);
                    checkpoint.cpu_per_request_us = Some(per_request);
                }
                checkpoint.replicas = self.replicas.iter().map(memory).collect();
                // Never waits: the channel holds CHECKPOINTS_MAX, the most windows recorded.
                if self.checkpoints.send(checkpoint).await.is_err() {
                    return;
                }
            }
            taken = taken.max(closed);
            if stopping {
                return;
            }
            tokio::select! {
                changed = self.closed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = &mut stopped => stopping = true,
            }
        }
    }
}

/// `replica` at a checkpoint, its memory read, its `/status` time left to the prober.
fn memory(replica: &Replica) -> ReplicaCheckpoint {
    let bytes = replica.pid.and_then(cluster_cpu::resident_bytes);
    ReplicaCheckpoint {
        replica: replica.name.clone(),
        status_ms: None,
        rss_mib: bytes.map(|b| (b as f64 / (1_024.0 * 1_024.0) * 10.0).round() / 10.0),
    }
}

/// Fills in the `/status` time of every replica of each checkpoint, in order, until the
/// collector is done.
async fn probe(
    mut checkpoints: mpsc::Receiver<Checkpoint>,
    addrs: Vec<String>,
    status: StatusProbe,
) -> Vec<Checkpoint> {
    let mut done = Vec::new();
    while let Some(mut checkpoint) = checkpoints.recv().await {
        for (replica, addr) in checkpoint.replicas.iter_mut().zip(&addrs) {
            replica.status_ms = status.median_ms(addr).await;
        }
        done.push(checkpoint);
    }
    done
}
