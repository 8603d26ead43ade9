//! The clients against a scripted server on a free port: what each way a request can end
//! records, and that a buy is resent with its key while a restock is not.

use std::sync::atomic::Ordering;

use api::ErrorCode;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// What the scripted server does with one connection.
enum Reply {
    /// Answers with this status and JSON body, and closes.
    Json(u16, &'static str),
    /// Promises a longer body than it sends, and closes.
    CutShort,
    /// Reads the request and closes without a word.
    HangUp,
    /// Reads the request and never answers.
    Silence,
}

/// A server that takes one connection per reply, in turn; each request it read arrives on the
/// receiver.
async fn scripted(replies: Vec<Reply>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, requests) = mpsc::channel(replies.len().max(1));
    tokio::spawn(async move {
        for reply in replies {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = read_request(&mut socket).await;
            seen.send(request).await.unwrap();
            let text = match reply {
                Reply::Json(status, body) => format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                Reply::CutShort => "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\"".into(),
                Reply::HangUp => String::new(),
                Reply::Silence => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    String::new()
                }
            };
            socket.write_all(text.as_bytes()).await.unwrap();
        }
    });
    (addr, requests)
}

/// Reads one request, head and body (by its `content-length`), as text.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some(head_end) = text.find("\r\n\r\n") else {
            assert!(n > 0, "the client closed mid-request");
            continue;
        };
        let length = text[..head_end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse()
                    .ok()
            })
            .unwrap_or(0usize);
        if n == 0 || text.len() >= head_end + 4 + length {
            return text;
        }
    }
}

/// A workload on `addr` whose requests time out after 300 ms.
fn workload(addr: &str) -> Workload {
    let recorder = Arc::new(Recorder::new(Instant::now()));
    let mut workload = Workload::new(&[addr.into()], "admin", recorder, Duration::ZERO, 7).unwrap();
    workload.http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    workload
}

const CALLER: Caller = Caller {
    process: 1,
    frontend: 0,
};

/// `GET /books/1` through a scripted server answering `reply`: the answer, and whether the
/// frontend was marked down.
async fn get_once(reply: Reply) -> (Answer, bool) {
    let (addr, _requests) = scripted(vec![reply]).await;
    let workload = workload(&addr);
    let answer = workload.get(CALLER, "/books/1").await;
    (
        answer,
        workload.refused_at_ns[0].load(Ordering::Relaxed) > 0,
    )
}

