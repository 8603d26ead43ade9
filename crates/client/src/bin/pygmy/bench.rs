//! `pygmy bench`: a load generator against the public API.
//!
//! `--concurrency` workers (tokio tasks on a multi-threaded runtime) share one HTTP client
//! (keep-alive connections) and a [`Budget`] of sequence numbers; each sends the request its
//! number stands for ([`Op::plan`]), waits for the answer, records it in its own [`Recorder`]
//! and goes on until the budget runs out (request count, duration, or Ctrl-C). The recorders
//! are merged into a [`Report`], printed as a table or as JSON.
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
use client::bench::{Budget, Op, Recorder, Report, RunInfo, Target, BOOK_IDS};
use client::PygmyClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinSet;

use crate::cluster_cpu::ClusterCpu;
use crate::output::{self, Align, Table};
use runtime::entry::ConfigArgs;
use runtime::{tokens, Cluster, ClusterOverrides};

/// Most concurrent workers allowed: each holds a connection to the frontend.
const CONCURRENCY_MAX: u64 = 1_024;
/// Run length when neither `--duration` nor `--requests` is given.
const DURATION_DEFAULT: Duration = Duration::from_secs(10);
/// Before a buying run, every book is topped up to at least this many copies (or to the
/// request budget, if larger), so that buys do not run out of stock.
const RESTOCK_COPIES_MIN: u64 = 1_000_000;
/// How often the progress line is redrawn, in milliseconds.
const PROGRESS_TICK_MS: u64 = 200;
/// The rate shown is over this many ticks (1 s).
const PROGRESS_RATE_TICKS: usize = 5;

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(bench(args, url, json))?;
    let out = &mut std::io::stdout().lock();
    if json {
        output::json(out, &report)?;
    } else {
        print_report(out, &report)?;
    }
    out.flush()?;
    Ok(())
}

/// Checks the frontend, tops up stock if the run buys, then runs the load.
async fn bench(args: BenchArgs, url: &str, json: bool) -> Result<Report> {
    let client = PygmyClient::new(url)?;
    client
        .health()
        .await
        .with_context(|| format!("the frontend at {} does not answer", client.base_url()))?;
    let op = Op::from(args.op);
    // Read once: for the admin token if needed, and for the ports whose CPU is measured.
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
    };
    let hidden = json || !std::io::stderr().is_terminal();
    let bar = progress_bar(hidden, run.requests_max, duration);
    let key_prefix = format!("bench-{}", tokens::random_hex(8));
    let cpu = cluster
        .ok()
        .and_then(|cluster| cluster_ports(&client, &cluster))
        .and_then(|ports| ClusterCpu::start(&ports));
    let target = Target::new(client, &key_prefix);
    let (recorder, elapsed, interrupted) = drive(target, &run, duration, bar).await?;
    run.interrupted = interrupted;
    let mut report = Report::new(run, &recorder, elapsed);
    report.cpu = cpu.map(|c| c.finish(report.requests));
    Ok(report)
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

/// Runs the workers until the budget is spent; returns what they recorded, the time it took,
/// and whether Ctrl-C cut the run short.
async fn drive(
    target: Target,
    run: &RunInfo,
    duration: Option<Duration>,
    bar: ProgressBar,
) -> Result<(Recorder, Duration, bool)> {
    let started = Instant::now();
    let budget = Arc::new(Budget::new(run.requests_max, duration.map(|d| started + d)));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..run.concurrency {
        workers.spawn(worker(target.clone(), run.op, budget.clone(), done.clone()));
    }
    let by_count = run.requests_max.is_some();
    let progress = tokio::spawn(show_progress(bar.clone(), done, started, by_count));
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
    Ok((recorder, elapsed, budget.is_stopped()))
}

/// One worker: sends one request at a time until the budget is spent (the budget always has
/// a request count or a deadline, and Ctrl-C stops it).
async fn worker(target: Target, op: Op, budget: Arc<Budget>, done: Arc<AtomicU64>) -> Recorder {
    let mut recorder = Recorder::new();
    while let Some(seq) = budget.next() {
        recorder.record(target.send(op.plan(seq)).await);
        done.fetch_add(1, Ordering::Relaxed);
    }
    recorder
}

