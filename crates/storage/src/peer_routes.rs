//! Inbound peer routes: Raft RPC, forwarded writes, read index, the start-up greeting; all
//! behind the cluster token, and the Raft ones behind the cluster id too.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use std::sync::Arc;

use api::membership::{ADD_LEARNER_PATH, CHANGE_VOTERS_PATH, MEMBERS_PATH};
use api::{AddLearner, ApiError, ChangeVoters, ErrorCode, MembershipView};
use runtime::auth::require_token;

use crate::admission::{Hello, HELLO_PATH};
use crate::backup::{BACKUP_PATH, SNAPSHOT_HEAD_HEADER};
use crate::identity::CLUSTER_ID_HEADER;
use crate::machine::ServiceMachine;
use crate::replica::{LeaderReply, Replica, Written, SNAPSHOT_CHUNK_BYTES_MAX};
use crate::snapshot::decode_chunk;
use crate::types::{GroupTypes, ReplicaId};

/// Where a follower asks the leader for a read index (`replica::read_rounds`).
pub(crate) const READ_INDEX_PATH: &str = "/raft/read-index";

/// Largest peer request body: room for a snapshot chunk and for a full AppendEntries batch.
const PEER_BODY_BYTES_MAX: usize = 8 * SNAPSHOT_CHUNK_BYTES_MAX as usize;

/// The routes every replica serves whatever its service: token-protected Raft RPC, forwarded
/// writes, read index and greeting (also refused from another cluster), `/status` and the
/// membership (its view, and changes of it, which `pygmy member` makes at the leader) and a
/// backup's snapshot; public
/// `/health` and `/metrics`.
pub fn peer_router<M: ServiceMachine>(replica: Replica<M>) -> Router {
    let token: Arc<str> = replica.spec().cluster_token.as_str().into();
    let cluster_id: Arc<str> = replica
        .spec()
        .cluster_id
        .as_deref()
        .expect("a started replica knows its cluster id")
        .into();
    let raft = Router::new()
        .route("/raft/append", post(append::<M>))
        .route("/raft/vote", post(vote::<M>))
        .route("/raft/snapshot", post(snapshot::<M>))
        .route("/raft/write", post(write::<M>))
        .route(READ_INDEX_PATH, post(read_index::<M>))
        .route(HELLO_PATH, post(hello::<M>))
        .route_layer(middleware::from_fn_with_state(cluster_id, require_cluster));
    Router::new()
        .route("/status", get(status::<M>))
        .route(MEMBERS_PATH, get(members::<M>))
        .route(ADD_LEARNER_PATH, post(add_learner::<M>))
        .route(CHANGE_VOTERS_PATH, post(change_voters::<M>))
        .route(BACKUP_PATH, post(backup::<M>))
        .merge(raft)
        .layer(DefaultBodyLimit::max(PEER_BODY_BYTES_MAX))
        .route_layer(middleware::from_fn_with_state(token, require_token))
        .route("/health", get(health::<M>))
        .route("/ready", get(ready::<M>))
        .route("/metrics", get(runtime::telemetry::render_metrics))
        .with_state(replica)
}

async fn status<M: ServiceMachine>(State(replica): State<Replica<M>>) -> Json<api::ReplicaStatus> {
    Json(replica.status())
}

async fn members<M: ServiceMachine>(State(replica): State<Replica<M>>) -> Json<MembershipView> {
    Json(replica.membership())
}

async fn add_learner<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(req): Json<AddLearner>,
) -> Result<Json<MembershipView>, ApiError> {
    replica.add_learner(req).await.map(Json)
}

async fn change_voters<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(req): Json<ChangeVoters>,
) -> Result<Json<MembershipView>, ApiError> {
    replica.change_voters(req).await.map(Json)
}

/// The current snapshot, once it holds every acknowledged write: its image as the body, what it
/// holds in [`SNAPSHOT_HEAD_HEADER`].
async fn backup<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
) -> Result<Response, ApiError> {
    let (head, file, bytes) = replica.snapshot_for_backup().await?;
    let head = serde_json::to_string(&head).expect("a snapshot head serializes");
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (SNAPSHOT_HEAD_HEADER, head),
            (
                axum::http::header::CONTENT_LENGTH.as_str(),
                bytes.to_string(),
            ),
            (
                axum::http::header::CONTENT_TYPE.as_str(),
                "application/octet-stream".to_string(),
            ),
        ],
        body,
    )
        .into_response())
}

