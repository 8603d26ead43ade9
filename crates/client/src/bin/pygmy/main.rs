//! `pygmy`: the Pygmy bookstore from a terminal, and the way to run it.
//!
//! Layout (one file per subcommand or group of them):
//! - `bench`: `pygmy bench`, a load generator with latency percentiles, and checkpoints as
//!   the store grows (`--checkpoint-every`, `--svg`).
//! - `inspect`: `pygmy inspect`, offline inspection of replica directories (through a copy).
//! - `query`: `search`, `lookup`, `buy`, `order`, `restock`, `cluster` over the public API;
//!   `output` prints their results (tables, or JSON with `--json`).
//! - `serve`: one service in this process (`serve catalog|order|frontend`).
//! - `up`: the whole cluster as child processes until Ctrl-C, with `summary` (what it prints
//!   once ready).
//! - `backup`, `restore`: `pygmy backup --to DIR` from a live cluster, `pygmy restore --from DIR
//!   --data NEW` into a new data directory; `fresh_dir` the directory each fills from nothing.
//! - `member`: `pygmy member list|add|remove|replace`, membership changes through the leader;
//!   `group_client` talks to a group's replicas for it and for `backup`.
//! - `probe`: `pygmy probe URL`, the container image's health check.
//! - `completions`: `pygmy completions bash|zsh|fish`, the shell's completion script.
//! - `chaos`: fault injection into a cluster under load, with a history checker.
//! - `launch`: what `up` and `chaos` share: the child processes, their plan, the data
//!   directory, preflight checks, readiness and leader lookup (the tokens `up` generates
//!   into `<data_dir>/tokens.toml` are `runtime::tokens`).
//! - `progress`: the progress bar that `bench` and `chaos` draw on stderr.
//!
//! Errors are settled here only: `pygmy: <error chain>` and a hint on stderr; exit code 0 on
//! success, 2 on any error (bad arguments included), 1 for violations found by `chaos` or
//! `inspect verify` (and differences found by `inspect diff`).

mod backup;
mod bench;
mod chaos;
mod cluster_cpu;
mod completions;
mod fresh_dir;
mod group_client;
mod inspect;
mod launch;
mod member;
mod output;
mod probe;
mod progress;
mod query;
mod restore;
mod serve;
mod summary;
mod up;

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use api::ErrorCode;
use clap::{Parser, Subcommand};
use client::PygmyClient;

/// Exit code of any error.
const EXIT_ERROR: u8 = 2;
/// Exit code when `chaos` or `inspect verify` finds a violation (or `inspect diff` a difference).
const EXIT_VIOLATION: u8 = 1;

/// The Pygmy bookstore: query it, buy from it, run it.
#[derive(Debug, Parser)]
#[command(name = "pygmy", version, propagate_version = true)]
struct Cli {
    /// URL of the frontend (the public API).
    #[arg(
        long,
        global = true,
        env = "PYGMY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Print results as JSON on stdout (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Query(QueryCommand),
    /// Run one service in this process: a catalog or order replica, or the frontend.
    Serve(serve::ServeArgs),
    /// Run the whole cluster (every replica and the frontend) until Ctrl-C.
    Up(up::UpArgs),
    /// Inject faults into a fresh cluster under load and check nothing was lost or stale.
    Chaos(chaos::ChaosArgs),
    /// Load the public API and report throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// List a group's members, or add, remove or replace one (through its leader).
    Member(member::MemberArgs),
    /// Copy both groups' state from the live cluster into a backup directory.
    Backup(backup::BackupArgs),
    /// Make a new cluster's data directory from a backup.
    Restore(restore::RestoreArgs),
    /// Inspect replica directories offline (summary, trees, verify, diff) without changing them.
    Inspect(inspect::InspectArgs),
    /// GET a URL and succeed only on a 2xx answer: the container image's health check.
    Probe(probe::ProbeArgs),
    /// Print the shell's completion script for pygmy (e.g. `pygmy completions bash`).
    Completions(completions::CompletionsArgs),
}

/// The commands that speak the public API.
#[derive(Debug, Subcommand)]
enum QueryCommand {
    /// List the books of a topic (every book without one).
    Search(query::SearchArgs),
    /// Show one book.
    Lookup(query::LookupArgs),
    /// Buy copies of a book.
    Buy(query::BuyArgs),
    /// Show one order.
    Order(query::OrderArgs),
    /// Add or remove copies of a book, and/or set its cost (needs the admin token).
    Restock(query::RestockArgs),
    /// Show leaders, terms and replica health as the frontend sees them.
    Cluster,
}

