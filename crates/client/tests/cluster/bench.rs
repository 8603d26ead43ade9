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

#[tokio::test]
async fn a_buy_bench_with_checkpoints_reports_each_window_and_every_replica() {
    // Goal: `--checkpoint-every` makes one checkpoint per window of its own requests, with the
    // `/status` time and memory of each of the 6 replicas (all local here), and `--svg` draws
    // them. Method: start a store, buy 60 times on 4 workers with a checkpoint every 20, read
    // the JSON report and the SVG file.
    let dir = ClusterDir::new(3, 3, &[]);
    let store = Store::start(bin(), &dir).await;
    let url = format!("http://{}", dir.frontend_addr());
    let config = dir.config_path().to_str().unwrap();
    let svg = dir.path().join("growth.svg");
    let svg_arg = svg.to_str().unwrap();
    let args = [
        "bench",
        "--url",
        &url,
        "--op",
        "buy",
        "-c",
        "4",
        "--requests",
        "60",
        "--checkpoint-every",
        "20",
        "--svg",
        svg_arg,
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
    assert_eq!(
        (
            report["requests"].as_u64(),
            report["checkpoint_every"].as_u64()
        ),
        (Some(60), Some(20))
    );
    let checkpoints = report["checkpoints"].as_array().expect("checkpoints");
    let done: Vec<u64> = checkpoints
        .iter()
        .map(|c| c["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(done, [20, 40, 60], "{report:#}");
    let names = [
        "catalog-1",
        "catalog-2",
        "catalog-3",
        "orders-1",
        "orders-2",
        "orders-3",
    ];
    for c in checkpoints {
        assert_eq!(c["window_requests"], 20, "not cumulative: {c:#}");
        assert!(c["throughput_rps"].as_f64().unwrap() > 0.0, "{c:#}");
        let p50 = c["latency_ms"]["p50"].as_f64().unwrap();
        assert!(
            p50 > 0.0 && p50 <= c["latency_ms"]["p99"].as_f64().unwrap(),
            "{c:#}"
        );
        assert!(
            c["cpu_per_request_us"].is_u64(),
            "the cluster is local: {c:#}"
        );
        let replicas = c["replicas"].as_array().unwrap();
        let found: Vec<&str> = replicas
            .iter()
            .map(|r| r["replica"].as_str().unwrap())
            .collect();
        assert_eq!(found, names);
        for r in replicas {
            assert!(r["status_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{r:#}");
            assert!(r["rss_mib"].as_f64().is_some_and(|mib| mib > 1.0), "{r:#}");
        }
    }
    let drawing = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(drawing.contains("<svg") && drawing.trim_end().ends_with("</svg>"));
    assert!(drawing.contains("orders-3") && drawing.contains("orders/s"));
    store.assert_no_panics();
}

#[tokio::test]
async fn checkpoint_flags_that_cannot_work_exit_2_before_any_request() {
    // Goal: impossible checkpoint settings are refused before the run, not after it. Method:
    // point bench at a free port (a run would fail with "does not answer") and check that
    // each bad combination fails first, with its own message and exit code 2.
    let url = format!("http://127.0.0.1:{}", test_support::free_port());
    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("no/such/dir/g.svg");
    let cases: &[(&[&str], &str)] = &[
        (&["--svg", "g.svg"], "--checkpoint-every <N>"),
        (&["--checkpoint-every", "0"], "0 is not in 1.."),
        (
            &["-n", "10", "--checkpoint-every", "20"],
            "is more than --requests 10",
        ),
        (
            &["-n", "100000", "--checkpoint-every", "1"],
            "at most 10000",
        ),
        (
            &[
                "--checkpoint-every",
                "5",
                "--svg",
                unwritable.to_str().unwrap(),
            ],
            "cannot write the SVG file",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["bench", "--op", "buy", "--url", &url];
        args.extend_from_slice(extra);
        let output = pygmy(&args).await;
        let (code, stderr) = code_and_stderr(&output);
        assert_eq!(code, Some(2), "pygmy {args:?}: {stderr}");
        assert!(stderr.contains(expected), "pygmy {args:?}: {stderr}");
        assert!(
            !stderr.contains("does not answer"),
            "checked too late: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!unwritable.exists());
}
