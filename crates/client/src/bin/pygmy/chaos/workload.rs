//! The chaos clients: concurrent processes driving the public API, recording every operation's
//! invocation, completion and outcome (ok, failed, unknown) in the history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use api::{Book, BookList, ErrorBody, ErrorCode, Order, WriteOutcome};
use check::{Op, OpKind, Outcome};
use client::chaos::Draw;
use serde_json::json;
use tokio::time::Instant;

/// Timeout of one request of a chaos client (above the frontend's own 15 s deadline).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts of one buy with the same key while its outcome stays unknown.
const BUY_ATTEMPTS_MAX: u32 = 3;
/// Pause of a client after the frontend refused a connection.
const FRONTEND_DOWN_PAUSE: Duration = Duration::from_millis(250);
/// Books of the default catalog.
pub(crate) const ITEMS: u64 = 7;

/// The shared history of a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    next_id: AtomicU64,
    next_process: AtomicU64,
    /// Highest acknowledged order number, for order reads.
    max_order: AtomicU64,
}

impl Recorder {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            ops: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            next_process: AtomicU64::new(1),
            max_order: AtomicU64::new(0),
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    fn record(&self, process: u64, invoke_ns: u64, kind: OpKind, outcome: Outcome) {
        let complete_ns = match outcome {
            Outcome::Unknown { .. } => None,
            _ => Some(self.now_ns()),
        };
        if let Outcome::Bought { order } = &outcome {
            self.max_order.fetch_max(order.number, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let op = Op {
            id,
            process,
            invoke_ns,
            complete_ns,
            kind,
            outcome,
        };
        self.ops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(op);
    }

    /// The history so far, in recording order.
    pub(crate) fn history(&self) -> Vec<Op> {
        self.ops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What one chaos client needs.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) http: reqwest::Client,
    /// Every frontend's base URL; client `i` uses frontend `i % len`.
    pub(crate) bases: Vec<String>,
    pub(crate) admin_token: String,
    pub(crate) recorder: Arc<Recorder>,
    /// Mean pause between two operations of one client.
    pub(crate) pause: Duration,
    pub(crate) seed: u64,
    /// Per frontend: when a connection to it was last refused, ns since the start (0: never).
    pub(crate) refused_at_ns: Vec<AtomicU64>,
}

/// Who runs an operation: the client's current process, and the frontend it uses.
#[derive(Debug, Clone, Copy)]
struct Caller {
    process: u64,
    frontend: usize,
}

/// A request's answer, sorted by what it means for the history.
#[derive(Debug)]
enum Answer {
    Ok(serde_json::Value),
    /// A definitive refusal with its code: nothing was applied.
    Refused(ErrorCode),
    /// Nothing was applied (not delivered, or no leader took it).
    NotApplied(String),
    /// It may or may not have been applied.
    Unknown(String),
}

async fn send(workload: &Workload, frontend: usize, request: reqwest::RequestBuilder) -> Answer {
    let response = match request.timeout(REQUEST_TIMEOUT).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            let now = workload.recorder.now_ns().max(1);
            workload.refused_at_ns[frontend].store(now, Ordering::Relaxed);
            return Answer::NotApplied(e.to_string());
        }
        Err(e) => return Answer::Unknown(e.to_string()),
    };
    let status = response.status();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Answer::Unknown(e.to_string()),
    };
    sort(status, &body)
}

/// Sorts a complete answer by whether its write may have applied
/// ([`ErrorCode::write_outcome`]); an error status without a Pygmy body may hide anything.
fn sort(status: reqwest::StatusCode, body: &[u8]) -> Answer {
    if status.is_success() {
        return match serde_json::from_slice(body) {
            Ok(v) => Answer::Ok(v),
            Err(e) => Answer::Unknown(format!("undecodable answer: {e}")),
        };
    }
    let Ok(b) = serde_json::from_slice::<ErrorBody>(body) else {
        return Answer::Unknown(format!("status {status} without an error body"));
    };
    match b.error.code.write_outcome() {
        WriteOutcome::Refused => Answer::Refused(b.error.code),
        WriteOutcome::NotApplied => Answer::NotApplied(b.error.message),
        WriteOutcome::Unknown => Answer::Unknown(b.error.message),
    }
}

