//! Checks on the replicas themselves: `replicas_identical` (state digests agree) and
//! `no_panics` (no panic in their logs).

use std::collections::BTreeMap;

use crate::input::Digest;
use crate::report::CheckResult;

/// Most panic lines quoted in a report; the rest are counted.
const PANIC_LINES_QUOTED_MAX: usize = 20;

/// Replicas of one group that applied the same log prefix hold the same state digest; a
/// replica that no other replica of its group can be compared with leaves the check undecided.
pub(crate) fn replicas_identical(digests: &[Digest]) -> CheckResult {
    let mut result = CheckResult::new("replicas_identical");
    if digests.is_empty() {
        result.undecided("no state digest was collected".to_string());
        return result;
    }
    let mut at: BTreeMap<(&str, u64), Vec<(u64, &str)>> = BTreeMap::new();
    for (group, replica, last_applied, digest) in digests {
        at.entry((group.as_str(), *last_applied))
            .or_default()
            .push((*replica, digest.as_str()));
    }
    let mut compared = 0;
    for ((group, last_applied), held) in &at {
        if held.len() < 2 {
            let replica = held[0].0;
            result.undecided(format!(
                "group {group}: replica {replica} is alone at last_applied {last_applied}, \
                 compared with no other replica"
            ));
            continue;
        }
        compared += 1;
        if held.iter().any(|(_, d)| *d != held[0].1) {
            result.fail(
                format!("group {group}: replicas differ at last_applied {last_applied}: {held:?}"),
                &[],
            );
        }
    }
    result.note(format!("{compared} (group, last_applied) points compared"));
    result
}

/// No panic line was collected from any replica's log.
pub(crate) fn no_panics(panics: &[String]) -> CheckResult {
    let mut result = CheckResult::new("no_panics");
    for line in panics.iter().take(PANIC_LINES_QUOTED_MAX) {
        result.fail(line.clone(), &[]);
    }
    if panics.len() > PANIC_LINES_QUOTED_MAX {
        let more = panics.len() - PANIC_LINES_QUOTED_MAX;
        result.fail(format!("... and {more} more panic lines"), &[]);
    }
    if panics.is_empty() {
        result.note("no panic in the collected logs".to_string());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckStatus;

    fn digest(group: &str, replica: u64, last_applied: u64, d: &str) -> Digest {
        (group.to_string(), replica, last_applied, d.to_string())
    }

    #[test]
    fn digests_are_compared_per_group_at_equal_last_applied() {
        // Goal: equal digests pass, a differing one fails, an uncomparable one is undecided.
        let same = [
            digest("catalog", 1, 40, "aa"),
            digest("catalog", 2, 40, "aa"),
            digest("order", 1, 9, "bb"),
            digest("order", 2, 9, "bb"),
            digest("order", 3, 9, "bb"),
        ];
        assert_eq!(replicas_identical(&same).status, CheckStatus::Passed);
        let mut differ = same.to_vec();
        differ[4].3 = "cc".into();
        let failed = replicas_identical(&differ);
        assert_eq!(failed.status, CheckStatus::Failed);
        assert!(failed.details[0].contains("group order"), "{failed:?}");
        let mut behind = same.to_vec();
        behind[1].2 = 39;
        assert_eq!(
            replicas_identical(&behind).status,
            CheckStatus::Inconclusive
        );
        assert_eq!(replicas_identical(&[]).status, CheckStatus::Inconclusive);
    }

    #[test]
    fn any_panic_line_fails() {
        // Goal: panics are quoted, and many of them do not flood the report.
        assert_eq!(no_panics(&[]).status, CheckStatus::Passed);
        let lines: Vec<String> = (0..25).map(|i| format!("panicked at {i}")).collect();
        let result = no_panics(&lines);
        assert_eq!(result.status, CheckStatus::Failed);
        assert_eq!(result.details.len(), PANIC_LINES_QUOTED_MAX + 1);
    }
}
