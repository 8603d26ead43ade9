//! The group's membership as this replica knows it, and changes of it made as leader: a learner
//! added, learners promoted, members removed. Each change is checked against the group first
//! (the new replica answers as itself; enough voters would be left, and answering, to keep a
//! quorum) and runs in a task of its own, so that a caller that stops waiting never leaves it
//! half-way between openraft's joint and final configurations.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use api::{AddLearner, ApiError, ChangeVoters, ErrorCode, Member, MemberRole, MembershipView};
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};

use super::Replica;
use crate::admission::{Hello, HELLO_PATH};
use crate::machine::ServiceMachine;
use crate::types::ReplicaId;

/// Time a member gets to answer the health probe before a change.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A learner is promoted only when it is at most this many entries behind the leader's log.
pub const PROMOTE_LAG_MAX: u64 = 300;
/// The smallest group that survives the loss of one voter; fewer needs `force`.
const VOTERS_MIN: usize = 3;

impl<M: ServiceMachine> Replica<M> {
    /// The membership this replica knows, with each member's replicated position when it leads.
    pub fn membership(&self) -> MembershipView {
        let m = self.inner.raft.metrics().borrow().clone();
        let stored = &m.membership_config;
        let config = stored.membership();
        let voters: BTreeSet<ReplicaId> = config.voter_ids().collect();
        let matched: BTreeMap<ReplicaId, Option<u64>> = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        let leading = m.state == ServerState::Leader;
        let members = config
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                addr: node.addr.clone(),
                role: if voters.contains(id) {
                    MemberRole::Voter
                } else {
                    MemberRole::Learner
                },
                matched_index: if leading && *id == m.id {
                    m.last_log_index
                } else {
                    matched.get(id).copied().flatten()
                },
            })
            .collect();
        MembershipView {
            group: self.inner.spec.group.as_str().to_string(),
            answered_by: m.id,
            cluster_id: self.inner.spec.cluster_id.clone().unwrap_or_default(),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            config_index: stored.log_id().map_or(0, |l| l.index),
            changing: config.get_joint_config().len() > 1,
            members,
        }
    }

    /// Adds replica `req.id` at `req.addr` as a learner, once it answered there as that replica
    /// of this group. Leader only.
    ///
    /// # Errors
    /// `no_leader` (503) off the leader; `bad_request` (400) when nothing answers at the address
    /// as that replica; `conflict` (409) for an id or address already a member's, or while
    /// another change is in progress.
    pub async fn add_learner(&self, req: AddLearner) -> Result<MembershipView, ApiError> {
        let view = self.leader_view()?;
        if let Some(m) = view.member(req.id) {
            return Err(conflict(format!(
                "replica {} is already a {} of {} at {}; a new replica needs an id no member \
                 has (the next is {})",
                m.id,
                m.role.as_str(),
                view.group,
                m.addr,
                view.next_id()
            )));
        }
        if let Some(m) = view.members.iter().find(|m| m.addr == req.addr) {
            return Err(conflict(format!(
                "{} is the address of replica {}; remove it first, or give the new replica \
                 another address",
                req.addr, m.id
            )));
        }
        if req.id == 0 {
            return Err(ApiError::bad_request("replica ids start at 1"));
        }
        self.expect_answer(&req.addr, req.id).await?;
        let node = BasicNode {
            addr: req.addr.clone(),
        };
        self.run_change(ChangeMembers::AddNodes(BTreeMap::from([(req.id, node)])))
            .await?;
        tracing::info!(
            group = view.group,
            replica_id = req.id,
            addr = req.addr,
            "added a learner"
        );
        Ok(self.membership())
    }

    /// Promotes learners that caught up and removes members, in one change, once it is sure the
    /// group keeps a quorum that answers. Leader only.
    ///
    /// # Errors
    /// `no_leader` (503) off the leader; `bad_request` (400) for ids that are not members (or
    /// not learners, to promote) or an empty change; `conflict` (409) for a change that would
    /// leave fewer than 3 voters without `force`, or fewer answering voters than a quorum, a
    /// learner still catching up, or another change in progress.
    pub async fn change_voters(&self, req: ChangeVoters) -> Result<MembershipView, ApiError> {
        let view = self.leader_view()?;
        let plan = VoterPlan::of(&view, &req)?;
        let mut answering = 0;
        let mut silent = Vec::new();
        for id in &plan.voters {
            let member = view.member(*id).expect("planned voters are members");
            if *id == view.answered_by || self.answers(&member.addr, *id).await {
                answering += 1;
            } else {
                silent.push(*id);
            }
        }
        if answering * 2 <= plan.voters.len() {
            return Err(conflict(format!(
                "refused: {} would keep voters {:?}, of which {:?} do not answer; the group \
                 would lose its quorum. Bring them back, or replace them one at a time",
                view.group, plan.voters, silent
            )));
        }
        if plan.voters != view.voters().into_iter().collect::<BTreeSet<_>>() {
            self.run_change(ChangeMembers::ReplaceAllVoters(plan.voters.clone()))
                .await?;
        }
        if !plan.remove_learners.is_empty() {
            self.run_change(ChangeMembers::RemoveNodes(plan.remove_learners.clone()))
                .await?;
        }
        tracing::info!(group = view.group, voters = ?plan.voters, "changed the voters");
        Ok(self.membership())
    }

    /// This replica's view, if it leads; `no_leader` naming the leader otherwise.
    fn leader_view(&self) -> Result<MembershipView, ApiError> {
        let view = self.membership();
        if view.leader == Some(view.answered_by) {
            return Ok(view);
        }
        Err(ApiError::new(
            ErrorCode::NoLeader,
            match view.leader {
                Some(id) => format!("not the leader of {}: replica {id} is", view.group),
                None => format!("{} has no leader now; try again", view.group),
            },
        ))
    }

    /// Whether `addr` answers the greeting as replica `id` of this group, within the probe time.
    async fn answers(&self, addr: &str, id: ReplicaId) -> bool {
        self.expect_answer(addr, id).await.is_ok()
    }

    /// `Ok` once `addr` answered the greeting as replica `id` of this group.
    async fn expect_answer(&self, addr: &str, id: ReplicaId) -> Result<(), ApiError> {
        let group = self.inner.spec.group.as_str();
        let me = Hello {
            group: group.to_string(),
            replica_id: self.inner.spec.id,
        };
        match self
            .inner
            .peers
            .post::<_, Hello>(addr, HELLO_PATH, &me, PROBE_TIMEOUT)
            .await
        {
            Ok(hello) if hello.group == group && hello.replica_id == id => Ok(()),
            Ok(hello) => Err(ApiError::bad_request(format!(
                "{addr} answers as {} replica {}, not as {group} replica {id}",
                hello.group, hello.replica_id
            ))),
            Err(e) => Err(ApiError::bad_request(format!(
                "{group} replica {id} does not answer at {addr} ({e}); start it first with \
                 `pygmy serve {} --id {id} --addr {addr} --join`",
                if group == "catalog" {
                    "catalog"
                } else {
                    "order"
                }
            ))),
        }
    }

    /// Runs one openraft membership change to its end in a task of its own (openraft 0.9 makes
    /// the joint configuration final from the caller's future), within twice the write deadline.
    async fn run_change(
        &self,
        change: ChangeMembers<ReplicaId, BasicNode>,
    ) -> Result<(), ApiError> {
        let raft = self.inner.raft.clone();
        let wait = self.inner.spec.raft.write_timeout * 2;
        let task = tokio::spawn(async move { raft.change_membership(change, false).await });
        let answer = match tokio::time::timeout(wait, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(join)) => return Err(unknown(format!("the membership change failed: {join}"))),
            Err(_) => {
                return Err(unknown(format!(
                    "the membership change did not commit within {wait:?}"
                )))
            }
        };
        answer.map(drop).map_err(change_refused)
    }
}

