//! Calls to the replicas: one shared HTTP client, a classification of every answer, and rounds
//! over a group's replicas with capped backoff until an answer or the call's deadline
//! (`direct`: single requests to one replica, outside the rounds).
//!
//! An attempt ends one of five ways: the replica answered 2xx; it refused for a reason about the
//! request (404, 409 `out_of_stock`, ...), final; its answer was garbled, final; the request was
//! not taken (connection refused, 503 `no_leader`, 429), so the next replica is tried; or its
//! outcome is unknown (timeout, dropped connection, 503 `outcome_unknown`), in which case reads
//! and writes carrying a buy key move on, and other writes stop with `outcome_unknown`.

mod answer;
mod direct;

use std::time::Duration;

use api::ApiError;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::config::{FrontendConfig, CONNECT_TIMEOUT_MS};
use crate::context::{RequestContext, X_REQUEST_ID};
use crate::error::{Error, Result};
use crate::pool::{PoolReplica, ReplicaPool};
use answer::{classify, count, describe, read_body, sort_error, Attempt};

/// Rounds over a group's replicas one call makes at most (the deadline usually ends it first).
const ROUNDS_MAX: u32 = 100;
/// Pause after the first failed round, in ms; it doubles after each further one.
pub(crate) const BACKOFF_MS_MIN: u64 = 50;
/// Longest pause between rounds, in ms: well under an election, so that a call waiting out a
/// failover tries again soon after the group has a leader (with 1 s, a buy sent at an order
/// leader's kill waited up to a second past the election: failover 2.6 s instead of 1.6 s).
/// A round costs each replica one quick answer (503 `no_leader`, or a refused connection), and
/// the frontend's concurrency limit bounds the calls waiting.
pub(crate) const BACKOFF_MS_MAX: u64 = 200;
/// Idle keep-alive connections kept per replica.
const IDLE_CONNECTIONS_PER_REPLICA_MAX: usize = 64;

/// How often a call waiting on a replica checks whether the probes saw another replica elected
/// in a higher term.
const SUPERSEDED_CHECK: Duration = Duration::from_millis(100);

const _: () = assert!(BACKOFF_MS_MIN < BACKOFF_MS_MAX);
// The rounds outlast the longest deadline, so that it, not the count, ends a call.
const _: () = assert!(ROUNDS_MAX as u64 * BACKOFF_MS_MAX > crate::config::WRITE_DEADLINE_MS);
const _: () = assert!(ROUNDS_MAX as u64 * BACKOFF_MS_MAX > crate::config::READ_DEADLINE_MS);

/// What a retry may do, given what the call changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Changes nothing: any replica, any number of times.
    Read,
    /// Carries a buy key: sending it again is answered, never applied twice.
    IdempotentWrite,
    /// Applying it twice would be wrong (a restock): resent only when it was surely not taken.
    Write,
}

/// Which replica a call tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    /// Round-robin over healthy replicas.
    AnyReplica,
    /// The group's leader, as the probes last saw it (saves the follower's forwarding hop).
    LeaderFirst,
}

/// One request to a group, as sent to each replica it tries.
#[derive(Debug, Clone)]
pub(crate) struct BackendCall {
    /// HTTP method.
    pub(crate) method: Method,
    /// Path and query on the replica, starting with `/`.
    pub(crate) path_and_query: String,
    /// JSON body, if any.
    pub(crate) body: Option<Bytes>,
    /// What retries may do.
    pub(crate) kind: CallKind,
    /// Which replica goes first.
    pub(crate) targets: Targets,
    /// When to stop trying.
    pub(crate) deadline: Instant,
}

impl BackendCall {
    /// `GET path_and_query`, a read, until `deadline`.
    pub(crate) fn read(path_and_query: String, deadline: Instant) -> Self {
        Self {
            method: Method::GET,
            path_and_query,
            body: None,
            kind: CallKind::Read,
            targets: Targets::AnyReplica,
            deadline,
        }
    }

    /// `POST path` with `body` as JSON, to the leader first, until `deadline`.
    pub(crate) fn post(
        path: String,
        body: &impl serde::Serialize,
        kind: CallKind,
        deadline: Instant,
    ) -> Self {
        let body = serde_json::to_vec(body).expect("request bodies are plain data and serialize");
        Self {
            method: Method::POST,
            path_and_query: path,
            body: Some(Bytes::from(body)),
            kind,
            targets: Targets::LeaderFirst,
            deadline,
        }
    }
}

