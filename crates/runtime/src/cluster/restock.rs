//! `[catalog.restock]`: the timed restock policy of the catalog (issue #16), as written and
//! validated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest restock period, in seconds (one week): a longer one is more likely a unit mistake
/// (milliseconds given as seconds) than a policy.
pub const RESTOCK_EVERY_S_MAX: u64 = 7 * 24 * 3600;
/// Most copies a timed restock may set a book to: far above any shelf, far below overflow.
pub const RESTOCK_TO_MAX: u64 = 1_000_000;

/// `[catalog.restock]` as written; absent: no timed restocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestockFile {
    /// Length of a period, in seconds: at most one restock round per period.
    pub every_s: u64,
    /// A book with fewer copies than this is restocked.
    pub below: u64,
    /// The copies a restocked book is set to.
    pub to: u64,
}

/// The timed restock policy, validated: `1 <= every_s <= RESTOCK_EVERY_S_MAX`,
/// `1 <= below <= to <= RESTOCK_TO_MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestockPolicy {
    /// Length of a period; the catalog leader restocks at most once per period.
    pub every: Duration,
    /// A book with fewer copies than this is restocked.
    pub below: u64,
    /// The copies a restocked book is set to (at least `below`, so one round suffices).
    pub to: u64,
}

impl RestockFile {
    /// Checks ranges and relations.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and the accepted range.
    pub fn validate(&self) -> Result<RestockPolicy> {
        let bad = |m: String| Err(Error::Config(format!("[catalog.restock] {m}")));
        if !(1..=RESTOCK_EVERY_S_MAX).contains(&self.every_s) {
            return bad(format!(
                "every_s = {} is out of range: give 1 to {RESTOCK_EVERY_S_MAX} seconds",
                self.every_s
            ));
        }
        if self.below == 0 {
            return bad(
                "below = 0 would restock nothing (stock is never below 0): give at least 1, or \
                 remove the table to turn timed restocks off"
                    .into(),
            );
        }
        if self.to > RESTOCK_TO_MAX {
            return bad(format!(
                "to = {} is more than {RESTOCK_TO_MAX} copies",
                self.to
            ));
        }
        if self.to < self.below {
            return bad(format!(
                "to = {} is less than below = {}: a restocked book would still be below and be \
                 restocked every period",
                self.to, self.below
            ));
        }
        Ok(RestockPolicy {
            every: Duration::from_secs(self.every_s),
            below: self.below,
            to: self.to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(every_s: u64, below: u64, to: u64) -> RestockFile {
        RestockFile { every_s, below, to }
    }

    fn refusal(f: RestockFile) -> String {
        f.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_sensible_policy_is_accepted_with_its_period_as_a_duration() {
        let policy = file(60, 1, 5).validate().unwrap();
        assert_eq!(policy.every, Duration::from_secs(60));
        assert_eq!((policy.below, policy.to), (1, 5));
        assert!(file(1, 3, 3).validate().is_ok(), "to = below is enough");
        assert!(file(RESTOCK_EVERY_S_MAX, 1, RESTOCK_TO_MAX)
            .validate()
            .is_ok());
    }

    #[test]
    fn out_of_range_values_are_refused_naming_the_key() {
        // Goal: each refusal names the table, the key and the value.
        let e = refusal(file(0, 1, 5));
        assert!(e.contains("[catalog.restock] every_s = 0"), "{e}");
        let e = refusal(file(RESTOCK_EVERY_S_MAX + 1, 1, 5));
        assert!(e.contains("every_s"), "{e}");
        assert!(refusal(file(60, 0, 5)).contains("below = 0"));
        assert!(refusal(file(60, 1, RESTOCK_TO_MAX + 1)).contains("to = 1000001"));
        let e = refusal(file(60, 5, 4));
        assert!(e.contains("to = 4 is less than below = 5"), "{e}");
    }
}
