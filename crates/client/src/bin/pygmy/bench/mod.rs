//! `pygmy bench`: a load generator against the public API.
//!
//! `--concurrency` workers (tokio tasks on a multi-threaded runtime) share one HTTP client
//! (keep-alive connections) and a [`Budget`] of sequence numbers; each sends the request its
//! number stands for ([`Op::plan`]), waits for the answer, records it in its own [`Recorder`]
//! and goes on until the budget runs out (request count, duration, or Ctrl-C). The recorders
//! are merged into a [`Report`], printed as a table or as JSON. With `--checkpoint-every N`,
//! each completed request is also counted into a window of N requests, and tasks of
//! `growth` make a checkpoint of every window off the workers' path (`--svg` draws them).
//!
//! Layout: this file has the flags, the set-up and the workers; `growth` the checkpoint
//! tasks; `plot` the drawing and `svg_file` its file; `print` the tables; `progress` the
//! progress line.
//!
//! Setup failures (frontend unreachable, no admin token, restock refused) are errors (exit
//! 2); failed requests during the run are counted and reported, and the run still succeeds.

use std::collections::BTreeSet;
use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use api::book::STOCK_DELTA_ABS_MAX;
use clap::{value_parser, Args, ValueEnum};
use client::bench::{
    Budget, Checkpoint, Op, Recorder, Report, RunInfo, Target, WindowRecorder, BOOK_IDS,
};
use client::PygmyClient;
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use self::growth::{Setup, CHECKPOINTS_MAX};
use self::svg_file::SvgFile;
use crate::cluster_cpu::ClusterCpu;
use crate::output;
use runtime::entry::ConfigArgs;
use runtime::{tokens, Cluster, ClusterOverrides};

mod growth;
mod plot;
mod print;
mod progress;
mod svg_file;

/// Most concurrent workers allowed: each holds a connection to the frontend.
const CONCURRENCY_MAX: u64 = 1_024;
/// Run length when neither `--duration` nor `--requests` is given.
const DURATION_DEFAULT: Duration = Duration::from_secs(10);
/// Before a buying run, every book is topped up to at least this many copies (or to the
/// request budget, if larger), so that buys do not run out of stock.
const RESTOCK_COPIES_MIN: u64 = 1_000_000;
/// `pygmy bench --op OP [--concurrency C] [--duration D] [--requests N]`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to send.
    #[arg(long, value_enum)]
    op: OpArg,
    /// Concurrent workers, each with one request in flight at a time.
    #[arg(long, short, default_value_t = 8,
          value_parser = value_parser!(u64).range(1..=CONCURRENCY_MAX))]
    concurrency: u64,
    /// How long to send requests, e.g. 10s, 500ms, 1m. Default: 10s, or no limit with
    /// --requests. With both, the run ends at whichever comes first.
    #[arg(long, short, value_parser = duration)]
    duration: Option<Duration>,
    /// Total requests to send, across all workers.
    #[arg(long, short = 'n', value_parser = value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Admin token, used to top up stock before `buy` and `mix`. Default: the configuration's
    /// `admin_token`, else the one `pygmy up` stored in `<data_dir>/tokens.toml`.
    #[arg(long, env = "PYGMY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Cluster configuration, read only to find the admin token.
    #[arg(long, env = "PYGMY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory, read only to find `tokens.toml`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Do not top up stock before buying (no admin token needed; buys may then be refused
    /// as out of stock, which is counted apart).
    #[arg(long)]
    no_restock: bool,
    /// Take a checkpoint every N completed requests: that window's throughput and p50/p99
    /// latency (of its own requests, not the run so far), each replica's GET /status time
    /// (median of 5) and resident memory (VmRSS, when it runs on this machine), and the
    /// cluster's CPU per request. Printed as a table after the run, and in --json. At most
    /// 10000 checkpoints; a last window shorter than N has none.
    #[arg(long, value_name = "N", value_parser = value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Draw the checkpoints into this SVG file: throughput, p50/p99 latency, /status time and
    /// memory per replica against the requests (orders) done. Needs --checkpoint-every; the
    /// file is opened before the run, so a path that cannot be written fails at once.
    #[arg(long, value_name = "FILE", requires = "checkpoint_every")]
    svg: Option<PathBuf>,
}

/// `--op`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum OpArg {
    /// GET /books/{id} over books 1 to 7, round robin.
    Lookup,
    /// GET /books?topic= over ds and gs, alternately.
    Search,
    /// POST /orders of one copy over books 1 to 7, each with its own idempotency key.
    Buy,
    /// 90% lookups and searches, 10% buys.
    Mix,
}

impl From<OpArg> for Op {
    fn from(op: OpArg) -> Op {
        match op {
            OpArg::Lookup => Op::Lookup,
            OpArg::Search => Op::Search,
            OpArg::Buy => Op::Buy,
            OpArg::Mix => Op::Mix,
        }
    }
}

