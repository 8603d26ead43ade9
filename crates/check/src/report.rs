//! The checkers' verdicts: one [`CheckResult`] per named check, gathered in a [`CheckReport`].

use serde::{Deserialize, Serialize};

/// Most operation ids one check lists, so a broken history cannot make a report unbounded.
const REPORT_OPS_MAX: usize = 1_000;

/// Every check's verdict on one history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// One result per check, in the order they ran.
    pub checks: Vec<CheckResult>,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check name, e.g. `stock_linearizable`.
    pub name: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found: each violation, each reason the check could not decide, and on a pass
    /// a short account of what was checked.
    pub details: Vec<String>,
    /// Ids of the operations involved in the violations (at most 1000).
    pub ops: Vec<u64>,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Checked, and it holds.
    Passed,
    /// The check could not decide (a work limit was hit, or input was missing): never a pass.
    Inconclusive,
    /// Checked, and it is violated.
    Failed,
}

impl CheckReport {
    /// True only when every check passed (an inconclusive check is not a pass).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status == CheckStatus::Passed)
    }

    /// The worst verdict: failed over inconclusive over passed.
    pub fn status(&self) -> CheckStatus {
        let worst = self.checks.iter().map(|c| c.status).max();
        worst.unwrap_or(CheckStatus::Passed)
    }

    /// The result of the check called `name`.
    pub fn get(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl CheckResult {
    /// A passing result with nothing to say yet.
    pub(crate) fn new(name: &str) -> CheckResult {
        CheckResult {
            name: name.to_string(),
            status: CheckStatus::Passed,
            details: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// Records a violation involving `ops`.
    pub(crate) fn fail(&mut self, detail: String, ops: &[u64]) {
        self.status = CheckStatus::Failed;
        self.details.push(detail);
        for &id in ops {
            if self.ops.len() < REPORT_OPS_MAX && !self.ops.contains(&id) {
                self.ops.push(id);
            }
        }
    }

    /// Records why part of the check could not be decided (a failure still wins).
    pub(crate) fn undecided(&mut self, detail: String) {
        self.status = self.status.max(CheckStatus::Inconclusive);
        self.details.push(detail);
    }

    /// Records what was checked, for the report.
    pub(crate) fn note(&mut self, detail: String) {
        self.details.push(detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_beats_inconclusive_and_inconclusive_is_no_pass() {
        // Goal: a run whose checks could not all decide must not be reported as a pass.
        let mut undecided = CheckResult::new("a");
        undecided.undecided("limit hit".into());
        let report = CheckReport {
            checks: vec![CheckResult::new("b"), undecided.clone()],
        };
        assert!(!report.passed());
        assert_eq!(report.status(), CheckStatus::Inconclusive);
        undecided.fail("lost".into(), &[3, 3, 4]);
        undecided.undecided("again".into());
        assert_eq!(undecided.status, CheckStatus::Failed);
        assert_eq!(undecided.ops, vec![3, 4]);
        let json = serde_json::to_string(&undecided).unwrap();
        assert!(json.contains(r#""status":"failed""#));
    }
}