/// The progress bar on stderr: requests done out of the budget, or time out of the duration.
fn progress_bar(hidden: bool, requests: Option<u64>, duration: Option<Duration>) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let length = match (requests, duration) {
        (Some(requests), _) => requests,
        (None, Some(d)) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        (None, None) => 0,
    };
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Redraws the progress bar every tick with the requests done and the rate over the last
/// second. Loops until aborted by `drive`.
async fn show_progress(bar: ProgressBar, done: Arc<AtomicU64>, started: Instant, by_count: bool) {
    let mut tick = tokio::time::interval(Duration::from_millis(PROGRESS_TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut window = std::collections::VecDeque::with_capacity(PROGRESS_RATE_TICKS + 1);
    loop {
        tick.tick().await;
        let (now, count) = (Instant::now(), done.load(Ordering::Relaxed));
        window.push_back((now, count));
        if window.len() > PROGRESS_RATE_TICKS + 1 {
            window.pop_front();
        }
        let (then, before) = window.front().copied().unwrap_or((now, count));
        let seconds = now.duration_since(then).as_secs_f64();
        let rate = if seconds > 0.0 {
            (count - before) as f64 / seconds
        } else {
            0.0
        };
        let elapsed_ms = u64::try_from(now.duration_since(started).as_millis()).unwrap_or(u64::MAX);
        bar.set_position(if by_count { count } else { elapsed_ms });
        bar.set_message(format!("{count} requests, {rate:.0} req/s"));
    }
}

/// The report as tables: a summary line, one row per request kind and one for all of them,
/// the errors by kind, and the time spent per tier.
fn print_report(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let run = &report.run;
    let cut = if run.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    writeln!(
        out,
        "op {}, concurrency {}: {} requests in {:.2} s, {:.1} req/s{cut}\n",
        run.op.name(),
        run.concurrency,
        report.requests,
        report.elapsed_s,
        report.throughput_rps
    )?;
    let mut table = Table::new(&[
        ("KIND", Align::Left),
        ("COUNT", Align::Right),
        ("OK", Align::Right),
        ("OUT_OF_STOCK", Align::Right),
        ("ERRORS", Align::Right),
        ("REQ/S", Align::Right),
        ("P50_MS", Align::Right),
        ("P90_MS", Align::Right),
        ("P99_MS", Align::Right),
        ("P99.9_MS", Align::Right),
        ("MAX_MS", Align::Right),
    ]);
    let mut errors = Vec::new();
    for k in report.kinds.iter().chain(std::iter::once(&report.total)) {
        let l = &k.latency_ms;
        let counts = [k.count, k.ok, k.out_of_stock, k.errors].map(|n| n.to_string());
        let rate = format!("{:.1}", k.throughput_rps);
        let ms = [l.p50, l.p90, l.p99, l.p999, l.max].map(|v| format!("{v:.3}"));
        table.row([&[k.kind.clone()][..], &counts, &[rate], &ms].concat());
        if k.kind != "all" && k.errors > 0 {
            let list: Vec<String> = k
                .errors_by_kind
                .iter()
                .map(|(e, n)| format!("{e} {n}"))
                .collect();
            errors.push(format!("errors of {}: {}", k.kind, list.join(", ")));
        }
    }
    table.write(out)?;
    for line in errors {
        writeln!(out, "{line}")?;
    }
    if let Some(cpu) = &report.cpu {
        writeln!(
            out,
            "\nCPU of the cluster's {} processes: {:.2} s, {} us per request",
            cpu.processes, cpu.cpu_s, cpu.per_request_us
        )?;
    }
    print_tiers(out, report)
}

/// Time per tier from `Server-Timing`, or a line saying there was none.
fn print_tiers(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    writeln!(out)?;
    if report.tiers.is_empty() {
        return writeln!(out, "no Server-Timing entries were received");
    }
    let mut table = Table::new(&[
        ("TIER", Align::Left),
        ("COUNT", Align::Right),
        ("P50_MS", Align::Right),
        ("P99_MS", Align::Right),
        ("MAX_MS", Align::Right),
    ]);
    for t in &report.tiers {
        let l = &t.latency_ms;
        let ms = [l.p50, l.p99, l.max].map(|v| format!("{v:.3}"));
        table.row([&[t.tier.clone(), t.count.to_string()][..], &ms[..]].concat());
    }
    table.write(out)
}