impl Workload {
    /// Runs client `index` until `stop`.
    pub(crate) async fn client(self: Arc<Self>, index: u64, stop: Instant) {
        let mut draw = Draw::new(self.seed.wrapping_mul(31).wrapping_add(index));
        let frontend = usize::try_from(index).unwrap_or(0) % self.bases.len();
        let mut process = self.recorder.new_process();
        let mut seq = 0u64;
        while Instant::now() < stop {
            seq += 1;
            let item = draw.range(1, ITEMS);
            let dice = draw.range(0, 99);
            let caller = Caller { process, frontend };
            let unknown = match dice {
                0..=39 => self.lookup(caller, item).await,
                40..=49 => {
                    self.search(caller, if draw.chance(0.5) { "ds" } else { "gs" })
                        .await
                }
                50..=84 => {
                    let key = format!("chaos-{}-{index}-{seq}", self.seed);
                    self.buy(caller, item, draw.range(1, 2), key).await
                }
                85..=94 => {
                    let delta = i64::try_from(draw.range(1, 4)).expect("at most 4");
                    self.restock(caller, item, delta).await
                }
                _ => {
                    let max = self.recorder.max_order.load(Ordering::Relaxed);
                    self.read_order(caller, draw.range(1, max.max(1) + 1)).await
                }
            };
            // A process whose operation may still take effect is done (Knossos): go on as a
            // new one, so its next operation is not ordered after the unknown one.
            if unknown {
                process = self.recorder.new_process();
            }
            // The frontend refused connections lately (it is down): back off as a real client
            // would, rather than fill the history with instant failures.
            let refused_ago = self
                .recorder
                .now_ns()
                .saturating_sub(self.refused_at_ns[frontend].load(Ordering::Relaxed));
            if refused_ago < FRONTEND_DOWN_PAUSE.as_nanos() as u64 {
                tokio::time::sleep(FRONTEND_DOWN_PAUSE).await;
            }
            let pause_ms = self.pause.as_millis() as u64;
            tokio::time::sleep(Duration::from_millis(draw.range(0, pause_ms * 2))).await;
        }
    }

    fn url(&self, caller: Caller, path: &str) -> String {
        format!("{}{path}", self.bases[caller.frontend])
    }

    async fn lookup(&self, caller: Caller, item: u64) -> bool {
        let invoke = self.recorder.now_ns();
        let answer = send(
            self,
            caller.frontend,
            self.http.get(self.url(caller, &format!("/books/{item}"))),
        )
        .await;
        let outcome = match answer {
            Answer::Ok(v) => match serde_json::from_value::<Book>(v) {
                Ok(book) => Outcome::ReadStock { stock: book.stock },
                Err(e) => Outcome::Failed {
                    code: format!("bad book: {e}"),
                },
            },
            other => read_failure(other),
        };
        self.recorder
            .record(caller.process, invoke, OpKind::Read { item }, outcome);
        false
    }

    async fn search(&self, caller: Caller, topic: &str) -> bool {
        let invoke = self.recorder.now_ns();
        let answer = send(
            self,
            caller.frontend,
            self.http
                .get(self.url(caller, &format!("/books?topic={topic}"))),
        )
        .await;
        let books = match answer {
            Answer::Ok(v) => serde_json::from_value::<BookList>(v)
                .map(|l| l.books)
                .unwrap_or_default(),
            _ => return false,
        };
        // One read per book seen, all over the same interval.
        for book in books {
            let outcome = Outcome::ReadStock { stock: book.stock };
            self.recorder.record(
                caller.process,
                invoke,
                OpKind::Read { item: book.id },
                outcome,
            );
        }
        false
    }