/// How one round over the replicas ended.
#[derive(Debug)]
enum RoundEnd {
    /// This replica answered 2xx with this body.
    Answered(u64, Bytes),
    /// An answer that ends the call (a refusal, a garbled answer, an unknown write outcome).
    Final(Error),
    /// No replica took the request.
    NoneTook(RoundFailure),
}

/// Why no replica took a round's request.
#[derive(Debug, Default)]
struct RoundFailure {
    /// Why an attempt's outcome is unknown, if one's is.
    maybe_applied: Option<String>,
    /// The last failure seen.
    last: Option<String>,
}

/// The shared HTTP client to the replicas and the cluster token it presents.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    http: reqwest::Client,
    cluster_token: String,
    backend_timeout: Duration,
}

impl Backend {
    /// A client for `config`'s replicas.
    ///
    /// # Errors
    /// [`Error::HttpClient`] if reqwest cannot build its client.
    pub(crate) fn new(config: &FrontendConfig) -> Result<Self> {
        let http = runtime::internal_http::client_builder()
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_REPLICA_MAX)
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Self {
            http,
            cluster_token: config.cluster_token.clone(),
            backend_timeout: config.backend_timeout,
        })
    }

    /// Sends `call` to `pool`'s replicas, round after round with capped backoff, until one
    /// answers for good or the deadline passes; decodes a 2xx answer as `T`.
    ///
    /// # Errors
    /// [`Error::Rejected`] or [`Error::BadAnswer`] as a replica answered; after the deadline
    /// [`Error::OutcomeUnknown`] if a write may have applied, else [`Error::Unavailable`].
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        pool: &ReplicaPool,
        call: &BackendCall,
        ctx: &RequestContext,
    ) -> Result<T> {
        self.call_answered(pool, call, ctx).await.map(|(_, t)| t)
    }

    /// As [`Backend::call`], with the id of the replica that answered.
    ///
    /// # Errors
    /// As [`Backend::call`].
    pub(crate) async fn call_answered<T: DeserializeOwned>(
        &self,
        pool: &ReplicaPool,
        call: &BackendCall,
        ctx: &RequestContext,
    ) -> Result<(u64, T)> {
        let group = pool.group();
        let mut backoff = Duration::from_millis(BACKOFF_MS_MIN);
        let mut maybe_applied = None;
        let mut last = None;
        for round in 1..=ROUNDS_MAX {
            let failure = match self.round(pool, call, ctx).await {
                RoundEnd::Answered(replica_id, body) => {
                    return decode(group, replica_id, &body).map(|t| (replica_id, t))
                }
                RoundEnd::Final(error) => return Err(error),
                RoundEnd::NoneTook(failure) => failure,
            };
            maybe_applied = failure.maybe_applied.or(maybe_applied);
            last = failure.last.or(last);
            if Instant::now() + backoff >= call.deadline {
                break;
            }
            let backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
            tracing::debug!(group, round, backoff_ms, last = ?last, "no replica took the request; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(BACKOFF_MS_MAX));
        }
        let reason = last.unwrap_or_else(|| "the deadline passed before any attempt".into());
        match (call.kind, maybe_applied) {
            (CallKind::Read, _) | (_, None) => Err(Error::Unavailable { group, reason }),
            (_, Some(reason)) => Err(Error::OutcomeUnknown { group, reason }),
        }
    }

    /// Tries each replica once, in the call's order, until one answers for good.
    async fn round(
        &self,
        pool: &ReplicaPool,
        call: &BackendCall,
        ctx: &RequestContext,
    ) -> RoundEnd {
        let group = pool.group();
        let targets = match call.targets {
            Targets::AnyReplica => pool.read_targets(),
            Targets::LeaderFirst => pool.leader_targets(),
        };
        let mut failure = RoundFailure::default();
        for replica in targets {
            let remaining = call.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let attempt = self.attempt(&replica, call, ctx, remaining.min(self.backend_timeout));
            let attempt = match call.targets {
                Targets::LeaderFirst => unless_superseded(pool, replica.id, attempt).await,
                Targets::AnyReplica => attempt.await,
            };
            count(group, &attempt);
            let replica_id = replica.id;
            match attempt {
                Attempt::Success(body) => {
                    replica.mark_healthy();
                    return RoundEnd::Answered(replica_id, body);
                }
                Attempt::Refused(error) => {
                    replica.mark_healthy();
                    return RoundEnd::Final(Error::Rejected {
                        group,
                        replica_id,
                        error,
                    });
                }
                Attempt::Garbled(reason) => {
                    return RoundEnd::Final(Error::BadAnswer {
                        group,
                        replica_id,
                        reason,
                    });
                }
                Attempt::NotTaken {
                    reason,
                    unreachable,
                } => {
                    if unreachable && replica.mark_down() {
                        tracing::warn!(group, replica_id, %reason, "replica unreachable; marked down");
                    }
                    failure.last = Some(reason);
                }
                Attempt::Unknown(reason) if call.kind == CallKind::Write => {
                    return RoundEnd::Final(Error::OutcomeUnknown { group, reason });
                }
                Attempt::Unknown(reason) => {
                    failure.maybe_applied = Some(reason.clone());
                    failure.last = Some(reason);
                }
            }
        }
        RoundEnd::NoneTook(failure)
    }

    /// Sends `call` to `replica` once, within `timeout`.
    async fn attempt(
        &self,
        replica: &PoolReplica,
        call: &BackendCall,
        ctx: &RequestContext,
        timeout: Duration,
    ) -> Attempt {
        let mut request = self
            .http
            .request(call.method.clone(), replica.url(&call.path_and_query))
            .bearer_auth(&self.cluster_token)
            .timeout(timeout);
        if let Some(request_id) = &ctx.request_id {
            request = request.header(X_REQUEST_ID, request_id.clone());
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let who = format!("replica {} ({})", replica.id, replica.addr);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                let reason = format!("{who}: cannot connect: {}", describe(&e));
                return Attempt::NotTaken {
                    reason,
                    unreachable: true,
                };
            }
            Err(e) => return Attempt::Unknown(format!("{who}: {}", describe(&e))),
        };
        ctx.timings.record(response.headers());
        ctx.read_index.record(response.headers());
        let status = response.status();
        match read_body(response).await {
            Ok(body) => classify(&who, status, body),
            Err(reason) => Attempt::Unknown(format!("{who}: {reason}")),
        }
    }
}