/// The answer for an openraft membership change that failed: nothing changed when leadership
/// moved before it (503) or another change is in progress (409) or openraft refused it (400);
/// otherwise its outcome is unknown.
fn change_refused(e: ChangeError) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ApiError::new(
            ErrorCode::NoLeader,
            format!(
                "leadership moved during the change (to {:?}); nothing changed",
                f.leader_id
            ),
        ),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            e @ ChangeMembershipError::InProgress(_),
        )) => conflict(format!(
            "another membership change is in progress ({e}); wait for it and try again"
        )),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ApiError::bad_request(e.to_string())
        }
        e => unknown(e.to_string()),
    }
}

/// What openraft answers a failed membership change with.
type ChangeError = RaftError<ReplicaId, ClientWriteError<ReplicaId, BasicNode>>;

/// What a [`ChangeVoters`] asks, checked against the membership.
#[derive(Debug, PartialEq, Eq)]
struct VoterPlan {
    /// The voters after the change.
    voters: BTreeSet<ReplicaId>,
    /// Learners to drop.
    remove_learners: BTreeSet<ReplicaId>,
}

impl VoterPlan {
    fn of(view: &MembershipView, req: &ChangeVoters) -> Result<Self, ApiError> {
        if req.promote.is_empty() && req.remove.is_empty() {
            return Err(ApiError::bad_request("nothing to change"));
        }
        let mut voters: BTreeSet<ReplicaId> = view.voters().into_iter().collect();
        for id in &req.promote {
            let m = view.member(*id).ok_or_else(|| not_a_member(view, *id))?;
            if m.role == MemberRole::Voter {
                return Err(ApiError::bad_request(format!(
                    "replica {id} is already a voter"
                )));
            }
            let behind = m
                .matched_index
                .map_or(u64::MAX, |i| view.last_log_index.saturating_sub(i));
            if behind > PROMOTE_LAG_MAX {
                return Err(conflict(match m.matched_index {
                    Some(_) => format!(
                        "learner {id} is {behind} entries behind the leader; it is promoted \
                         once within {PROMOTE_LAG_MAX}"
                    ),
                    None => format!("learner {id} has not acknowledged any entry yet"),
                }));
            }
            voters.insert(*id);
        }
        let mut remove_learners = BTreeSet::new();
        for id in &req.remove {
            let m = view.member(*id).ok_or_else(|| not_a_member(view, *id))?;
            if req.promote.contains(id) {
                return Err(ApiError::bad_request(format!(
                    "replica {id} cannot be promoted and removed at once"
                )));
            }
            match m.role {
                MemberRole::Voter => voters.remove(id),
                MemberRole::Learner => remove_learners.insert(*id),
            };
        }
        if voters.is_empty() {
            return Err(conflict("refused: the group would have no voter left"));
        }
        if voters.len() < VOTERS_MIN && !req.force {
            return Err(conflict(format!(
                "refused: {} would keep {} voter(s) ({voters:?}); a group of fewer than \
                 {VOTERS_MIN} cannot lose one. Add a replica first (`pygmy member replace`), or \
                 force it",
                view.group,
                voters.len()
            )));
        }
        Ok(Self {
            voters,
            remove_learners,
        })
    }
}

