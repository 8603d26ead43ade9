//! The chaos clients: concurrent processes driving the public API, recording every operation's
//! invocation, completion and outcome (ok, failed, unknown) in the history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use check::{Op, OpKind, Outcome};
use client::chaos::Draw;
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::chaos::classify::{self, Answer, BuyAttempts};

/// Timeout of one request of a chaos client (above the frontend's own 15 s deadline).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts of one buy with the same key while its outcome stays unknown.
const BUY_ATTEMPTS_MAX: u32 = 3;
/// Pause of a client after the frontend refused a connection.
const FRONTEND_DOWN_PAUSE: Duration = Duration::from_millis(250);
/// Books of the default catalog.
pub(crate) const ITEMS: u64 = 7;

/// How an operation's outcome is counted, in the progress and the report's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tally {
    /// It did what it was asked (a read read, a buy bought, a restock applied).
    Ok,
    /// A definite no: a buy refused (out of stock) or an order read that found none.
    RefusedOrMissing,
    /// Nothing was applied, for sure.
    Failed,
    /// It may or may not have been applied.
    Unknown,
}

impl Tally {
    /// How many kinds of tally there are: the length of a [`Tallies`].
    pub(crate) const KINDS: usize = 4;

    /// How `outcome` is counted.
    pub(crate) fn of(outcome: &Outcome) -> Tally {
        match outcome {
            Outcome::Refused | Outcome::OrderMissing => Tally::RefusedOrMissing,
            Outcome::Failed { .. } => Tally::Failed,
            Outcome::Unknown { .. } => Tally::Unknown,
            Outcome::ReadStock { .. }
            | Outcome::Bought { .. }
            | Outcome::Restocked { .. }
            | Outcome::OrderSeen { .. } => Tally::Ok,
        }
    }
}

// `KINDS` is the count of variants, `Unknown` the last: arrays of tallies index by variant.
const _: () = assert!(Tally::Unknown as usize + 1 == Tally::KINDS);

/// Operations by [`Tally`], indexed by `Tally as usize`.
pub(crate) type Tallies = [u64; Tally::KINDS];

/// How a read was served: which operations of the history it gave, through which frontend,
/// whether from that frontend's cache (`x-pygmy-cache`), and at which catalog index (`ETag`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReadServed {
    /// The history's operations it gave (a search gives one read per book it saw).
    pub(crate) ops: Vec<u64>,
    /// The frontend, by index.
    pub(crate) frontend: usize,
    /// `hit` or `miss` (`None`: no header, e.g. the cache is off or the read failed).
    pub(crate) cache: Option<String>,
    /// The answer's `ETag`: the catalog index the value was read at.
    pub(crate) etag: Option<String>,
}

/// The shared history of a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    /// How each read was served.
    reads: Mutex<Vec<ReadServed>>,
    /// The operations recorded so far by [`Tally`]: read for the progress without copying
    /// the history.
    tallies: [AtomicU64; Tally::KINDS],
    next_id: AtomicU64,
    next_process: AtomicU64,
    /// Highest acknowledged order number, for order reads.
    max_order: AtomicU64,
}

impl Recorder {
    /// An empty history whose times count from `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            ops: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            tallies: Default::default(),
            next_id: AtomicU64::new(1),
            next_process: AtomicU64::new(1),
            max_order: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the start.
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A process id never used before: a client goes on as a new process after an unknown
    /// outcome.
    pub(crate) fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Records an operation completed now, or never for an unknown outcome (it may still take
    /// effect). A timed restock is recorded as invoked when it was last seen not applied. Its id.
    pub(crate) fn record(
        &self,
        process: u64,
        invoke_ns: u64,
        kind: OpKind,
        outcome: Outcome,
    ) -> u64 {
        let complete_ns = match outcome {
            Outcome::Unknown { .. } => None,
            _ => Some(self.now_ns()),
        };
        if let Outcome::Bought { order } = &outcome {
            self.max_order.fetch_max(order.number, Ordering::Relaxed);
        }
        self.tallies[Tally::of(&outcome) as usize].fetch_add(1, Ordering::Relaxed);
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
        id
    }

    /// Notes how the read that gave `served.ops` was served.
    fn served(&self, served: ReadServed) {
        if served.ops.is_empty() {
            return;
        }
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(served);
    }

    /// How each read was served, in recording order.
    pub(crate) fn reads_served(&self) -> Vec<ReadServed> {
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The operations recorded so far, by [`Tally`].
    pub(crate) fn tallies(&self) -> Tallies {
        self.tallies
            .each_ref()
            .map(|count| count.load(Ordering::Relaxed))
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
    /// The clients' HTTP client (also the cache liveness check's).
    pub(crate) http: reqwest::Client,
    /// Every frontend's base URL; client `i` uses frontend `i % len`.
    bases: Vec<String>,
    /// For restocks.
    admin_token: String,
    /// Where every operation goes.
    recorder: Arc<Recorder>,
    /// Mean pause between two operations of one client.
    pause: Duration,
    /// Seeds each client's draws.
    seed: u64,
    /// Per frontend: when a connection to it was last refused, ns since the start (0: never).
    refused_at_ns: Vec<AtomicU64>,
}

impl Workload {
    /// Clients of `frontends` (`host:port`) recording into `recorder`; each of their requests
    /// times out after [`REQUEST_TIMEOUT`].
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub(crate) fn new(
        frontends: &[String],
        admin_token: &str,
        recorder: Arc<Recorder>,
        pause: Duration,
        seed: u64,
    ) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            bases: frontends.iter().map(|a| format!("http://{a}")).collect(),
            admin_token: admin_token.to_string(),
            recorder,
            pause,
            seed,
            refused_at_ns: frontends.iter().map(|_| AtomicU64::new(0)).collect(),
        })
    }
}