/// Parses `--duration`: a non-zero duration with units.
fn duration(text: &str) -> std::result::Result<Duration, String> {
    match client::bench::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("the duration must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// `pygmy bench`, on a multi-threaded runtime of its own (one thread per core), so that the
/// load generator itself is not the bottleneck.
pub(crate) fn run(args: BenchArgs, url: &str, json: bool) -> Result<()> {
    check_checkpoints(args.checkpoint_every, args.requests)?;
    let svg = args.svg.as_deref().map(SvgFile::open).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(bench(args, url, json))?;
    let out = &mut std::io::stdout().lock();
    if json {
        output::json(out, &report)?;
    } else {
        print::print_report(out, &report)?;
        if report.run.checkpoint_every.is_some() {
            print::print_checkpoints(out, &report.checkpoints, report.run.op)?;
        }
    }
    out.flush()?;
    if let Some(svg) = svg {
        svg.write(&plot::render(
            &report.checkpoints,
            count_name(report.run.op),
        )?)?;
    }
    Ok(())
}

/// Refuses checkpoints the run cannot take: one larger than the request budget, or more of
/// them than [`CHECKPOINTS_MAX`].
fn check_checkpoints(every: Option<u64>, requests: Option<u64>) -> Result<()> {
    let (Some(every), Some(requests)) = (every, requests) else {
        return Ok(());
    };
    if every > requests {
        anyhow::bail!(
            "--checkpoint-every {every} is more than --requests {requests}: the run would end \
             before its first checkpoint"
        );
    }
    if requests / every > CHECKPOINTS_MAX {
        anyhow::bail!(
            "--requests {requests} with --checkpoint-every {every} makes {} checkpoints; at most \
             {CHECKPOINTS_MAX} are taken: raise --checkpoint-every to at least {}",
            requests / every,
            requests.div_ceil(CHECKPOINTS_MAX)
        );
    }
    Ok(())
}

/// What the requests of `op` are counted as: orders when every request is a buy.
fn count_name(op: Op) -> &'static str {
    if op == Op::Buy {
        "orders"
    } else {
        "requests"
    }
}

/// Checks the frontend, tops up stock if the run buys, then runs the load.
async fn bench(args: BenchArgs, url: &str, json: bool) -> Result<Report> {
    let client = PygmyClient::new(url)?;
    client
        .health()
        .await
        .with_context(|| format!("the frontend at {} does not answer", client.base_url()))?;
    let op = Op::from(args.op);
    // Read once: for the admin token if needed, for the ports whose CPU is measured, and for
    // the replicas that checkpoints look at.
    let cluster = ConfigArgs {
        config: args.config,
        data: args.data,
    }
    .load(ClusterOverrides::default());
    if op.buys() && !args.no_restock {
        let token = match args.admin_token {
            Some(token) => token,
            None => tokens::admin_token(cluster.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?)?,
        };
        let copies = RESTOCK_COPIES_MIN.max(args.requests.unwrap_or(0));
        restock(&client, &token, copies).await?;
    }
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(DURATION_DEFAULT),
        (duration, _) => duration,
    };
    let mut run = RunInfo {
        op,
        concurrency: args.concurrency,
        requests_max: args.requests,
        duration_ms_max: duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        interrupted: false,
        checkpoint_every: args.checkpoint_every,
    };
    let hidden = json || !std::io::stderr().is_terminal();
    let bar = progress::progress_bar(hidden, run.requests_max, duration);
    let key_prefix = format!("bench-{}", tokens::random_hex(8));
    let ports = cluster
        .as_ref()
        .ok()
        .and_then(|cluster| cluster_ports(&client, cluster));
    let growth = args
        .checkpoint_every
        .map(|every| growth_setup(every, &cluster, ports.as_ref()))
        .transpose()?;
    let cpu = ports.and_then(|ports| ClusterCpu::start(&ports));
    let target = Target::new(client, &key_prefix);
    let driven = drive(target, &run, duration, bar, growth).await?;
    run.interrupted = driven.interrupted;
    let mut report = Report::new(run, &driven.recorder, driven.elapsed);
    report.cpu = cpu.map(|c| c.finish(report.requests));
    report.checkpoints = driven.checkpoints;
    Ok(report)
}

/// What the checkpoint tasks need: the replicas of `cluster` (with their processes when
/// `ports` says the cluster runs here), a CPU meter of those ports, a `/status` probe.
///
/// # Errors
/// The cluster configuration could not be read: without it there are no replicas to look at.
fn growth_setup(
    every: u64,
    cluster: &runtime::Result<Cluster>,
    ports: Option<&BTreeSet<u16>>,
) -> Result<Setup> {
    let cluster = cluster.as_ref().map_err(|e| {
        anyhow::anyhow!("{e}").context("checkpoints need the cluster configuration")
    })?;
    Ok(Setup {
        every,
        replicas: growth::replicas(cluster, ports.is_some()),
        cpu: ports.and_then(ClusterCpu::start),
        status: growth::StatusProbe::new(&cluster.cluster_token)?,
    })
}

