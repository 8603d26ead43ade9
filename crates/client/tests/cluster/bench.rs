//! `pygmy bench` as a process: a short mixed run against a real store, and a clear error
//! when there is no store to load.

use serde_json::Value;
use test_support::{ClusterDir, Store};

use crate::{bin, code_and_stderr, pygmy};

#[tokio::test]
async fn a_mixed_bench_reports_every_request_with_ordered_percentiles_and_tiers() {
    // Goal: `pygmy bench --op mix` restocks, sends exactly the requested number of requests and
    // reports them. Method: start a store, run 200 requests on 4 workers with --json, and check
    // counts, throughput, percentile order, the buys' stock and the tiers from Server-Timing.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let url = format!("http://{}", dir.frontend_addr());
    let config = dir.config_path().to_str().unwrap();
    let args = [
        "bench",
        "--url",
        &url,
        "--op",
        "mix",
        "--concurrency",
        "4",
        "--requests",
        "200",
        "--json",
        "--admin-token",
        dir.admin_token(),
        "--config",
        config,
    ];
    let output = pygmy(&args).await;
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(0), "pygmy bench: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON report");
    assert_eq!(report["requests"], 200, "{report:#}");
    // The cluster runs here: its 3 + 3 replicas and the frontend are found by their ports.
    assert_eq!(report["cpu"]["processes"], 7, "{report:#}");
    assert!(report["cpu"]["cpu_s"].as_f64().is_some(), "{report:#}");
    assert_eq!(report["op"], "mix");
    assert!(report["throughput_rps"].as_f64().unwrap() > 0.0);
    let total = &report["total"];
    assert_eq!(total["out_of_stock"], 0, "the restock failed: {total:#}");
    assert_eq!(total["errors"], 0, "{total:#}");
    let ms = |key: &str| total["latency_ms"][key].as_f64().unwrap();
    assert!(ms("p50") > 0.0, "{total:#}");
    assert!(
        ms("p50") <= ms("p99") && ms("p99") <= ms("max"),
        "{total:#}"
    );
    let kinds: Vec<(&str, u64)> = report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kind"].as_str().unwrap(), k["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(kinds, [("lookup", 90), ("search", 90), ("buy", 20)]);
    let tiers: Vec<&str> = report["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert!(
        tiers.contains(&"frontend") && tiers.contains(&"catalog"),
        "{tiers:?}"
    );
    store.assert_no_panics();
}

#[tokio::test]
async fn a_bench_without_a_frontend_exits_2_with_the_hint_to_start_one() {
    // Goal: an unreachable frontend is a setup error, not an empty report. Method: point
    // bench at a free port and read the exit code, stderr and stdout.
    let url = format!("http://127.0.0.1:{}", test_support::free_port());
    let args = ["bench", "--op", "lookup", "--requests", "5", "--url", &url];
    let output = pygmy(&args).await;
    let (code, stderr) = code_and_stderr(&output);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(stderr.contains("start it with `pygmy up`"), "{stderr}");
    assert!(output.stdout.is_empty());
}
