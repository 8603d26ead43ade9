//! Waiting by polling: the one place tests wait.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Interval between two attempts of [`poll_until`].
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `f` every 50 ms until it returns Some, or panics with "timed out after {timeout:?} waiting for {what}".
///
/// `f` is always called at least once. An attempt still running when `timeout` runs out is
/// abandoned, so the call never takes much longer than `timeout`.
pub async fn poll_until<T, F, Fut>(timeout: Duration, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_until_or(timeout, what, f, String::new).await
}

/// [`poll_until`], with `detail()` appended to the timeout message (e.g. what was last seen).
pub(crate) async fn poll_until_or<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut f: F,
    detail: impl FnOnce() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(remaining.max(POLL_INTERVAL), f());
        if let Ok(Some(value)) = attempt.await {
            return value;
        }
        if Instant::now() + POLL_INTERVAL > deadline {
            panic!("timed out after {timeout:?} waiting for {what}{}", detail());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_some() {
        let mut calls = 0;
        let got = poll_until(Duration::from_secs(5), "three calls", || {
            calls += 1;
            let n = calls;
            async move { (n >= 3).then_some(n) }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 200ms waiting for nothing")]
    async fn panics_on_timeout() {
        poll_until(Duration::from_millis(200), "nothing", || async {
            None::<()>
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 100ms waiting for a hung attempt")]
    async fn a_hung_attempt_does_not_outlive_the_timeout() {
        poll_until(Duration::from_millis(100), "a hung attempt", || {
            std::future::pending::<Option<()>>()
        })
        .await;
    }
}
