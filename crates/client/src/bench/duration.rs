//! [`parse_duration`]: durations as people type them (`10s`, `500ms`, `1m30s`).

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration: give a number and a unit, e.g. 10s, 500ms, 1m")]
    Empty,
    /// A number without a unit, or an unknown unit.
    #[error("{text:?}: every number needs a unit among ms, s, m, h (e.g. 10s, 500ms, 1m30s)")]
    Unit {
        /// The text as given.
        text: String,
    },
    /// A character where a number was expected.
    #[error("{text:?}: expected a whole number before each unit (e.g. 10s, 500ms, 1m30s)")]
    Number {
        /// The text as given.
        text: String,
    },
    /// More than `u64::MAX` milliseconds.
    #[error("{text:?} is too long")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// Parses a duration made of one or more `<whole number><unit>` parts, units `ms`, `s`, `m`
/// and `h`: `10s`, `500ms`, `1m`, `1m30s`, `2h`. Surrounding whitespace is ignored; zero is
/// accepted (the caller decides whether it makes sense).
///
/// # Errors
/// [`DurationError`] for empty text, a missing or unknown unit, a missing number, or more
/// than `u64::MAX` milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let overflow = || DurationError::Overflow { text: text.into() };
    let mut rest = trimmed;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Number { text: text.into() });
        }
        let number: u64 = rest[..digits].parse().map_err(|_| overflow())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms =
            unit_ms(&rest[..unit_len]).ok_or_else(|| DurationError::Unit { text: text.into() })?;
        rest = &rest[unit_len..];
        let part_ms = number.checked_mul(unit_ms).ok_or_else(overflow)?;
        total_ms = total_ms.checked_add(part_ms).ok_or_else(overflow)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Milliseconds in one `unit`, if it is one.
fn unit_ms(unit: &str) -> Option<u64> {
    match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_parse() {
        let ms = |text: &str| parse_duration(text).unwrap().as_millis();
        assert_eq!(ms("10s"), 10_000);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("1m"), 60_000);
        assert_eq!(ms(" 1m30s "), 90_000);
        assert_eq!(ms("2h"), 7_200_000);
        assert_eq!(ms("1s250ms"), 1_250);
        assert_eq!(ms("0s"), 0);
    }

    #[test]
    fn malformed_durations_say_why() {
        let err = |text: &str| parse_duration(text).unwrap_err();
        assert_eq!(err(""), DurationError::Empty);
        assert!(matches!(err("10"), DurationError::Unit { .. }));
        assert!(matches!(err("10 s"), DurationError::Unit { .. }));
        assert!(matches!(err("5d"), DurationError::Unit { .. }));
        assert!(matches!(err("s"), DurationError::Number { .. }));
        assert!(matches!(err("-1s"), DurationError::Number { .. }));
        assert!(matches!(err("1.5s"), DurationError::Unit { .. }));
        let huge = format!("{}h", u64::MAX / 1_000);
        assert!(matches!(err(&huge), DurationError::Overflow { .. }));
        assert!(err("10").to_string().contains("needs a unit"));
    }
}