#[tokio::test]
async fn a_refused_connection_sent_nothing_and_marks_the_frontend_down() {
    // Goal: a request that never got a connection applied nothing, and the clients of that
    // frontend back off. Method: a port that was free a moment ago.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let workload = workload(&addr);
    let answer = workload.get(CALLER, "/books/1").await;
    assert!(matches!(answer, Answer::NotApplied(_)), "{answer:?}");
    assert!(workload.refused_at_ns[0].load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn a_request_sent_but_not_answered_may_have_applied() {
    // Goal: once the request is on the wire, a lost connection, a timeout and a body cut
    // short all leave the outcome unknown, and none marks the frontend down.
    for reply in [Reply::HangUp, Reply::Silence, Reply::CutShort] {
        let (answer, marked_down) = get_once(reply).await;
        assert!(matches!(answer, Answer::Unknown(_)), "{answer:?}");
        assert!(!marked_down);
    }
}

#[tokio::test]
async fn a_complete_answer_is_sorted_by_its_body() {
    let out_of_stock = r#"{"error": {"code": "out_of_stock", "message": "0 left"}}"#;
    let (answer, _) = get_once(Reply::Json(409, out_of_stock)).await;
    assert!(
        matches!(answer, Answer::Refused(ErrorCode::OutOfStock)),
        "{answer:?}"
    );
    let book = r#"{"id": 1, "title": "T", "topic": "ds", "cost": 100, "stock": 5}"#;
    let (answer, _) = get_once(Reply::Json(200, book)).await;
    assert!(
        matches!(&answer, Answer::Ok(v) if v["stock"] == 5),
        "{answer:?}"
    );
}

const UNKNOWN: &str = r#"{"error": {"code": "outcome_unknown", "message": "leader lost"}}"#;

#[tokio::test]
async fn a_buy_left_open_is_resent_with_its_key_and_recorded_once_as_unknown() {
    // Goal: the driver resends a buy of unknown outcome with the same idempotency key, at
    // most BUY_ATTEMPTS_MAX times, then records it once, open-ended, and the client goes on
    // as a new process. Method: a server answering `outcome_unknown` every time.
    let replies = (0..BUY_ATTEMPTS_MAX)
        .map(|_| Reply::Json(503, UNKNOWN))
        .collect();
    let (addr, mut requests) = scripted(replies).await;
    let workload = workload(&addr);
    let open = workload.buy(CALLER, 3, 2, "chaos-7-0-1".into()).await;
    assert!(open, "an unknown buy ends its process");
    for _ in 0..BUY_ATTEMPTS_MAX {
        let request = requests.recv().await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("post /orders "), "{request}");
        assert!(
            request.contains("idempotency-key: chaos-7-0-1"),
            "{request}"
        );
        assert!(request.contains(r#"{"item":3,"quantity":2}"#), "{request}");
    }
    let history = workload.recorder.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].complete_ns, None);
    assert!(matches!(
        history[0].kind,
        OpKind::Buy {
            item: 3,
            quantity: 2,
            ..
        }
    ));
    assert_eq!(
        history[0].outcome,
        Outcome::Unknown {
            reason: "leader lost".into()
        }
    );
}

#[tokio::test]
async fn a_restock_of_unknown_outcome_is_never_resent() {
    // Goal: a restock has no key, so resending it could apply it twice: one request, recorded
    // unknown. Method: a server that would answer `outcome_unknown` twice.
    let (addr, mut requests) =
        scripted(vec![Reply::Json(503, UNKNOWN), Reply::Json(503, UNKNOWN)]).await;
    let workload = workload(&addr);
    assert!(workload.restock(CALLER, 4, 3).await);
    let request = requests.recv().await.unwrap().to_ascii_lowercase();
    assert!(request.starts_with("post /admin/books/4 "), "{request}");
    assert!(request.contains("authorization: bearer admin"), "{request}");
    assert!(requests.try_recv().is_err(), "sent twice");
    let history = workload.recorder.history();
    assert!(matches!(history[0].outcome, Outcome::Unknown { .. }));
}

#[test]
fn the_history_keeps_open_operations_open_and_the_highest_order() {
    // Goal: an unknown outcome has no completion time (it may take effect any time later);
    // every other one has; a bought order raises the highest number that order reads draw
    // from; ids and processes are never reused.
    let recorder = Recorder::new(Instant::now());
    let read = OpKind::Read { item: 1 };
    recorder.record(1, 0, read.clone(), Outcome::ReadStock { stock: 5 });
    let open = Outcome::Unknown {
        reason: "timeout".into(),
    };
    recorder.record(2, 0, read, open);
    let order: api::Order = serde_json::from_value(serde_json::json!({"number": 41, "item": 1,
        "title": "T", "quantity": 1, "cost": 100, "status": "committed"}))
    .unwrap();
    let buy = OpKind::Buy {
        item: 1,
        quantity: 1,
        key: "k".into(),
    };
    recorder.record(3, 0, buy, Outcome::Bought { order });
    let history = recorder.history();
    let ids: Vec<u64> = history.iter().map(|op| op.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert!(history[0].complete_ns.is_some());
    assert_eq!(history[1].complete_ns, None);
    assert_eq!(recorder.max_order.load(Ordering::Relaxed), 41);
    let (a, b) = (recorder.new_process(), recorder.new_process());
    assert_ne!(a, b);
}

#[test]
fn the_tallies_count_each_recorded_outcome_as_the_report_does() {
    // Goal: the progress's counts (kept as operations are recorded) agree with a count over
    // the history, column by column. Method: record one outcome of each tally, two unknown.
    let recorder = Recorder::new(Instant::now());
    let read = OpKind::Read { item: 1 };
    let outcomes = [
        Outcome::ReadStock { stock: 5 },
        Outcome::Refused,
        Outcome::OrderMissing,
        Outcome::Failed {
            code: "no_leader".into(),
        },
        Outcome::Unknown {
            reason: "timeout".into(),
        },
        Outcome::Unknown {
            reason: "reset".into(),
        },
    ];
    for (process, outcome) in (1..).zip(outcomes) {
        recorder.record(process, 0, read.clone(), outcome);
    }
    assert_eq!(recorder.tallies(), [1, 2, 1, 2]);
    let mut counted: Tallies = [0; Tally::KINDS];
    for op in recorder.history() {
        counted[Tally::of(&op.outcome) as usize] += 1;
    }
    assert_eq!(counted, recorder.tallies());
}
