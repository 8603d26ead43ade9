//! The `pygmy` binary as a process: argument errors, `pygmy serve`, `pygmy up`, `pygmy bench`,
//! `pygmy inspect`, the frontends' cache against a real store, the operator mistakes a replica
//! refuses (`operator`), what a store publishes in `/metrics` (`metrics`), and membership
//! changes (`membership`), backup and restore (`backup`).
//!
//! Every test spawns `pygmy` (found through `CARGO_BIN_EXE_pygmy`) on fresh loopback ports
//! from a `test_support::ClusterDir`; the harness's guards kill what is left on drop.

mod backup;
mod bench;
mod cache;
mod cli;
mod inspect;
mod membership;
mod metrics;
mod operator;
mod serve;
mod store;
mod up;

use std::path::Path;
use std::process::Output;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pygmy"))
}

/// Runs `pygmy args...` to completion, without the developer's `PYGMY_*` variables.
async fn pygmy(args: &[&str]) -> Output {
    pygmy_with_env(args, &[]).await
}

/// Runs `pygmy args...` to completion with `envs` as its only `PYGMY_*` variables.
async fn pygmy_with_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(bin());
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PYGMY_") {
            command.env_remove(key);
        }
    }
    command.envs(envs.iter().copied());
    command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run pygmy {args:?}: {e}"))
}

/// Exit code and stderr of a finished `pygmy`.
fn code_and_stderr(output: &Output) -> (Option<i32>, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// `cluster.toml` of `dir` without its token lines, so that tokens must come from elsewhere.
fn strip_tokens(dir: &test_support::ClusterDir) {
    let path = dir.config_path();
    let text = std::fs::read_to_string(path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("cluster_token") && !l.starts_with("admin_token"))
        .collect();
    std::fs::write(path, kept.join("\n")).unwrap();
}