/// How one item of a batch that a replica answered with an error goes on.
#[derive(Debug)]
pub(crate) enum ItemEnd {
    /// Ends the item's call (a refusal about it).
    Final(Error),
    /// May go again, with its key: not taken (`no_leader`), or of unknown outcome.
    Again {
        /// What happened.
        reason: String,
        /// Whether it may have applied.
        maybe_applied: bool,
    },
}

/// Sorts `error`, which replica `replica_id` of `group` answered for one item of a batch, as
/// [`Backend::call`] sorts a whole answer.
pub(crate) fn sort_item_error(group: &'static str, replica_id: u64, error: ApiError) -> ItemEnd {
    let who = format!("replica {replica_id}");
    match sort_error(&who, error) {
        Attempt::Refused(error) => ItemEnd::Final(Error::Rejected {
            group,
            replica_id,
            error,
        }),
        Attempt::NotTaken { reason, .. } => ItemEnd::Again {
            reason,
            maybe_applied: false,
        },
        Attempt::Unknown(reason) => ItemEnd::Again {
            reason,
            maybe_applied: true,
        },
        Attempt::Success(_) | Attempt::Garbled(_) => {
            unreachable!("an error answer sorts as refused, not taken or unknown")
        }
    }
}

/// Runs `attempt` at replica `replica_id` unless, before it ends, the probes see another replica
/// lead in a higher term than when it began: a leader cut off from its group keeps a request
/// waiting (openraft 0.9 has no CheckQuorum), and its outcome is then unknown anyway, so the
/// call moves on (a buy to the new leader, with its key) instead of waiting out the timeout.
async fn unless_superseded(
    pool: &ReplicaPool,
    replica_id: u64,
    attempt: impl std::future::Future<Output = Attempt>,
) -> Attempt {
    let (_, term) = pool.leader_and_term();
    let superseded = async {
        loop {
            tokio::time::sleep(SUPERSEDED_CHECK).await;
            match pool.leader_and_term() {
                (Some(leader), now) if now > term && leader != replica_id => return (leader, now),
                _ => {}
            }
        }
    };
    tokio::select! {
        biased;
        attempt = attempt => attempt,
        (leader, now) = superseded => Attempt::Unknown(format!(
            "replica {replica_id}: replica {leader} leads in term {now} (was {term}); stopped waiting"
        )),
    }
}

fn decode<T: DeserializeOwned>(group: &'static str, replica_id: u64, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadAnswer {
        group,
        replica_id,
        reason: format!("undecodable body: {e}"),
    })
}
