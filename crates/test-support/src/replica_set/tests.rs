//! The harness's own checks: tails, timeouts and what a failed wait reports.

use super::*;
use crate::poll::poll_until;

#[test]
fn tail_keeps_the_last_lines() {
    assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    assert_eq!(tail("a", 5), "a");
    assert_eq!(tail("", 5), "");
}

/// A fake "replica": a shell that logs, then waits; `/bin/sh -c <script> --config .. --id N`.
fn fake_set<'a>(dir: &'a ClusterDir, script: &str) -> ReplicaSet<'a> {
    ReplicaSet::start(Path::new("/bin/sh"), &["-c", script, "sh"], dir, "catalog")
}

#[tokio::test]
async fn processes_are_started_killed_and_restarted() {
    let dir = ClusterDir::new(2, 1, &[]);
    let set = fake_set(&dir, "echo \"args: $*\"; exec sleep 600");
    assert_eq!(set.ids(), vec![1, 2]);
    assert!(set.is_running(1) && set.is_running(2));
    let log_has = |set: &ReplicaSet<'_>, id: u64, s: &str| set.log(id).contains(s);
    poll_until(Duration::from_secs(10), "the args line", || async {
        log_has(&set, 2, "--id 2").then_some(())
    })
    .await;
    assert!(set
        .log(2)
        .contains(&format!("--config {}", dir.config_path().display())));
    set.kill(1);
    assert!(!set.is_running(1) && set.is_running(2));
    assert_eq!(set.status(1).await, None);
    set.restart(1);
    assert!(set.is_running(1));
    assert_eq!(set.log(1).matches("=== started pid").count(), 2);
    assert!(set.stop(2).is_some());
    assert!(!set.is_running(2));
    // The fake replicas serve no HTTP: no status, so no leader.
    assert_eq!(set.status(1).await, None);
    set.assert_no_panics();
    assert_eq!(
        set.url(1, "/status"),
        format!("http://{}/status", dir.addrs("catalog")[0])
    );
    assert!(set.log_path(1).ends_with("logs/catalog-1.log"));
}

/// Runs `fut` on a fresh runtime and returns its panic message. A [`ClusterDir`] it
/// borrows outlives the panic, so it is still deleted.
fn panic_message(fut: impl std::future::Future<Output = ()>) -> String {
    let run = std::panic::AssertUnwindSafe(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(fut);
    });
    let payload = std::panic::catch_unwind(run).expect_err("expected a panic");
    let text = payload.downcast_ref::<String>().cloned();
    text.or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn panics_in_logs_are_reported() {
    let dir = ClusterDir::new(1, 1, &[]);
    let message = panic_message(async {
        let script = "echo \"thread 'main' panicked at src/main.rs:1:1\"; exec sleep 600";
        let set = fake_set(&dir, script);
        poll_until(Duration::from_secs(10), "the panic line", || async {
            set.log(1).contains("panicked").then_some(())
        })
        .await;
        set.assert_no_panics();
    });
    assert!(message.contains("catalog-1"), "{message}");
    assert!(
        message.contains("'main' panicked at src/main.rs"),
        "{message}"
    );
}

#[test]
fn wait_leader_times_out_with_what_was_seen() {
    let dir = ClusterDir::new(1, 1, &[]);
    let message = panic_message(async {
        let set = fake_set(&dir, "exec sleep 600");
        set.wait_leader(Duration::from_millis(300)).await;
    });
    assert!(
        message.starts_with("timed out after 300ms waiting for a leader"),
        "{message}"
    );
    assert!(message.contains("catalog-1: no answer"), "{message}");
}

/// Serves `status` as `GET /status` on `addr` to requests bearing the cluster token.
async fn serve_status(addr: &str, status: serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).to_lowercase();
            let authorized = request.contains("authorization: bearer test-cluster-token");
            let body = serde_json::to_string(&status).unwrap();
            let head = if authorized {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            let response = format!(
                "HTTP/1.1 {head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
}

#[tokio::test]
async fn leader_and_convergence_are_read_from_status() {
    let dir = ClusterDir::new(2, 1, &[]);
    let set = fake_set(&dir, "exec sleep 600");
    for id in set.ids() {
        let role = if id == 1 {
            ReplicaRole::Leader
        } else {
            ReplicaRole::Follower
        };
        // JSON rather than a struct literal: fields the struct does not have are ignored.
        let status = serde_json::json!({
            "group": "catalog", "id": id, "role": role, "leader": 1, "term": 2,
            "last_log_index": 7, "last_applied": 7, "snapshot_index": 0, "last_purged": 0,
            "digest": "abc",
        });
        serve_status(set.addr(id), status).await;
    }
    assert_eq!(set.status(2).await.unwrap().role, ReplicaRole::Follower);
    assert_eq!(set.wait_leader(Duration::from_secs(10)).await, 1);
    let converged = set.wait_converged(Duration::from_secs(10)).await;
    assert_eq!(
        (converged.last_applied, converged.digest.as_str()),
        (7, "abc")
    );
}
