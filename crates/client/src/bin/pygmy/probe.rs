//! `pygmy probe [URL]`: one GET, success if it answers 2xx. The container image's health check
//! (the runtime image has no curl): `URL` defaults to `PYGMY_PROBE_URL`, which the image sets to
//! the frontend's `/health`; `docker-compose.yml` probes each process's `/ready` by URL.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

/// Deadline of the one request, ms: below the image's `HEALTHCHECK --timeout` (3 s).
const PROBE_TIMEOUT_MS: u64 = 2_000;

/// `pygmy probe [URL]`.
#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// URL to GET, e.g. http://127.0.0.1:8080/ready.
    #[arg(env = "PYGMY_PROBE_URL")]
    url: String,
}

/// GETs the URL; an error unless it answers 2xx within [`PROBE_TIMEOUT_MS`].
///
/// # Errors
/// No answer in time, or a status other than 2xx.
pub(crate) fn run(args: ProbeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&args.url)
            .timeout(Duration::from_millis(PROBE_TIMEOUT_MS))
            .send()
            .await
            .with_context(|| format!("GET {} failed", args.url))?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {} answered {status}", args.url);
        }
        println!("{status}");
        Ok(())
    })
}
