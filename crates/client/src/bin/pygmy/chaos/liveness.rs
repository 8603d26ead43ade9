//! The cache liveness check that ends a chaos run (#10): after healing, every caching frontend
//! must serve every book from its cache again. Safety checks cannot see a dead cache (it
//! answers fresh values, only slowly), so it is checked on its own.

use std::time::Duration;

use anyhow::{bail, Result};
use reqwest::StatusCode;
use tokio::time::Instant;

/// How long a healed frontend gets to say it is ready (leaders known, lease held).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two attempts.
const POLL: Duration = Duration::from_millis(50);
/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Leases a book's second read has to become a hit, from its first attempt.
const LEASES_TO_HIT: u32 = 2;

/// Reads every book of `books` twice through every frontend of `frontends` (`host:port`); the
/// second read must be a cache hit (`x-pygmy-cache: hit`) within two leases of the first
/// attempt. A summary of what held.
///
/// # Errors
/// A frontend not ready in time, or a book that never became a hit: which, and what it saw.
pub(crate) async fn check_cache_live(
    http: &reqwest::Client,
    frontends: &[String],
    books: &[u64],
    lease: Duration,
) -> Result<String> {
    let window = lease * LEASES_TO_HIT;
    let mut longest = Duration::ZERO;
    for frontend in frontends {
        let base = format!("http://{frontend}");
        wait_ready(http, &base).await?;
        for book in books {
            let took = until_hit(http, &base, *book, window).await?;
            longest = longest.max(took);
        }
    }
    Ok(format!(
        "{} books hit through each of {} frontends, the slowest after {} ms (bound {} ms)",
        books.len(),
        frontends.len(),
        longest.as_millis(),
        window.as_millis()
    ))
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match http
            .get(format!("{base}/ready"))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::OK => return Ok(()),
            Ok(r) => last = r.text().await.unwrap_or_default(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("frontend {base} not ready {READY_TIMEOUT:?} after healing: {last}")
}

/// Reads `book` in pairs until the second read of a pair is a hit; how long it took.
async fn until_hit(
    http: &reqwest::Client,
    base: &str,
    book: u64,
    window: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        read(http, base, book).await?;
        let second = read(http, base, book).await?;
        if second == "hit" {
            return Ok(started.elapsed());
        }
        if started.elapsed() > window {
            bail!(
                "frontend {base}: book {book} read twice is still a cache {second} {} ms after the first read (the cache is dead, or slow to come back)",
                started.elapsed().as_millis()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One `GET /books/{book}`: its `x-pygmy-cache` header (`none` without one).
async fn read(http: &reqwest::Client, base: &str, book: u64) -> Result<String> {
    let answer = http
        .get(format!("{base}/books/{book}"))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await?;
    if answer.status() != StatusCode::OK {
        bail!("{base}/books/{book} answered {}", answer.status());
    }
    Ok(answer
        .headers()
        .get("x-pygmy-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string())
}
