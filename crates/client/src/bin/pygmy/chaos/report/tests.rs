//! The verdict of a run and how the summary tells it, on small hand-made runs.

use api::Order;
use client::chaos::{FaultKind, Role};

use super::*;

fn order(number: u64, item: u64) -> Order {
    serde_json::from_value(
        serde_json::json!({"number": number, "item": item, "title": "T",
        "quantity": 1, "cost": 100, "status": "committed"}),
    )
    .unwrap()
}

fn op(id: u64, at_ms: u64, kind: OpKind, outcome: Outcome) -> Op {
    let complete_ns = match outcome {
        Outcome::Unknown { .. } => None,
        _ => Some((at_ms + 1) * 1_000_000),
    };
    Op {
        id,
        process: id,
        invoke_ns: at_ms * 1_000_000,
        complete_ns,
        kind,
        outcome,
    }
}

/// A run that holds: book 1 read at 5, bought once (order 1, read back), book 2's read failed
/// and its buy left unknown (never applied); every replica agrees; one fault fired, one was
/// skipped; the cache came back.
fn clean_run() -> RunFacts {
    let buy = |item, key: &str| OpKind::Buy {
        item,
        quantity: 1,
        key: key.into(),
    };
    let history = vec![
        op(
            1,
            0,
            OpKind::Read { item: 1 },
            Outcome::ReadStock { stock: 5 },
        ),
        op(2, 10, buy(1, "k1"), Outcome::Bought { order: order(1, 1) }),
        op(
            3,
            20,
            OpKind::ReadOrder { number: 1 },
            Outcome::OrderSeen { order: order(1, 1) },
        ),
        op(
            4,
            30,
            OpKind::Read { item: 2 },
            Outcome::Failed {
                code: "no_leader".into(),
            },
        ),
        op(
            5,
            40,
            buy(2, "k2"),
            Outcome::Unknown {
                reason: "timed out".into(),
            },
        ),
    ];
    let digests = [("catalog", 10, "c0ffee"), ("orders", 8, "0dd")]
        .into_iter()
        .flat_map(|(group, applied, digest)| {
            (1..=3).map(move |id| (group.to_string(), id, applied, digest.to_string()))
        })
        .collect();
    let fault = |kind, target: &str, skipped: Option<&str>| FaultEvent {
        targets: skipped.map_or(vec![target.into()], |_| Vec::new()),
        healed_at_ms: skipped.map_or(Some(3500.0), |_| None),
        skipped: skipped.map(String::from),
        ..FaultEvent::new(1000.0, kind, Role::Leader)
    };
    RunFacts {
        seed: 9,
        args_summary: "ChaosArgs { .. }".into(),
        max_down: MaxDown::Minority,
        clients: 2,
        duration_ms: 5000.0,
        elapsed_ms: 5000.0,
        schedule: Schedule { steps: Vec::new() },
        events: vec![
            fault(FaultKind::Kill, "orders-2", None),
            fault(
                FaultKind::Pause,
                "catalog-1",
                Some("1 of catalog already down"),
            ),
        ],
        history,
        reads_served: vec![ReadServed {
            ops: vec![1],
            frontend: 0,
            cache: Some("hit".into()),
            etag: Some("\"c7\"".into()),
        }],
        initial_stock: BTreeMap::from([(1, 5), (2, 5)]),
        orders_before: 0,
        state: FinalState {
            order_logs: (1..=3).map(|id| (id, vec![order(1, 1)])).collect(),
            catalog_stock: (1..=3)
                .map(|id| (id, BTreeMap::from([(1, 4), (2, 5)])))
                .collect(),
            digests,
            panics: Vec::new(),
        },
        settled: None,
        cache_live: Some(Ok("7 books hit through each of 2 frontends".into())),
        lease: Duration::from_millis(1000),
        search_states_max: 10_000,
    }
}

fn printed(result: &RunResult) -> String {
    let mut out = Vec::new();
    summary(&mut out, result).unwrap();
    String::from_utf8(out).unwrap()
}

/// The words of the table row that starts with `first`.
fn row(text: &str, first: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{text}"));
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn a_run_that_holds_passes_every_check_and_says_so() {
    // Goal: the verdict of a consistent run is a pass, zero failed checks (exit 0), and the
    // summary counts each operation in its column and lists the fault that fired.
    let result = RunResult::check(clean_run());
    assert_eq!(result.failed(), 0, "{}", printed(&result));
    let text = printed(&result);
    assert!(text.ends_with("every check passed\n"), "{text}");
    assert_eq!(row(&text, "buy"), ["buy", "1", "0", "0", "1"]);
    assert_eq!(row(&text, "read stock")[2..], ["1", "0", "1", "0"]);
    assert_eq!(row(&text, "read order")[2..], ["1", "0", "0", "0"]);
    assert!(text.contains("kill orders-2 (leader)"), "{text}");
    assert!(text.contains("1 faults injected, 1 skipped"), "{text}");
    assert_eq!(row(&text, "cache_live")[1], "passed");
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["history"].as_array().unwrap().len(), 5);
    assert_eq!(
        json["reads_served"][0],
        serde_json::json!({"ops": [1], "frontend": 0, "cache": "hit", "etag": "\"c7\""}),
        "how each read was served, for a stale read's post-mortem"
    );
}

