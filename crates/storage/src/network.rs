//! Outbound peer RPC: one shared reqwest client for Raft traffic and leader forwarding.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::identity::CLUSTER_ID_HEADER;
use crate::machine::ServiceMachine;
use crate::snapshot::{encode_chunk, CHUNK_CONTENT_TYPE};
use crate::types::{GroupTypes, ReplicaId};
use runtime::throttle::LogThrottle;

/// Least time between two logged refusals by peers, in ms (each logs how many were left out).
const REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;
/// Least time between two logged Raft calls a peer did not answer, per peer, in ms.
const SILENCE_LOG_INTERVAL_MS: u64 = 10_000;

/// How a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerCallError {
    /// The connection could not be made: the request was never delivered.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Peer address.
        addr: String,
        /// Transport's description.
        reason: String,
    },
    /// The request may have been delivered, but no usable answer came back.
    #[error("call to {addr}{path} failed: {reason}")]
    Failed {
        /// Peer address.
        addr: String,
        /// Route.
        path: String,
        /// The HTTP status of the answer, if one came (401: the peer rejected the cluster
        /// token; 403: it belongs to another cluster).
        status: Option<u16>,
        /// What went wrong (timeout, status, body).
        reason: String,
    },
}

/// HTTP client for peer routes: shared connection pool, cluster token and cluster id on every
/// call.
#[derive(Clone, Debug)]
pub struct PeerClient {
    http: reqwest::Client,
    token: Arc<str>,
    cluster_id: Arc<str>,
    /// Refusals by peers (wrong token or cluster) are logged loudly, but Raft retries every
    /// heartbeat: one line per [`REFUSAL_LOG_INTERVAL_MS`].
    refusals: Arc<LogThrottle>,
}

impl PeerClient {
    /// A client that authenticates with `token` and speaks for cluster `cluster_id`.
    pub fn new(token: &str, cluster_id: &str) -> Self {
        let http = runtime::internal_http::client_builder()
            .build()
            .expect("reqwest client builds with static settings");
        Self {
            http,
            token: token.into(),
            cluster_id: cluster_id.into(),
            refusals: Arc::new(LogThrottle::every_ms(REFUSAL_LOG_INTERVAL_MS)),
        }
    }

    /// POSTs `body` as JSON to `http://{addr}{path}` and decodes the JSON answer, within `timeout`.
    ///
    /// # Errors
    /// [`PeerCallError::Connect`] when nothing was delivered, [`PeerCallError::Failed`] otherwise.
    pub async fn post<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerCallError> {
        let body = serde_json::to_vec(body).map_err(|e| PeerCallError::Failed {
            addr: addr.to_string(),
            path: path.to_string(),
            status: None,
            reason: format!("the request does not serialize: {e}"),
        })?;
        self.post_body(addr, path, ("application/json", body), timeout)
            .await
    }

