//! A group's replicas, reached with the cluster token: the leader's membership view, changes
//! asked of the leader (following it when it moves), and plain GETs. `pygmy member` and
//! `pygmy backup` use it.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use api::membership::MEMBERS_PATH;
use api::{ApiError, ErrorBody, ErrorCode, MembershipView};
use runtime::{Cluster, GroupName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

/// Time one replica gets to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Time a membership change gets (the leader gives it twice the write deadline).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a group may be without a leader before a command gives up.
const LEADER_WAIT: Duration = Duration::from_secs(15);
/// Pause between two looks for the leader.
const LEADER_POLL: Duration = Duration::from_millis(250);

/// A refusal by the group, with the JSON error it answered: nothing changed (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{group}: {}", .error.message)]
struct Refused {
    /// The group.
    group: &'static str,
    /// What the leader answered.
    error: ApiError,
}

/// The replicas of one group, reached with the cluster token.
pub(crate) struct GroupClient {
    group: GroupName,
    http: reqwest::Client,
    token: String,
    /// Every address a member was ever seen at (configured first), for finding the group.
    known: Vec<String>,
    /// The highest id new replicas must stay above: the configured replicas' and those of the
    /// replica directories in the data directory (a removed replica's retired one included).
    taken: u64,
}

impl GroupClient {
    /// The client of `group` in `cluster`.
    ///
    /// # Errors
    /// No cluster token is set.
    pub(crate) fn new(cluster: &Cluster, group: GroupName) -> Result<Self> {
        if cluster.cluster_token.is_empty() {
            bail!(
                "no cluster token: run from the directory `pygmy up` used (it writes \
                 <data_dir>/tokens.toml), or give --data, --config or PYGMY_CLUSTER_TOKEN"
            );
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            group,
            http,
            token: cluster.cluster_token.clone(),
            known: cluster.replicas(group).to_vec(),
            taken: highest_dir_id(&cluster.data_dir, group)
                .max(cluster.replicas(group).len() as u64),
        })
    }

    /// Adds `addrs` to the addresses asked when looking for the group (a caller that knows
    /// members the configuration does not list, such as chaos's replacements).
    pub(crate) fn knowing(mut self, addrs: impl IntoIterator<Item = String>) -> Self {
        for addr in addrs {
            if !self.known.contains(&addr) {
                self.known.push(addr);
            }
        }
        self
    }

    /// `catalog` or `orders`.
    pub(crate) fn name(&self) -> &'static str {
        self.group.as_str()
    }

    /// The id a new replica gets by default: after every member's, every configured one's and
    /// every replica directory's here, so that a removed replica's id is not given again.
    pub(crate) fn next_id(&self, view: &MembershipView) -> u64 {
        view.next_id().max(self.taken + 1)
    }

    /// The membership as the leader sees it (with each member's replicated position), waiting
    /// up to [`LEADER_WAIT`] for the group to have one.
    ///
    /// # Errors
    /// No replica answers, or none leads within the wait.
    pub(crate) async fn leader_view(&mut self) -> Result<MembershipView> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let (views, silent) = self.views().await;
            let leader = views
                .iter()
                .find(|v| v.leader == Some(v.answered_by))
                .cloned();
            if let Some(view) = leader {
                return Ok(view);
            }
            if Instant::now() >= deadline {
                if views.is_empty() {
                    bail!(
                        "no {} replica answers (tried {}); is the cluster running, and are \
                         these its addresses?",
                        self.name(),
                        silent.join(", ")
                    );
                }
                bail!(
                    "{} has no leader after {LEADER_WAIT:?} ({} of its replicas answer)",
                    self.name(),
                    views.len()
                );
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }

    /// Every view that answers (learning the members' addresses), and the addresses that did not.
    async fn views(&mut self) -> (Vec<MembershipView>, Vec<String>) {
        let this = &*self;
        let calls = this.known.iter().map(|addr| async move {
            let view = this.get::<MembershipView>(addr, MEMBERS_PATH).await;
            (addr.clone(), view)
        });
        let mut views = Vec::new();
        let mut silent = Vec::new();
        for (addr, view) in futures::future::join_all(calls).await {
            match view {
                Ok(v) if v.group == self.name() => views.push(v),
                _ => silent.push(addr),
            }
        }
        let seen: BTreeSet<String> = views
            .iter()
            .flat_map(|v| v.members.iter().map(|m| m.addr.clone()))
            .collect();
        for addr in seen {
            if !self.known.contains(&addr) {
                self.known.push(addr);
            }
        }
        (views, silent)
    }

    /// POSTs `body` to the leader's `path`, finding the leader again while the group answers
    /// that another replica leads (nothing was changed then).
    ///
    /// # Errors
    /// [`Refused`] when the leader refuses the change; no leader within the wait; a transport
    /// failure (the change may or may not have been made: `pygmy member list` tells).
    pub(crate) async fn change<B: Serialize>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<MembershipView> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let (leader, _) = self.leader().await?;
            match self.post(&leader, path, body).await? {
                Ok(view) => return Ok(view),
                Err(e) if e.code == ErrorCode::NoLeader && Instant::now() < deadline => {
                    tokio::time::sleep(LEADER_POLL).await;
                }
                Err(error) => {
                    return Err(Refused {
                        group: self.name(),
                        error,
                    }
                    .into())
                }
            }
        }
    }

    /// The leader's address and its membership view.
    ///
    /// # Errors
    /// As [`GroupClient::leader_view`].
    pub(crate) async fn leader(&mut self) -> Result<(String, MembershipView)> {
        let view = self.leader_view().await?;
        let addr = view
            .member(view.answered_by)
            .map(|m| m.addr.clone())
            .ok_or_else(|| anyhow!("the leader is not among its own members"))?;
        Ok((addr, view))
    }

    /// POSTs an empty body to `path` of `addr` with the token, waiting up to `timeout`: the
    /// answer as it comes, for a caller that reads a large body itself.
    ///
    /// # Errors
    /// No answer, or an error status (its JSON error's message when it has one).
    pub(crate) async fn post_for_body(
        &self,
        addr: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response> {
        let response = self
            .http
            .post(format!("http://{addr}{path}"))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .with_context(|| format!("POST {addr}{path}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => bail!("{addr}{path} answered {status}: {}", body.error.message),
            Err(_) => bail!("{addr}{path} answered {status}: {text}"),
        }
    }

    /// GET `path` of `addr`, decoded.
    pub(crate) async fn get<T: DeserializeOwned>(&self, addr: &str, path: &str) -> Result<T> {
        let response = self
            .http
            .get(format!("http://{addr}{path}"))
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("GET {addr}{path}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{addr}{path} answered {status}");
        }
        response
            .json()
            .await
            .with_context(|| format!("the answer of {addr}{path}"))
    }

    /// POST `body` to `path` of `addr`: the decoded answer, or the group's JSON error.
    async fn post<B: Serialize>(
        &self,
        addr: &str,
        path: &str,
        body: &B,
    ) -> Result<std::result::Result<MembershipView, ApiError>> {
        let response = self
            .http
            .post(format!("http://{addr}{path}"))
            .bearer_auth(&self.token)
            .json(body)
            .timeout(CHANGE_TIMEOUT)
            .send()
            .await
            .with_context(|| {
                format!(
                    "POST {addr}{path}: the change may or may not have been made; `pygmy \
                     member list` shows it"
                )
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(Ok(serde_json::from_str(&text)
                .with_context(|| format!("the answer of {addr}{path}"))?));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Ok(Err(ApiError::new(body.error.code, body.error.message))),
            Err(_) => bail!("{addr}{path} answered {status}: {text}"),
        }
    }
}

/// The highest id of a `<group>-<id>` replica directory in `data_dir` (0: none).
fn highest_dir_id(data_dir: &std::path::Path, group: GroupName) -> u64 {
    let prefix = format!("{}-", group.as_str());
    std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            name.to_str()?.strip_prefix(&prefix)?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_directory_keeps_its_id_from_new_replicas() {
        // Goal: ids of replica directories in the data directory (a removed replica's) are
        // never the default id of a new one; other groups' and other files are not counted.
        let data = tempfile::tempdir().unwrap();
        for name in ["catalog-1", "catalog-7", "orders-9", "catalog-x", "logs"] {
            std::fs::create_dir(data.path().join(name)).unwrap();
        }
        assert_eq!(highest_dir_id(data.path(), GroupName::Catalog), 7);
        assert_eq!(highest_dir_id(data.path(), GroupName::Orders), 9);
        assert_eq!(
            highest_dir_id(&data.path().join("absent"), GroupName::Orders),
            0
        );
    }
}