fn not_a_member(view: &MembershipView, id: ReplicaId) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "{} has no member {id}; its members are {:?}",
            view.group,
            view.members.iter().map(|m| m.id).collect::<Vec<_>>()
        ),
    )
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Conflict, message)
}

fn unknown(message: String) -> ApiError {
    ApiError::new(
        ErrorCode::OutcomeUnknown,
        format!("{message}; `pygmy member list` shows whether it took effect"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(voters: &[u64], learners: &[(u64, u64)]) -> MembershipView {
        let mut members: Vec<Member> = voters
            .iter()
            .map(|id| Member {
                id: *id,
                addr: format!("127.0.0.1:{}", 9000 + id),
                role: MemberRole::Voter,
                matched_index: Some(1000),
            })
            .collect();
        members.extend(learners.iter().map(|(id, matched)| Member {
            id: *id,
            addr: format!("127.0.0.1:{}", 9000 + id),
            role: MemberRole::Learner,
            matched_index: Some(*matched),
        }));
        MembershipView {
            group: "catalog".into(),
            answered_by: voters[0],
            cluster_id: "c".into(),
            leader: Some(voters[0]),
            term: 2,
            last_log_index: 1000,
            config_index: 1,
            changing: false,
            members,
        }
    }

    fn change(promote: &[u64], remove: &[u64], force: bool) -> ChangeVoters {
        ChangeVoters {
            promote: promote.to_vec(),
            remove: remove.to_vec(),
            force,
        }
    }

    #[test]
    fn a_plan_keeps_three_voters_unless_forced() {
        // Goal: removing a voter of three is refused (409) without force and planned with it;
        // a replacement (promote 4, remove 3) keeps three.
        let v = view(&[1, 2, 3], &[(4, 990)]);
        let e = VoterPlan::of(&v, &change(&[], &[3], false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
        assert!(e.message.contains("fewer than 3"), "{}", e.message);
        let forced = VoterPlan::of(&v, &change(&[], &[3], true)).unwrap();
        assert_eq!(forced.voters, BTreeSet::from([1, 2]));
        let swap = VoterPlan::of(&v, &change(&[4], &[3], false)).unwrap();
        assert_eq!(swap.voters, BTreeSet::from([1, 2, 4]));
        assert!(swap.remove_learners.is_empty());
    }

    #[test]
    fn a_plan_refuses_strangers_laggards_and_nonsense() {
        // Goal: unknown ids are 404, a lagging learner 409, a promoted voter, an empty change
        // or promote-and-remove 400; a learner removed is dropped without touching the voters.
        let v = view(&[1, 2, 3], &[(4, 10), (5, 1000)]);
        let code = |c: ChangeVoters| VoterPlan::of(&v, &c).unwrap_err().code;
        assert_eq!(code(change(&[9], &[], false)), ErrorCode::NotFound);
        assert_eq!(code(change(&[], &[9], false)), ErrorCode::NotFound);
        assert_eq!(code(change(&[4], &[], false)), ErrorCode::Conflict);
        assert_eq!(code(change(&[2], &[], false)), ErrorCode::BadRequest);
        assert_eq!(code(change(&[], &[], false)), ErrorCode::BadRequest);
        assert_eq!(code(change(&[5], &[5], false)), ErrorCode::BadRequest);
        assert_eq!(code(change(&[], &[1, 2, 3], true)), ErrorCode::Conflict);
        let drop = VoterPlan::of(&v, &change(&[], &[4], false)).unwrap();
        assert_eq!(drop.voters, BTreeSet::from([1, 2, 3]));
        assert_eq!(drop.remove_learners, BTreeSet::from([4]));
        assert_eq!(v.next_id(), 6);
    }

    #[test]
    fn openraft_refusals_say_nothing_changed_and_why() {
        // Goal: a second change while one is in progress is a 409 naming it, a change that
        // lost the leader a 503, any other refusal of openraft a 400; a fatal error leaves the
        // outcome unknown.
        use openraft::error::{Fatal, ForwardToLeader, InProgress, LearnerNotFound};
        let api =
            |e: ClientWriteError<ReplicaId, BasicNode>| change_refused(RaftError::APIError(e));
        let busy = api(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(InProgress {
                committed: None,
                membership_log_id: None,
            }),
        ));
        assert_eq!(busy.code, ErrorCode::Conflict);
        assert!(busy.message.contains("in progress"), "{}", busy.message);
        let moved = api(ClientWriteError::ForwardToLeader(ForwardToLeader::empty()));
        assert_eq!(moved.code, ErrorCode::NoLeader);
        let stranger = api(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::LearnerNotFound(LearnerNotFound { node_id: 9 }),
        ));
        assert_eq!(stranger.code, ErrorCode::BadRequest);
        let fatal = change_refused(RaftError::Fatal(Fatal::Stopped));
        assert_eq!(fatal.code, ErrorCode::OutcomeUnknown);
    }
}
