//! The `Server-Timing` header (W3C Server Timing): each tier that handled a request appends
//! `<tier>;dur=<milliseconds>`, e.g. `frontend;dur=0.412, catalog;dur=0.250`, in one header
//! value or several.

use std::time::Duration;

/// The entries of one `Server-Timing` value that carry a usable `dur`, as (name, duration),
/// in order. Entries without `dur`, or with a negative or non-numeric one, are skipped;
/// quoted parameter values (`desc="a, b"`) may contain commas and semicolons.
pub fn parse_server_timing(value: &str) -> Vec<(&str, Duration)> {
    split_unquoted(value, ',')
        .into_iter()
        .filter_map(|entry| {
            let mut parts = split_unquoted(entry, ';').into_iter();
            let name = parts.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let dur_ms = parts.find_map(|param| {
                let (key, raw) = param.split_once('=')?;
                if !key.trim().eq_ignore_ascii_case("dur") {
                    return None;
                }
                raw.trim().trim_matches('"').parse::<f64>().ok()
            })?;
            Some((name, from_ms(dur_ms)?))
        })
        .collect()
}

/// Time spent in each tier by one request, from all its `Server-Timing` values: (tier,
/// microseconds), in order of first appearance. A tier named more than once (a request that
/// visited two replicas of a group, or retried) gets the sum.
pub fn tier_durations(values: &[String]) -> Vec<(String, u64)> {
    let mut tiers: Vec<(String, u64)> = Vec::new();
    for value in values {
        for (name, dur) in parse_server_timing(value) {
            let us = u64::try_from(dur.as_micros()).unwrap_or(u64::MAX);
            match tiers.iter_mut().find(|(tier, _)| tier == name) {
                Some((_, total)) => *total = total.saturating_add(us),
                None => tiers.push((name.to_string(), us)),
            }
        }
    }
    tiers
}

/// A duration given in (fractional) milliseconds, rounded to the nanosecond; `None` if
/// negative, not finite, or longer than `u64::MAX` nanoseconds.
fn from_ms(ms: f64) -> Option<Duration> {
    let ns = (ms * 1_000_000.0).round();
    // `as` saturates; the bound keeps the cast exact enough and refuses absurd values.
    (ns.is_finite() && (0.0..u64::MAX as f64).contains(&ns))
        .then(|| Duration::from_nanos(ns as u64))
}

/// `text` split at every `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(value: &str) -> Vec<(&str, u128)> {
        let entries = parse_server_timing(value);
        entries
            .into_iter()
            .map(|(n, d)| (n, d.as_micros()))
            .collect()
    }

    #[test]
    fn entries_with_durations_are_read() {
        assert_eq!(
            us("frontend;dur=0.412, catalog;dur=0.250"),
            [("frontend", 412), ("catalog", 250)]
        );
        assert_eq!(us("order;dur=12"), [("order", 12_000)]);
        assert_eq!(
            us(r#"db;desc="a, b; c";dur="1.5" ,cache;DUR=0"#),
            [("db", 1_500), ("cache", 0)]
        );
    }

    #[test]
    fn unusable_entries_are_skipped() {
        assert!(us("").is_empty());
        assert!(us("miss").is_empty());
        assert!(us("x;dur=abc, y;dur=-1, ;dur=3, z;desc=2").is_empty());
        assert_eq!(us("x;dur=abc, ok;dur=1"), [("ok", 1_000)]);
    }

    #[test]
    fn tiers_are_summed_across_header_values() {
        let values = [
            "frontend;dur=1.000".to_string(),
            "catalog;dur=0.250, order;dur=0.5".to_string(),
            "catalog;dur=0.250".to_string(),
        ];
        let tiers = tier_durations(&values);
        let expected = [("frontend", 1_000), ("catalog", 500), ("order", 500)];
        assert_eq!(tiers.len(), expected.len());
        for ((tier, us), (name, want)) in tiers.iter().zip(expected) {
            assert_eq!((tier.as_str(), *us), (name, want));
        }
    }
}