/// Who runs an operation: the client's current process, and the frontend it uses.
#[derive(Debug, Clone, Copy)]
struct Caller {
    process: u64,
    frontend: usize,
}

/// Sends `request` through frontend `frontend` and sorts its answer; a refused connection also
/// marks that frontend down, for the clients' back-off.
async fn send(workload: &Workload, frontend: usize, request: reqwest::RequestBuilder) -> Answer {
    send_noting(workload, frontend, request).await.0
}

/// As [`send`], with the answer's `x-pygmy-cache` and `ETag` headers (reads note them).
async fn send_noting(
    workload: &Workload,
    frontend: usize,
    request: reqwest::RequestBuilder,
) -> (Answer, Option<String>, Option<String>) {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            if e.is_connect() {
                let now = workload.recorder.now_ns().max(1);
                workload.refused_at_ns[frontend].store(now, Ordering::Relaxed);
            }
            return (Answer::of_transport_error(&e), None, None);
        }
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (cache, etag) = (header("x-pygmy-cache"), header("etag"));
    let answer = match response.bytes().await {
        Ok(body) => Answer::of_response(status, &body),
        Err(e) => Answer::of_transport_error(&e),
    };
    (answer, cache, etag)
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

    /// `GET path` through the caller's frontend.
    async fn get(&self, caller: Caller, path: &str) -> Answer {
        let request = self.http.get(self.url(caller, path));
        send(self, caller.frontend, request).await
    }

    /// `GET path` through the caller's frontend, noting how it was served.
    async fn get_noting(&self, caller: Caller, path: &str) -> (Answer, ReadServed) {
        let request = self.http.get(self.url(caller, path));
        let (answer, cache, etag) = send_noting(self, caller.frontend, request).await;
        let served = ReadServed {
            ops: Vec::new(),
            frontend: caller.frontend,
            cache,
            etag,
        };
        (answer, served)
    }

    async fn lookup(&self, caller: Caller, item: u64) -> bool {
        let invoke = self.recorder.now_ns();
        let (answer, mut served) = self.get_noting(caller, &format!("/books/{item}")).await;
        let outcome = classify::lookup(answer);
        let read = matches!(outcome, Outcome::ReadStock { .. });
        let id = self
            .recorder
            .record(caller.process, invoke, OpKind::Read { item }, outcome);
        if read {
            served.ops.push(id);
            self.recorder.served(served);
        }
        false
    }

    async fn search(&self, caller: Caller, topic: &str) -> bool {
        let invoke = self.recorder.now_ns();
        let (answer, mut served) = self
            .get_noting(caller, &format!("/books?topic={topic}"))
            .await;
        // One read per book seen, all over the same interval.
        for book in classify::search(answer) {
            let outcome = Outcome::ReadStock { stock: book.stock };
            served.ops.push(self.recorder.record(
                caller.process,
                invoke,
                OpKind::Read { item: book.id },
                outcome,
            ));
        }
        self.recorder.served(served);
        false
    }

    async fn buy(&self, caller: Caller, item: u64, quantity: u64, key: String) -> bool {
        let invoke = self.recorder.now_ns();
        let mut attempts = BuyAttempts::default();
        let mut outcome = None;
        for _ in 0..BUY_ATTEMPTS_MAX {
            let request = self
                .http
                .post(self.url(caller, "/orders"))
                .header("Idempotency-Key", &key)
                .json(&json!({ "item": item, "quantity": quantity }));
            outcome = attempts.answer(send(self, caller.frontend, request).await);
            if outcome.is_some() {
                break;
            }
        }
        let outcome = outcome.unwrap_or_else(|| attempts.exhausted());
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
        let outcome = classify::restock(send(self, caller.frontend, request).await);
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
        let answer = self.get(caller, &format!("/orders/{number}")).await;
        let outcome = classify::read_order(answer);
        self.recorder.record(
            caller.process,
            invoke,
            OpKind::ReadOrder { number },
            outcome,
        );
        false
    }
}

#[cfg(test)]
mod tests;
