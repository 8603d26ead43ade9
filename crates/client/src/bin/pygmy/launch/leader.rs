//! Which replica of a group leads, asked of the replicas themselves (`/status`, with the
//! cluster token): readiness waits for an answer, and the nemesis aims at it.

use api::{ReplicaRole, ReplicaStatus};

/// The id of a replica of `replicas` that reports itself leader, if any answers so.
pub(crate) async fn group_leader(
    http: &reqwest::Client,
    token: &str,
    replicas: &[String],
) -> Option<u64> {
    for addr in replicas {
        let request = http.get(format!("http://{addr}/status")).bearer_auth(token);
        let Ok(response) = request.send().await else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        if let Ok(status) = response.json::<ReplicaStatus>().await {
            if status.role == ReplicaRole::Leader {
                return Some(status.id);
            }
        }
    }
    None
}