async fn health<M: ServiceMachine>(State(replica): State<Replica<M>>) -> Json<serde_json::Value> {
    let spec = replica.spec();
    Json(serde_json::json!({"status": "ok", "group": spec.group.as_str(), "id": spec.id}))
}

/// Ready once this replica knows a leader and has applied everything it knows committed.
async fn ready<M: ServiceMachine>(State(replica): State<Replica<M>>) -> api::Readiness {
    let spec = replica.spec();
    let service = format!("{}-{}", spec.group.as_str(), spec.id);
    api::Readiness::of(service, replica.unready_reasons())
}

/// Middleware: 403 `wrong_cluster` unless the request carries this replica's cluster id in
/// [`CLUSTER_ID_HEADER`]: a replica of another cluster (another cluster's directory run with
/// this cluster's addresses and token) must not vote, append or be voted for here.
async fn require_cluster(State(own): State<Arc<str>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(CLUSTER_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let message = match presented {
        Some(id) if id == &*own => return next.run(req).await,
        Some(id) => format!(
            "this replica belongs to cluster {own}, the request comes from cluster {id}: a \
             replica directory of another cluster runs with this cluster's addresses"
        ),
        None => format!("peer requests must carry the {CLUSTER_ID_HEADER} header"),
    };
    // Debug only: Raft retries every heartbeat, and the refused sender logs it loudly.
    tracing::debug!(presented, "refused a peer request from another cluster");
    ApiError::new(ErrorCode::WrongCluster, message).into_response()
}

async fn append<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(req): Json<AppendEntriesRequest<GroupTypes<M>>>,
) -> Json<Result<AppendEntriesResponse<ReplicaId>, RaftError<ReplicaId>>> {
    let answer = replica.raft().append_entries(req).await;
    // Noted before the answer leaves: an acknowledgement a leader can count (for a lease) is
    // always noted, even if this future is dropped right after openraft handled the request.
    replica.heard_from_leader();
    Json(answer)
}

async fn vote<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(req): Json<VoteRequest<ReplicaId>>,
) -> Json<Result<VoteResponse<ReplicaId>, RaftError<ReplicaId>>> {
    if let Some(refusal) = replica.refuse_vote(&req) {
        return Json(Ok(refusal));
    }
    Json(replica.raft().vote(req).await)
}

/// A snapshot chunk, in `snapshot::chunk`'s encoding (its bytes as they are, not JSON).
async fn snapshot<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    body: Bytes,
) -> Result<
    Json<Result<InstallSnapshotResponse<ReplicaId>, RaftError<ReplicaId, InstallSnapshotError>>>,
    ApiError,
> {
    let req = decode_chunk::<M>(&body).map_err(ApiError::bad_request)?;
    let answer = replica.raft().install_snapshot(req).await;
    replica.heard_from_leader();
    Ok(Json(answer))
}

async fn write<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(command): Json<M::Command>,
) -> Json<LeaderReply<Written<M::Response>>> {
    let wait = replica.spec().raft.write_timeout;
    Json(replica.write_as_leader(command, wait).await)
}

async fn read_index<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
) -> Json<LeaderReply<u64>> {
    let wait = replica.spec().raft.read_timeout;
    Json(replica.read_index_as_leader(wait).await)
}

/// The start-up greeting: answers who this replica is (the middleware already checked the
/// caller's token and cluster id).
async fn hello<M: ServiceMachine>(
    State(replica): State<Replica<M>>,
    Json(caller): Json<Hello>,
) -> Json<Hello> {
    let spec = replica.spec();
    tracing::debug!(
        group = caller.group,
        replica_id = caller.replica_id,
        "greeted"
    );
    Json(Hello {
        group: spec.group.as_str().to_string(),
        replica_id: spec.id,
    })
}
