//! A group's membership as its replicas report it, and the changes `pygmy member` asks of its
//! leader. The membership lives in the Raft log: these are views of it, never its source.

use serde::{Deserialize, Serialize};

/// Route of a replica's view of its group's membership (`GET`).
pub const MEMBERS_PATH: &str = "/raft/members";
/// Route that adds a learner (`POST` [`AddLearner`], leader only).
pub const ADD_LEARNER_PATH: &str = "/raft/members/learner";
/// Route that changes the voters (`POST` [`ChangeVoters`], leader only).
pub const CHANGE_VOTERS_PATH: &str = "/raft/members/voters";

/// What a member is in its group's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Counts in elections and commits.
    Voter,
    /// Receives the log, counts for nothing: a new replica catching up.
    Learner,
}

impl MemberRole {
    /// `voter` or `learner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voter => "voter",
            Self::Learner => "learner",
        }
    }
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Replica id; never reused within a group.
    pub id: u64,
    /// `host:port` its peers reach it at.
    pub addr: String,
    /// Voter or learner.
    pub role: MemberRole,
    /// The last log index the leader knows it holds (`None` when this view is not the
    /// leader's, or the leader has not heard from it yet).
    pub matched_index: Option<u64>,
}

/// Body of `GET /raft/members`: the membership one replica knows, with the leader's replication
/// positions when that replica leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// Group name.
    pub group: String,
    /// The replica that answered.
    pub answered_by: u64,
    /// The id of the cluster it belongs to (a joining replica adopts it).
    pub cluster_id: String,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its current term.
    pub term: u64,
    /// The index of its last log entry.
    pub last_log_index: u64,
    /// The log index of the membership entry in effect.
    pub config_index: u64,
    /// A change is half-way (a joint configuration of old and new voters is in effect).
    pub changing: bool,
    /// Every member, voters and learners, in id order.
    pub members: Vec<Member>,
}

impl MembershipView {
    /// The member `id`, if it is one.
    pub fn member(&self, id: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The voters' ids.
    pub fn voters(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| m.role == MemberRole::Voter)
            .map(|m| m.id)
            .collect()
    }

    /// The smallest id no member has: the default id of a new replica. Ids of removed replicas
    /// above every current one may come back; `pygmy member add --id` picks another.
    pub fn next_id(&self) -> u64 {
        self.members.iter().map(|m| m.id).max().unwrap_or(0) + 1
    }
}

/// Body of `POST /raft/members/learner`: add replica `id` at `addr` as a learner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddLearner {
    /// Its id: not a member's.
    pub id: u64,
    /// `host:port` it serves on; it must answer as replica `id` of the group.
    pub addr: String,
}

/// Body of `POST /raft/members/voters`: make learners voters, or remove members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeVoters {
    /// Learners to make voters.
    #[serde(default)]
    pub promote: Vec<u64>,
    /// Members (voters or learners) to remove from the group.
    #[serde(default)]
    pub remove: Vec<u64>,
    /// Allow a group of fewer than 3 voters.
    #[serde(default)]
    pub force: bool,
}
