//! The child processes of `pygmy up`: started, watched, stopped.
//!
//! Each child runs `pygmy serve ...` in its own process group (so a Ctrl-C at the terminal
//! reaches only `pygmy up`, which then stops the children in order), with stdout and stderr
//! appended to its log file. `kill_on_drop` SIGKILLs them if `up` fails unexpectedly; if `up`
//! itself is SIGKILLed, they notice through `PYGMY_PARENT_PID` and stop on their own. Replicas
//! get `--bootstrap` on their first start of a new cluster only, never on a restart.

use std::fs::File;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long children get between SIGTERM and SIGKILL when `up` stops (all at once, not each).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often `up` checks whether a child has exited.
const EXIT_POLL: Duration = Duration::from_millis(250);
/// The flag that lets a replica create its directory: a new cluster's first start only.
const BOOTSTRAP_FLAG: &str = "--bootstrap";

/// One process to start.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `catalog-1`, `orders-2`, `frontend`.
    pub(crate) name: String,
    /// Arguments after the program.
    pub(crate) args: Vec<String>,
    /// Its log file.
    pub(crate) log: PathBuf,
    /// `host:port` it serves on.
    pub(crate) addr: String,
    /// Its replica directory (none for the frontend).
    pub(crate) replica_dir: Option<PathBuf>,
}

/// A started child.
#[derive(Debug)]
struct Member {
    plan: Plan,
    child: Child,
    /// Set once it has exited and been reported.
    exited: Option<ExitStatus>,
}

/// Every child of `pygmy up` (and of `pygmy chaos`, which also kills, pauses and restarts them).
#[derive(Debug)]
pub(crate) struct Children {
    program: PathBuf,
    envs: Vec<(String, String)>,
    members: Vec<Member>,
}

impl Children {
    /// Starts `program` once per plan, with `envs` added to the environment; with `bootstrap`
    /// (a new cluster) replicas also get `--bootstrap`, on this first start only.
    ///
    /// # Errors
    /// A log file cannot be opened or a process cannot be started; those already started are
    /// killed when the returned error drops them.
    pub(crate) fn spawn(
        program: &Path,
        plans: &[Plan],
        envs: &[(&str, String)],
        bootstrap: bool,
    ) -> Result<Self> {
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut members = Vec::with_capacity(plans.len());
        for plan in plans {
            let mut first = plan.clone();
            if bootstrap && plan.replica_dir.is_some() {
                first.args.push(BOOTSTRAP_FLAG.to_string());
            }
            members.push(Member {
                plan: plan.clone(),
                child: start(program, &first, &envs)?,
                exited: None,
            });
        }
        Ok(Self {
            program: program.to_path_buf(),
            envs,
            members,
        })
    }

    fn member(&mut self, name: &str) -> Result<&mut Member> {
        self.members
            .iter_mut()
            .find(|m| m.plan.name == name)
            .with_context(|| format!("no child named {name}"))
    }

    /// SIGKILLs child `name` and reaps it.
    ///
    /// # Errors
    /// No such child, or it cannot be killed.
    pub(crate) async fn kill(&mut self, name: &str) -> Result<()> {
        let member = self.member(name)?;
        member
            .child
            .kill()
            .await
            .with_context(|| format!("cannot kill {name}"))?;
        member.exited = member.child.try_wait().ok().flatten();
        Ok(())
    }

    /// Sends `signal` (e.g. SIGSTOP, SIGCONT) to child `name`.
    ///
    /// # Errors
    /// No such child, or it has exited.
    pub(crate) fn signal(&mut self, name: &str, signal: Signal) -> Result<()> {
        let member = self.member(name)?;
        let pid = member
            .child
            .id()
            .with_context(|| format!("{name} has exited"))?;
        let pid = i32::try_from(pid).context("pid out of range")?;
        kill(Pid::from_raw(pid), signal).with_context(|| format!("cannot signal {name}"))
    }