#[test]
fn a_lost_order_fails_the_run_by_name() {
    // Goal: a violation in the final state fails the run, names the check, and the summary
    // ends in failure. Method: replica 2 lost the acknowledged order 1.
    let mut facts = clean_run();
    facts.state.order_logs[1].1.clear();
    let result = RunResult::check(facts);
    assert!(result.failed() > 0);
    let text = printed(&result);
    assert_eq!(row(&text, "acknowledged_orders_durable")[1], "failed");
    assert!(text.ends_with("SOME CHECKS FAILED\n"), "{text}");
    assert_eq!(serde_json::to_value(&result).unwrap()["passed"], false);
}

#[test]
fn an_unsettled_cluster_and_a_dead_cache_each_fail_a_check() {
    // Goal: the two checks made outside the history checker count like the others: a cluster
    // that never settled and a cache that never served a hit again each fail one check.
    let mut facts = clean_run();
    facts.settled = Some("orders has no leader".into());
    facts.cache_live = Some(Err("frontend-2: book 3 still a miss".into()));
    let result = RunResult::check(facts);
    assert_eq!(result.failed(), 2);
    let text = printed(&result);
    assert_eq!(row(&text, "cluster_settled")[1..3], ["failed", "orders"]);
    assert_eq!(row(&text, "cache_live")[1..3], ["failed", "frontend-2:"]);
    // Without a cache there is no liveness check at all.
    let mut facts = clean_run();
    facts.cache_live = None;
    let text = printed(&RunResult::check(facts));
    assert!(!text.contains("cache_live"), "{text}");
}

#[test]
fn only_answered_operations_count_as_ok_in_the_timeline() {
    let facts = clean_run();
    let samples: Vec<Sample> = facts.history.iter().map(sample).collect();
    let ok: Vec<bool> = samples.iter().map(|s| s.ok).collect();
    assert_eq!(ok, [true, true, true, false, false]);
    assert_eq!(
        samples[4].complete_ms, None,
        "an unknown buy never completes"
    );
    assert!(matches!(samples[1].write, Some(Write::Buy)));
    assert!(samples[0].write.is_none());
}

/// Whether every element of `html` that opens is closed in order (void and self-closing
/// elements aside): a check that the page's structure is whole.
fn balanced(html: &str) -> Result<(), String> {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut open: Vec<String> = Vec::new();
    for piece in html.split('<').skip(1) {
        let tag = &piece[..piece.find('>').ok_or("an unclosed tag")?];
        if tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(closing) = tag.strip_prefix('/') {
            let closing = closing.trim();
            match open.pop() {
                Some(top) if top == closing => {}
                top => return Err(format!("</{closing}> closes {top:?}")),
            }
        } else if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
            open.push(name);
        }
    }
    match open.is_empty() {
        true => Ok(()),
        false => Err(format!("never closed: {open:?}")),
    }
}

#[test]
fn the_html_report_shows_every_check_fault_and_book_and_the_evidence_of_a_violation() {
    // Goal: the --html report names every check with its verdict, every fault (skipped ones
    // too), each book's history, and for a violation the operations that show it; it replays
    // with the run's seed, escapes what it shows, and its elements nest. Method: a stale read
    // (book 1 read as 9 after a buy left 4) under a buy key that is HTML.
    let mut facts = clean_run();
    facts.history.push(op(
        6,
        50,
        OpKind::Read { item: 1 },
        Outcome::ReadStock { stock: 9 },
    ));
    if let OpKind::Buy { key, .. } = &mut facts.history[1].kind {
        *key = "<script>alert(1)</script>".into();
    }
    let result = RunResult::check(facts);
    let failed = result.checks.get("stock_linearizable").unwrap();
    assert_eq!(failed.status, CheckStatus::Failed);
    let page = html::render(&result, "pygmy chaos --duration 5s --seed 3 --html r.html").unwrap();
    balanced(&page).unwrap();
    for check in &result.checks.checks {
        let verdict = format!("{:?}", check.status).to_lowercase();
        let row = page
            .split(&format!("<tr id=\"check-{}\">", check.name))
            .nth(1)
            .unwrap_or_else(|| panic!("no row for {}", check.name));
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&verdict), "{}: {row}", check.name);
    }
    for event in &result.faults {
        assert!(page.contains(&event.describe()), "{}", event.describe());
    }
    assert!(page.contains("skipped: 1 of catalog already down"));
    assert!(page.contains("id=\"book-1\"") && page.contains("id=\"book-2\""));
    assert!(page.contains("id=\"order-reads\""));
    // The evidence: the stale read is in the violation's operations, open by default.
    let evidence = page.split("<details open>").nth(1).expect("evidence shown");
    assert!(evidence.contains("stock 9"), "{evidence}");
    assert!(!page.contains("<script>"), "the key must be escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("pygmy chaos --duration 5s --html r.html --seed 9"));
    assert!(page.contains("<svg") && !page.contains("<?xml"));
    // A balanced-tags check that cannot fail is no check.
    assert!(balanced("<table><tr></table>").is_err());
}