    async fn buy(&self, caller: Caller, item: u64, quantity: u64, key: String) -> bool {
        let invoke = self.recorder.now_ns();
        let mut unknown = None;
        let mut outcome = None;
        for _ in 0..BUY_ATTEMPTS_MAX {
            let request = self
                .http
                .post(self.url(caller, "/orders"))
                .header("Idempotency-Key", &key)
                .json(&json!({ "item": item, "quantity": quantity }));
            match send(self, caller.frontend, request).await {
                Answer::Ok(v) => {
                    outcome = Some(match serde_json::from_value::<Order>(v) {
                        Ok(order) => Outcome::Bought { order },
                        Err(e) => Outcome::Unknown {
                            reason: format!("bad order: {e}"),
                        },
                    });
                    break;
                }
                Answer::Refused(ErrorCode::OutOfStock) => {
                    outcome = Some(Outcome::Refused);
                    break;
                }
                Answer::Refused(code) => {
                    outcome = Some(Outcome::Failed {
                        code: client::code_name(code),
                    });
                    break;
                }
                Answer::NotApplied(reason) | Answer::Unknown(reason) if unknown.is_some() => {
                    unknown = Some(reason);
                }
                Answer::NotApplied(reason) => {
                    outcome = Some(Outcome::Failed { code: reason });
                    break;
                }
                Answer::Unknown(reason) => unknown = Some(reason),
            }
        }
        let outcome = outcome.unwrap_or_else(|| Outcome::Unknown {
            reason: unknown.unwrap_or_default(),
        });
        let is_unknown = matches!(outcome, Outcome::Unknown { .. });
        self.recorder.record(
            caller.process,
            invoke,
            OpKind::Buy {
                item,
                quantity,
                key,
            },
            outcome,
        );
        is_unknown
    }

    async fn restock(&self, caller: Caller, item: u64, delta: i64) -> bool {
        let invoke = self.recorder.now_ns();
        let request = self
            .http
            .post(self.url(caller, &format!("/admin/books/{item}")))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "stock_delta": delta }));
        // A restock has no key: it is never resent after an unknown outcome.
        let outcome = match send(self, caller.frontend, request).await {
            Answer::Ok(v) => match serde_json::from_value::<Book>(v) {
                Ok(book) => Outcome::Restocked {
                    stock_after: book.stock,
                },
                Err(e) => Outcome::Unknown {
                    reason: format!("bad book: {e}"),
                },
            },
            Answer::Refused(code) => Outcome::Failed {
                code: client::code_name(code),
            },
            Answer::NotApplied(reason) => Outcome::Failed { code: reason },
            Answer::Unknown(reason) => Outcome::Unknown { reason },
        };
        let is_unknown = matches!(outcome, Outcome::Unknown { .. });
        self.recorder.record(
            caller.process,
            invoke,
            OpKind::Restock { item, delta },
            outcome,
        );
        is_unknown
    }

    async fn read_order(&self, caller: Caller, number: u64) -> bool {
        let invoke = self.recorder.now_ns();
        let answer = send(
            self,
            caller.frontend,
            self.http
                .get(self.url(caller, &format!("/orders/{number}"))),
        )
        .await;
        let outcome = match answer {
            Answer::Ok(v) => match serde_json::from_value::<Order>(v) {
                Ok(order) => Outcome::OrderSeen { order },
                Err(e) => Outcome::Failed {
                    code: format!("bad order: {e}"),
                },
            },
            Answer::Refused(ErrorCode::NotFound) => Outcome::OrderMissing,
            other => read_failure(other),
        };
        self.recorder.record(
            caller.process,
            invoke,
            OpKind::ReadOrder { number },
            outcome,
        );
        false
    }
}

/// A read that got no value: it had no effect, whatever happened.
fn read_failure(answer: Answer) -> Outcome {
    let code = match answer {
        Answer::Ok(_) => "unexpected".to_string(),
        Answer::Refused(code) => client::code_name(code),
        Answer::NotApplied(reason) | Answer::Unknown(reason) => reason,
    };
    Outcome::Failed { code }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;

    fn answered(status: u16, code: &str) -> Answer {
        let body = json!({"error": {"code": code, "message": "m"}}).to_string();
        sort(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn answers_are_sorted_by_whether_the_write_may_have_applied() {
        // Goal: the history records a buy answered `internal` as unknown (it may have
        // applied), never as failed; refusals and not-applied answers stay definite.
        assert!(matches!(answered(500, "internal"), Answer::Unknown(_)));
        assert!(matches!(
            answered(503, "outcome_unknown"),
            Answer::Unknown(_)
        ));
        assert!(matches!(answered(503, "timeout"), Answer::Unknown(_)));
        assert!(matches!(answered(503, "no_leader"), Answer::NotApplied(_)));
        assert!(matches!(answered(429, "overloaded"), Answer::NotApplied(_)));
        assert!(matches!(
            answered(409, "out_of_stock"),
            Answer::Refused(ErrorCode::OutOfStock)
        ));
        assert!(matches!(
            sort(StatusCode::BAD_GATEWAY, b"proxy page"),
            Answer::Unknown(_)
        ));
        assert!(matches!(sort(StatusCode::CREATED, b"{}"), Answer::Ok(_)));
    }
}
