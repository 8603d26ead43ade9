//! The child processes of a launched cluster: started, watched, killed, paused, restarted, stopped.
//!
//! Each child runs `pygmy serve ...` in its own process group (so a Ctrl-C at the terminal
//! reaches only `pygmy up`, which then stops the children in order), with stdout and stderr
//! appended to its log file (mode 0600). `kill_on_drop` SIGKILLs them if `up` fails
//! unexpectedly; if `up` itself is SIGKILLed, they notice through `PYGMY_PARENT_PID` and stop on
//! their own. Replicas get `--bootstrap` on their first start of a new cluster only, never on a
//! restart. What a child said before exiting is read from its own run's part of its log.

use std::fs::File;
use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::plan::Plan;

/// How long children get between SIGTERM and SIGKILL when `up` stops (all at once, not each).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often `up` checks whether a child has exited.
const EXIT_POLL: Duration = Duration::from_millis(250);
/// Most bytes of a child's log read to find its last words (the end of its run's part).
const LAST_WORDS_BYTES_MAX: u64 = 64 << 10;
/// The flag that lets a replica create its directory: a new cluster's first start only.
const BOOTSTRAP_FLAG: &str = "--bootstrap";

/// A started child.
#[derive(Debug)]
struct Member {
    plan: Plan,
    child: Child,
    /// Where this start's part of its log begins (the log is appended to across runs).
    log_start: u64,
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
            let (child, log_start) = start(program, &first, &envs)?;
            members.push(Member {
                plan: plan.clone(),
                child,
                log_start,
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
        (member.child, member.log_start) = start(&program, &member.plan, &envs)?;
        member.exited = None;
        Ok(())
    }

    /// Stops tracking child `name` (killed before: a replica replaced by another); its plan.
    ///
    /// # Errors
    /// No such child.
    pub(crate) fn retire(&mut self, name: &str) -> Result<Plan> {
        let at = self
            .members
            .iter()
            .position(|m| m.plan.name == name)
            .with_context(|| format!("no child named {name}"))?;
        Ok(self.members.remove(at).plan)
    }

    /// Starts a new child with `plan`, beside the others.
    ///
    /// # Errors
    /// A child of that name exists, or it cannot be started.
    pub(crate) fn add(&mut self, plan: Plan) -> Result<()> {
        if self.members.iter().any(|m| m.plan.name == plan.name) {
            bail!("a child named {} exists already", plan.name);
        }
        let (child, log_start) = start(&self.program, &plan, &self.envs)?;
        self.members.push(Member {
            plan,
            child,
            log_start,
            exited: None,
        });
        Ok(())
    }

    /// What child `name` said last in its current run's part of its log: its last `pygmy: `
    /// error line (what `pygmy` prints before exiting on an error), else its last line.
    /// Lines of earlier runs are never quoted.
    pub(crate) fn last_words(&self, name: &str) -> Option<String> {
        let member = self.members.iter().find(|m| m.plan.name == name)?;
        let mut log = File::open(&member.plan.log).ok()?;
        let end = log.metadata().ok()?.len();
        let from = member
            .log_start
            .max(end.saturating_sub(LAST_WORDS_BYTES_MAX));
        log.seek(SeekFrom::Start(from)).ok()?;
        let mut bytes = Vec::new();
        log.take(end - from).read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let error = lines.iter().rev().find(|l| l.starts_with("pygmy: "));
        error.or(lines.last()).map(|l| l.to_string())
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

/// Starts one child of `plan`, logging to its file, in its own process group; the child and
/// where its part of the log begins.
fn start(program: &Path, plan: &Plan, envs: &[(String, String)]) -> Result<(Child, u64)> {
    let (log, log_start) = open_log(program, plan)?;
    let child = Command::new(program)
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
        .with_context(|| format!("cannot start {}", plan.name))?;
    Ok((child, log_start))
}

/// Opens `plan`'s log for appending (creating it, mode 0600) and writes a header line; the log
/// and its length after the header.
fn open_log(program: &Path, plan: &Plan) -> Result<(File, u64)> {
    let mut log = File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&plan.log)
        .with_context(|| format!("cannot open log file {}", plan.log.display()))?;
    let command = format!("{} {}", program.display(), plan.args.join(" "));
    writeln!(log, "=== pygmy up: starting {command} ===")
        .with_context(|| format!("cannot write log file {}", plan.log.display()))?;
    let start = log
        .metadata()
        .with_context(|| format!("cannot read log file {}", plan.log.display()))?
        .len();
    Ok((log, start))
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

    #[tokio::test]
    async fn last_words_come_from_this_run_only() {
        // Goal: a child that exits is quoted from its own run's part of the log (its `pygmy: `
        // error line), never from an earlier run's. Method: a log holding a stale error line, a
        // shell child that prints a new one and exits 2.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("catalog-1.log");
        std::fs::write(&log, "pygmy: stale error of an earlier run\n").unwrap();
        let script = "echo starting; echo 'pygmy: catalog replica 1: the real error'; exit 2";
        let plan = Plan {
            name: "catalog-1".into(),
            args: vec!["-c".into(), script.into()],
            log: log.clone(),
            addr: "127.0.0.1:1".into(),
            replica_dir: Some(dir.path().join("catalog-1")),
        };
        let mut children = Children::spawn(Path::new("/bin/sh"), &[plan], &[], true).unwrap();
        let exited = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(exited) = children.newly_exited().pop() {
                    break exited;
                }
                tokio::time::sleep(EXIT_POLL).await;
            }
        })
        .await
        .expect("the shell child exits at once");
        assert_eq!(exited.1.code(), Some(2));
        let words = children.last_words("catalog-1").unwrap();
        assert_eq!(words, "pygmy: catalog replica 1: the real error");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("--bootstrap ==="),
            "first start bootstraps: {text}"
        );
        let restart = children.restart_command("catalog-1").unwrap();
        assert!(!restart.contains("--bootstrap"), "{restart}");
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/tmp/a-b/c.toml"), "/tmp/a-b/c.toml");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
