//! One child process whose output goes to a log file; SIGKILLed and reaped on drop.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `RUST_LOG` of children unless the caller gives one.
pub const DEFAULT_CHILD_RUST_LOG: &str = "info,openraft=warn";

/// Interval at which exit is checked while waiting.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// One child process; SIGKILLed and reaped on drop.
///
/// Its stdout and stderr are appended to a log file, after a header line naming the command
/// and one naming its pid.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
    log_path: PathBuf,
}

impl ChildGuard {
    /// Spawns `program args...` with stdout and stderr appended to `log_path` (created, with its
    /// directory, if missing) and stdin closed.
    ///
    /// Sets `RUST_LOG=info,openraft=warn` unless `envs` sets `RUST_LOG`; `PYGMY_*` variables
    /// of the test process are not inherited, so a developer's environment cannot change the
    /// cluster under test (pass them in `envs` if wanted).
    ///
    /// # Panics
    /// With the program, log path and error, if the log cannot be opened or spawning fails.
    pub fn spawn(
        program: &Path,
        args: &[String],
        log_path: &Path,
        envs: &[(&str, &str)],
    ) -> ChildGuard {
        let mut log = open_log(log_path);
        let shown = format!("{} {}", program.display(), args.join(" "));
        let _ = writeln!(log, "=== starting {shown} ===");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(clone_log(&log, log_path))
            .stderr(clone_log(&log, log_path));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PYGMY_") {
                cmd.env_remove(key);
            }
        }
        if !envs.iter().any(|(k, _)| *k == "RUST_LOG") {
            cmd.env("RUST_LOG", DEFAULT_CHILD_RUST_LOG);
        }
        cmd.envs(envs.iter().copied());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot spawn {shown} (log {}): {e}; is the binary built?",
                log_path.display()
            )
        });
        let _ = writeln!(log, "=== started pid {} ===", child.id());
        tracing::debug!(pid = child.id(), log = %log_path.display(), "spawned {shown}");
        ChildGuard {
            child,
            status: None,
            log_path: log_path.to_path_buf(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// SIGKILL + wait (idempotent).
    pub fn kill(&mut self) {
        if self.try_exit_status().is_some() {
            return;
        }
        self.signal(Signal::SIGKILL);
        self.reap();
    }

    /// SIGSTOP: the child stops running (its sockets stay open) until [`ChildGuard::resume`].
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT after [`ChildGuard::pause`].
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
    ///
    /// `None` only if the child could not be reaped. If it had already exited, returns that
    /// status without signalling.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.try_exit_status() {
            return Some(status);
        }
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            std::thread::sleep(EXIT_POLL);
        }
        tracing::warn!(
            pid = self.pid(),
            "no exit {grace:?} after SIGTERM: sending SIGKILL"
        );
        self.kill();
        self.status
    }

    /// Has it exited already? Its exit status if so (the child is reaped).
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.child.try_wait() {
                Ok(status) => self.status = status,
                Err(e) => panic!("cannot check child {}: {e}", self.pid()),
            }
        }
        self.status
    }

    /// Polls until the child has exited (its status) or `timeout` has passed (`None`).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// Sends `signal`; the child is not reaped yet, so its pid cannot have been reused.
    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pid fits in i32"));
        match kill(pid, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => panic!("cannot send {signal} to child {pid}: {e}"),
        }
    }

    /// Blocks until the child has exited and records its status.
    fn reap(&mut self) {
        match self.child.wait() {
            Ok(status) => self.status = Some(status),
            Err(e) => tracing::error!(pid = self.pid(), "cannot reap child: {e}"),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Never panic in drop: a panic while already panicking aborts the test binary.
            let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
            if pid.as_raw() > 0 {
                let _ = kill(pid, Signal::SIGKILL);
            }
            self.reap();
        }
    }
}

/// Opens `path` for appending, creating it and its directory.
fn open_log(path: &Path) -> File {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}

fn clone_log(log: &File, path: &Path) -> File {
    log.try_clone()
        .unwrap_or_else(|e| panic!("cannot duplicate log file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, log: &Path) -> ChildGuard {
        let args = vec!["-c".to_string(), script.to_string()];
        ChildGuard::spawn(Path::new("/bin/sh"), &args, log, &[])
    }

    #[tokio::test]
    async fn output_is_logged_and_exit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/sh.log");
        let mut child = sh("echo out-$RUST_LOG; echo err >&2; exit 3", &log);
        let status = child.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert_eq!(status.code(), Some(3));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains(&format!("=== started pid {} ===", child.pid())),
            "{text}"
        );
        assert!(
            text.contains("out-info,openraft=warn") && text.contains("err"),
            "{text}"
        );
    }

    #[test]
    fn kill_and_terminate_end_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let mut child = sh("exec sleep 600", &log);
        assert!(child.try_exit_status().is_none());
        child.kill();
        child.kill();
        assert!(child.try_exit_status().is_some());

        let mut child = sh("exec sleep 600", &log);
        let status = child.terminate(Duration::from_secs(10)).unwrap();
        assert!(!status.success());
        // A shell ignoring SIGTERM is SIGKILLed after the grace period.
        let mut child = sh("trap '' TERM; while :; do sleep 0.05; done", &log);
        assert!(child.terminate(Duration::from_millis(200)).is_some());
    }
}
