//! The `docker` and Compose commands `pygmy chaos --compose` runs: each a child process with a
//! deadline, whose failure carries what it printed on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::process::Command;

/// Deadline of one `docker` command (`kill`, `start`, `inspect`, ...).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of `up` and `down`, which create or remove every container.
const PROJECT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `program args` with `envs` added; its stdout, trimmed.
async fn run(
    program: &str,
    args: &[&str],
    envs: &[(String, String)],
    timeout: Duration,
) -> Result<String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = format!("{program} {}", args.join(" "));
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .with_context(|| format!("`{shown}` did not finish within {timeout:?}"))?
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("`{shown}` failed ({}): {}", output.status, stderr.trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `docker ARGS`.
pub(crate) async fn docker(args: &[&str]) -> Result<String> {
    run("docker", args, &[], COMMAND_TIMEOUT).await
}

/// One Compose project: the tool this machine has, the file, the project name and the
/// variables the file is read with.
#[derive(Debug, Clone)]
pub(crate) struct Compose {
    /// `docker compose` (the plugin) or `docker-compose` (the standalone tool).
    program: Vec<&'static str>,
    file: PathBuf,
    project: String,
    envs: Vec<(String, String)>,
}

impl Compose {
    /// Finds which of `docker compose` and `docker-compose` answers.
    ///
    /// # Errors
    /// Neither answers, or the Docker engine does not.
    pub(crate) async fn detect(
        file: &Path,
        project: &str,
        envs: Vec<(String, String)>,
    ) -> Result<Compose> {
        docker(&["info", "--format", "{{.ServerVersion}}"])
            .await
            .context(
                "the Docker engine does not answer (is it running, and may this user use it?)",
            )?;
        let candidates: [Vec<&'static str>; 2] =
            [vec!["docker", "compose"], vec!["docker-compose"]];
        for program in candidates {
            let mut args = program[1..].to_vec();
            args.push("version");
            if run(program[0], &args, &[], COMMAND_TIMEOUT).await.is_ok() {
                return Ok(Compose {
                    program,
                    file: file.to_path_buf(),
                    project: project.to_string(),
                    envs,
                });
            }
        }
        bail!("neither `docker compose` nor `docker-compose` answers: install Docker Compose")
    }

    /// The project's name.
    pub(crate) fn project(&self) -> &str {
        &self.project
    }

    /// The command a user types to run `args` on this project, for messages.
    pub(crate) fn shown(&self, args: &str) -> String {
        format!(
            "{} -f {} -p {} {args}",
            self.program.join(" "),
            self.file.display(),
            self.project
        )
    }

    async fn run_with(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let file = self.file.to_string_lossy();
        let mut all: Vec<&str> = self.program[1..].to_vec();
        all.extend(["-f", &file, "-p", &self.project]);
        all.extend(args);
        run(self.program[0], &all, &self.envs, timeout).await
    }

    /// `compose ARGS` on this project (a minute at most).
    pub(crate) async fn run(&self, args: &[&str]) -> Result<String> {
        self.run_with(args, COMMAND_TIMEOUT).await
    }

    /// `compose ARGS` that creates or removes the whole project (five minutes at most).
    pub(crate) async fn run_long(&self, args: &[&str]) -> Result<String> {
        self.run_with(args, PROJECT_TIMEOUT).await
    }
}
