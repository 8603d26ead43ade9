//! Single requests to one replica, outside the retry rounds: the probe's `/status`, the
//! membership view the pools follow, the cache lease. Each is sent once within the caller's
//! timeout; a failure comes back as a reason, for the caller to act on or log.

use std::time::Duration;

use api::membership::MEMBERS_PATH;
use api::{MembershipView, ReplicaStatus};
use serde::de::DeserializeOwned;

use super::answer::{describe, read_body};
use super::Backend;
use crate::pool::PoolReplica;

impl Backend {
    /// `POST path` of `replica` with `body` as JSON, once, within `timeout`; the 2xx answer.
    ///
    /// # Errors
    /// Why no 2xx answer of type `T` came.
    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        replica: &PoolReplica,
        path: &str,
        body: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<T, String> {
        let response = self
            .http
            .post(replica.url(path))
            .bearer_auth(&self.cluster_token)
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        let body = read_body(response).await?;
        if !status.is_success() {
            return Err(format!(
                "POST {path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("POST {path} body: {e}"))
    }

    /// `GET /status` of `replica` within `timeout` (the probe).
    ///
    /// # Errors
    /// Why no status was learned.
    pub(crate) async fn fetch_status(
        &self,
        replica: &PoolReplica,
        timeout: Duration,
    ) -> Result<ReplicaStatus, String> {
        self.get_json(&replica.url("/status"), "/status", timeout)
            .await
    }

    /// `GET /raft/members` of the replica at `addr` (`host:port`, which may be a member the
    /// pool does not hold yet) within `timeout`: its view of its group's membership.
    ///
    /// # Errors
    /// Why no view was learned.
    pub(crate) async fn fetch_membership(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<MembershipView, String> {
        let url = format!("http://{addr}{MEMBERS_PATH}");
        self.get_json(&url, MEMBERS_PATH, timeout).await
    }

    /// `GET url` (whose path is `path`) with the cluster token, within `timeout`; the 2xx answer.
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.cluster_token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {path} answered {status}"));
        }
        let body = read_body(response).await?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {path} body: {e}"))
    }
}