impl Command {
    /// Whether the command writes: its failure may leave the outcome unknown.
    fn writes(&self) -> bool {
        matches!(
            self,
            Command::Query(QueryCommand::Buy(_) | QueryCommand::Restock(_))
        )
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; argument errors exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let writes = cli.command.writes();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<chaos::ChecksFailed>().is_some()
                || e.downcast_ref::<inspect::Found>().is_some() =>
        {
            eprintln!("pygmy: {e:#}");
            ExitCode::from(EXIT_VIOLATION)
        }
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pygmy: {e:#}");
            if let Some(hint) = hint(&e, writes) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let command = match cli.command {
        Command::Serve(args) => return serve::run(args),
        Command::Up(args) => return up::run(args, json),
        Command::Chaos(args) => return chaos::run(args, json),
        Command::Bench(args) => return bench::run(args, &cli.url, json),
        Command::Inspect(args) => return inspect::run(args, json),
        Command::Member(args) => return member::run(args, json),
        Command::Backup(args) => return backup::run(args, json),
        Command::Restore(args) => return restore::run(args, json),
        Command::Probe(args) => return probe::run(args),
        Command::Completions(args) => return completions::run(args),
        Command::Query(command) => command,
    };
    let client = PygmyClient::new(&cli.url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        match command {
            QueryCommand::Search(a) => query::search(&client, a, json).await,
            QueryCommand::Lookup(a) => query::lookup(&client, a, json).await,
            QueryCommand::Buy(a) => query::buy(&client, a, json).await,
            QueryCommand::Order(a) => query::order(&client, a, json).await,
            QueryCommand::Restock(a) => query::restock(&client, a, json).await,
            QueryCommand::Cluster => query::cluster(&client, json).await,
        }
    })
}

/// Whether writing to stdout failed because the reader went away (`pygmy search | head -1`).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// What the user can do about `error`, if anything useful can be said.
fn hint(error: &anyhow::Error, writes: bool) -> Option<&'static str> {
    if let Some(cause) = error
        .chain()
        .find_map(|c| c.downcast_ref::<storage::Error>())
    {
        return storage_hint(cause);
    }
    let cause = error
        .chain()
        .find_map(|c| c.downcast_ref::<client::Error>())?;
    if writes && cause.is_outcome_unknown() {
        return Some(
            "the write may or may not have been applied. A buy repeated with the same --key is \
             applied at most once; look a restocked book up (`pygmy lookup ID`) before repeating it",
        );
    }
    match cause {
        client::Error::InvalidUrl { .. } => {
            Some("--url (or PYGMY_URL) is the frontend's address, e.g. http://127.0.0.1:8080")
        }
        client::Error::Transport { .. } => Some(
            "is the cluster running? start it with `pygmy up`, or point --url (PYGMY_URL) at its frontend",
        ),
        client::Error::Timeout { .. } => {
            Some("the frontend did not answer in time; `pygmy cluster` shows the groups' state")
        }
        _ => match cause.code()? {
            ErrorCode::Unauthorized => Some(
                "give the admin token: --admin-token or PYGMY_ADMIN_TOKEN (`pygmy up` stores the \
                 one it generates in <data_dir>/tokens.toml)",
            ),
            ErrorCode::NoLeader | ErrorCode::Overloaded | ErrorCode::Timeout => Some(
                "the cluster is electing a leader or overloaded: try again in a moment \
                 (`pygmy cluster` shows the leaders)",
            ),
            _ => None,
        },
    }
}

/// What to do about a storage error (from `pygmy inspect`).
fn storage_hint(error: &storage::Error) -> Option<&'static str> {
    match error {
        storage::Error::NotAReplicaDir { .. } => Some(
            "give a replica directory such as data/catalog-1, or the data directory holding them \
             (`pygmy up` prints where they are)",
        ),
        storage::Error::DataDirUnreadable { .. } => Some(
            "the directory is damaged (truncated or overwritten) or is not a replica's; inspect \
             another replica of its group, or compare two with `pygmy inspect diff A B`",
        ),
        storage::Error::CopyFailed { .. } => Some(
            "inspection first copies the directory into the temporary directory: check that the \
             directory is readable and that TMPDIR has room",
        ),
        _ => None,
    }
}