/// The ports of the cluster's processes when it runs on this machine (the frontend's URL is a
/// loopback address): the frontend's and every replica's of `cluster`. `None` when the cluster
/// is elsewhere: then no CPU is reported.
fn cluster_ports(client: &PygmyClient, cluster: &Cluster) -> Option<BTreeSet<u16>> {
    let url = reqwest::Url::parse(client.base_url()).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']);
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local {
        return None;
    }
    let port = |addr: &String| addr.rsplit_once(':')?.1.parse::<u16>().ok();
    let mut ports: BTreeSet<u16> = cluster
        .catalog
        .iter()
        .chain(&cluster.orders)
        .filter_map(port)
        .collect();
    ports.insert(url.port_or_known_default()?);
    Some(ports)
}

/// Tops every book up to at least `copies` copies.
async fn restock(client: &PygmyClient, token: &str, copies: u64) -> Result<()> {
    for id in BOOK_IDS {
        let book = client
            .lookup(id)
            .await
            .with_context(|| format!("reading book {id} before restocking it"))?;
        let missing = copies.saturating_sub(book.stock);
        if missing == 0 {
            continue;
        }
        let delta =
            i64::try_from(missing).map_or(STOCK_DELTA_ABS_MAX, |d| d.min(STOCK_DELTA_ABS_MAX));
        client
            .update_book(id, Some(delta), None, token)
            .await
            .with_context(|| format!("restocking book {id} before the buys"))?;
    }
    Ok(())
}

/// What the workers of a run produced.
struct Driven {
    /// Every request.
    recorder: Recorder,
    /// From the first request sent to the last answer read.
    elapsed: Duration,
    /// Whether Ctrl-C cut the run short.
    interrupted: bool,
    /// One per closed window, when `--checkpoint-every` was given.
    checkpoints: Vec<Checkpoint>,
}

/// Runs the workers until the budget is spent, with the checkpoint tasks of `growth` beside
/// them if given.
async fn drive(
    target: Target,
    run: &RunInfo,
    duration: Option<Duration>,
    bar: ProgressBar,
    growth: Option<Setup>,
) -> Result<Driven> {
    let started = Instant::now();
    let budget = Arc::new(Budget::new(run.requests_max, duration.map(|d| started + d)));
    let done = Arc::new(AtomicU64::new(0));
    let windows = growth
        .as_ref()
        .map(|g| Arc::new(WindowRecorder::new(g.every, CHECKPOINTS_MAX)));
    let checkpointing = growth
        .zip(windows.clone())
        .map(|(g, w)| g.start(w, started));
    let mut workers = JoinSet::new();
    for _ in 0..run.concurrency {
        let shared = (budget.clone(), done.clone(), windows.clone());
        workers.spawn(worker(target.clone(), run.op, shared));
    }
    let by_count = run.requests_max.is_some();
    let progress = tokio::spawn(progress::show_progress(
        bar.clone(),
        done,
        started,
        by_count,
    ));
    let interrupt = tokio::spawn({
        let budget = budget.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                budget.stop();
            }
        }
    });
    let mut recorder = Recorder::new();
    while let Some(joined) = workers.join_next().await {
        recorder.merge(&joined.context("a bench worker panicked")?);
    }
    let elapsed = started.elapsed();
    progress.abort();
    interrupt.abort();
    bar.finish_and_clear();
    let checkpoints = match checkpointing {
        Some(checkpointing) => checkpointing.finish().await?,
        None => Vec::new(),
    };
    Ok(Driven {
        recorder,
        elapsed,
        interrupted: budget.is_stopped(),
        checkpoints,
    })
}

/// What the workers share: the budget, the count of requests done (for the progress bar),
/// and the windows of the checkpoints, if any.
type Shared = (Arc<Budget>, Arc<AtomicU64>, Option<Arc<WindowRecorder>>);

/// One worker: sends one request at a time until the budget is spent (the budget always has
/// a request count or a deadline, and Ctrl-C stops it).
async fn worker(target: Target, op: Op, (budget, done, windows): Shared) -> Recorder {
    let mut recorder = Recorder::new();
    while let Some(seq) = budget.next() {
        let sample = target.send(op.plan(seq)).await;
        if let Some(windows) = &windows {
            windows.record(&sample);
        }
        recorder.record(sample);
        done.fetch_add(1, Ordering::Relaxed);
    }
    recorder
}