    /// POSTs `body` (its content type and bytes) to `http://{addr}{path}` and decodes the JSON
    /// answer, within `timeout`.
    ///
    /// # Errors
    /// As [`PeerClient::post`].
    pub async fn post_body<Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        (content_type, body): (&str, Vec<u8>),
        timeout: Duration,
    ) -> Result<Resp, PeerCallError> {
        let request = self
            .http
            .post(format!("http://{addr}{path}"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.send(addr, path, request, timeout).await
    }

    /// GETs `http://{addr}{path}` and decodes the JSON answer, within `timeout`.
    ///
    /// # Errors
    /// As [`PeerClient::post`].
    pub async fn get<Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<Resp, PeerCallError> {
        let request = self.http.get(format!("http://{addr}{path}"));
        self.send(addr, path, request, timeout).await
    }

    /// Sends `request` with the token and cluster id and decodes its JSON answer.
    async fn send<Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Resp, PeerCallError> {
        let failed = |status: Option<u16>, reason: String| PeerCallError::Failed {
            addr: addr.to_string(),
            path: path.to_string(),
            status,
            reason,
        };
        let sent = request
            .bearer_auth(&self.token)
            .header(CLUSTER_ID_HEADER, &*self.cluster_id)
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(PeerCallError::Connect {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(e) => return Err(failed(None, e.to_string())),
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            if matches!(status.as_u16(), 401 | 403) {
                if let Some(left_out) = self.refusals.admit() {
                    tracing::error!(
                        peer = addr,
                        path,
                        answer = text,
                        refusals_not_logged = left_out,
                        "a peer refused this replica: their cluster tokens or cluster ids \
                         differ; fix the configuration of one of them"
                    );
                }
            }
            return Err(failed(
                Some(status.as_u16()),
                format!("status {status}: {text}"),
            ));
        }
        response
            .json()
            .await
            .map_err(|e| failed(Some(status.as_u16()), e.to_string()))
    }
}

/// openraft's network factory: one [`PeerLink`] per target replica, all sharing one client.
pub struct PeerNetwork<M> {
    client: PeerClient,
    /// Per target: one logged line per interval for the calls it did not answer, shared by
    /// every link openraft makes to it (one per replication stream, election and read).
    silences: HashMap<ReplicaId, Arc<LogThrottle>>,
    _machine: PhantomData<fn() -> M>,
}

impl<M> PeerNetwork<M> {
    /// The factory over `client`.
    pub fn new(client: PeerClient) -> Self {
        Self {
            client,
            silences: HashMap::new(),
            _machine: PhantomData,
        }
    }
}

impl<M: ServiceMachine> RaftNetworkFactory<GroupTypes<M>> for PeerNetwork<M> {
    type Network = PeerLink<M>;

    // Connects lazily: the pool opens connections on first use.
    async fn new_client(&mut self, target: ReplicaId, node: &BasicNode) -> PeerLink<M> {
        let silence = self
            .silences
            .entry(target)
            .or_insert_with(|| Arc::new(LogThrottle::every_ms(SILENCE_LOG_INTERVAL_MS)));
        PeerLink {
            client: self.client.clone(),
            target,
            addr: node.addr.clone(),
            silence: Arc::clone(silence),
            _machine: PhantomData,
        }
    }
}

/// The Raft RPC channel to one peer.
pub struct PeerLink<M> {
    client: PeerClient,
    target: ReplicaId,
    addr: String,
    /// Throttles the line logged for a call the peer did not answer.
    silence: Arc<LogThrottle>,
    _machine: PhantomData<fn() -> M>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<ReplicaId, BasicNode, RaftError<ReplicaId, E>>>;

impl<M> PeerLink<M> {
    /// Logs a call the peer did not answer (not connected, timed out, cut off), at most once per
    /// [`SILENCE_LOG_INTERVAL_MS`] for this peer: openraft retries every heartbeat, and logs
    /// such failures only at DEBUG (`vendor/openraft/PATCHED.md`). A peer's refusal (an HTTP
    /// status) is logged by [`PeerClient`].
    fn log_silence(&self, path: &str, error: &PeerCallError) {
        let silent = matches!(
            error,
            PeerCallError::Connect { .. } | PeerCallError::Failed { status: None, .. }
        );
        if !silent {
            return;
        }
        if let Some(not_logged) = self.silence.admit() {
            tracing::warn!(
                peer = self.target,
                path,
                %error,
                failures_not_logged = not_logged,
                "a peer did not answer a Raft call (down, paused or cut off?)"
            );
        }
    }

    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).expect("Raft messages serialize");
        self.call_body(path, ("application/json", body), option)
            .await
    }

    async fn call_body<Resp, E>(
        &self,
        path: &str,
        body: (&str, Vec<u8>),
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let reply: Result<Resp, RaftError<ReplicaId, E>> = self
            .client
            .post_body(&self.addr, path, body, option.hard_ttl())
            .await
            .inspect_err(|e| self.log_silence(path, e))
            .map_err(|e| match e {
                // Unreachable makes openraft back off before the next try; a peer that refused
                // the token or cluster id will refuse again, so it is backed off from too.
                PeerCallError::Connect { .. }
                | PeerCallError::Failed {
                    status: Some(401 | 403),
                    ..
                } => RPCError::Unreachable(Unreachable::new(&e)),
                PeerCallError::Failed { .. } => RPCError::Network(NetworkError::new(&e)),
            })?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl<M: ServiceMachine> RaftNetwork<GroupTypes<M>> for PeerLink<M> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<GroupTypes<M>>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<ReplicaId>> {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<GroupTypes<M>>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<ReplicaId>, InstallSnapshotError> {
        let body = (CHUNK_CONTENT_TYPE, encode_chunk::<M>(rpc));
        self.call_body("/raft/snapshot", body, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<ReplicaId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<ReplicaId>> {
        self.call("/raft/vote", &rpc, &option).await
    }
}