    /// Starts child `name` again with its plan (after it was killed).
    ///
    /// # Errors
    /// No such child, or it cannot be started.
    pub(crate) fn restart(&mut self, name: &str) -> Result<()> {
        let (program, envs) = (self.program.clone(), self.envs.clone());
        let member = self.member(name)?;
        member.child = start(&program, &member.plan, &envs)?;
        member.exited = None;
        Ok(())
    }

    /// Children that exited since the last call: name, status, log file.
    pub(crate) fn newly_exited(&mut self) -> Vec<(String, ExitStatus, PathBuf)> {
        let mut found = Vec::new();
        for m in self.members.iter_mut().filter(|m| m.exited.is_none()) {
            if let Ok(Some(status)) = m.child.try_wait() {
                m.exited = Some(status);
                found.push((m.plan.name.clone(), status, m.plan.log.clone()));
            }
        }
        found
    }

    /// Reports on stderr every child that exits, until `shutdown` resolves. Children are not
    /// restarted: experiments kill replicas on purpose. Runs until `shutdown`, by design.
    pub(crate) async fn watch(&mut self, mut shutdown: Pin<&mut impl Future<Output = ()>>) {
        let mut tick = tokio::time::interval(EXIT_POLL);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            for (name, status, log) in self.newly_exited() {
                eprintln!(
                    "pygmy up: {name} exited ({status}); it is not restarted (log: {})",
                    log.display()
                );
                if let Some(restart) = self.restart_command(&name) {
                    eprintln!("pygmy up: to restart it: {restart}");
                }
            }
        }
    }

    /// The command line that starts child `name` again by hand.
    pub(crate) fn restart_command(&self, name: &str) -> Option<String> {
        let member = self.members.iter().find(|m| m.plan.name == name)?;
        let words = std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(member.plan.args.iter().cloned());
        Some(words.map(|w| shell_quote(&w)).collect::<Vec<_>>().join(" "))
    }

    /// SIGTERM to every running child, up to [`STOP_GRACE`] for all of them to exit, then
    /// SIGKILL to those left.
    pub(crate) async fn stop(&mut self) {
        for m in self.members.iter().filter(|m| m.exited.is_none()) {
            let pid = m.child.id().and_then(|pid| i32::try_from(pid).ok());
            if let Some(pid) = pid {
                // ESRCH: it exited meanwhile, which the wait below sees.
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for m in self.members.iter_mut().filter(|m| m.exited.is_none()) {
            let name = &m.plan.name;
            match tokio::time::timeout_at(deadline, m.child.wait()).await {
                Ok(Ok(status)) => m.exited = Some(status),
                Ok(Err(e)) => eprintln!("pygmy up: cannot wait for {name}: {e}"),
                Err(_) => {
                    eprintln!("pygmy up: {name} did not stop within {STOP_GRACE:?}; killing it");
                    if let Err(e) = m.child.kill().await {
                        eprintln!("pygmy up: cannot kill {name}: {e}");
                    }
                }
            }
        }
    }
}

/// Starts one child of `plan`, logging to its file, in its own process group.
fn start(program: &Path, plan: &Plan, envs: &[(String, String)]) -> Result<Child> {
    let log = open_log(program, plan)?;
    Command::new(program)
        .args(&plan.args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .context("cannot duplicate a log file handle")?,
        )
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", plan.name))
}

/// Opens `plan`'s log for appending (creating it) and writes a header line.
fn open_log(program: &Path, plan: &Plan) -> Result<File> {
    let mut log = File::options()
        .create(true)
        .append(true)
        .open(&plan.log)
        .with_context(|| format!("cannot open log file {}", plan.log.display()))?;
    let command = format!("{} {}", program.display(), plan.args.join(" "));
    writeln!(log, "=== pygmy up: starting {command} ===")
        .with_context(|| format!("cannot write log file {}", plan.log.display()))?;
    Ok(log)
}

/// `word` quoted for a POSIX shell, unchanged if it needs no quoting.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/tmp/a-b/c.toml"), "/tmp/a-b/c.toml");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
