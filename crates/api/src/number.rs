//! Whole numbers in request bodies as JSON means them: `262.0` is the integer 262 (JSON has
//! one number type, and JSON Schema's `integer` is any number without a fraction), while
//! `262.5`, `null` and numbers out of range are refused with a message. serde alone refuses
//! `262.0` for a `u64` and takes `null` for an `Option`, which a client cannot tell from
//! leaving the field out.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, Visitor};
use serde::Deserializer;

/// A whole number read into `T` from an integer or an integral float.
pub(crate) trait WholeNumber: TryFrom<u64> + TryFrom<i64> + Sized {
    /// What it is, for messages: `a non-negative integer`, `an integer`.
    const EXPECTING: &'static str;
}

impl WholeNumber for u64 {
    const EXPECTING: &'static str = "a non-negative integer";
}

impl WholeNumber for i64 {
    const EXPECTING: &'static str = "an integer";
}

struct WholeVisitor<T>(PhantomData<T>);

impl<T: WholeNumber> Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(E::custom(format!("{v} is not a whole number")));
        }
        // An integral f64 in (-2^63, 2^64) converts without loss. The bounds are open because
        // serde_json reads an integer literal past 64 bits as the nearest f64, and
        // -9223372036854775809 rounds to exactly -2^63.
        let out_of_range = || E::custom(format!("{v} is out of range"));
        if (0.0..18_446_744_073_709_551_616.0).contains(&v) {
            self.visit_u64(v as u64)
        } else if v < 0.0 && v > -9_223_372_036_854_775_808.0 {
            self.visit_i64(v as i64)
        } else {
            Err(out_of_range())
        }
    }
}

/// `#[serde(deserialize_with)]` for a required whole number.
pub(crate) fn whole<'de, D: Deserializer<'de>, T: WholeNumber>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(WholeVisitor(PhantomData))
}

/// `#[serde(default, deserialize_with)]` for an optional whole number: absent is `None`,
/// `null` is refused (leave the field out instead).
pub(crate) fn some_whole<'de, D: Deserializer<'de>, T: WholeNumber>(
    d: D,
) -> Result<Option<T>, D::Error> {
    whole(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "super::whole")]
        count: u64,
        #[serde(default, deserialize_with = "super::some_whole")]
        delta: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_floats_are_whole_numbers_and_the_rest_is_refused_with_a_reason() {
        let body = |count, delta| Body { count, delta };
        assert_eq!(parse(r#"{"count": 262}"#), Ok(body(262, None)));
        assert_eq!(
            parse(r#"{"count": 262.0, "delta": -3.0}"#),
            Ok(body(262, Some(-3)))
        );
        assert_eq!(parse(r#"{"count": 2.62e2}"#), Ok(body(262, None)));
        assert_eq!(
            parse(r#"{"count": 18446744073709551615}"#),
            Ok(body(u64::MAX, None))
        );
        for (json, reason) in [
            (r#"{"count": 262.5}"#, "not a whole number"),
            (r#"{"count": -1}"#, "out of range"),
            (r#"{"count": -1.0}"#, "out of range"),
            (r#"{"count": 1e20}"#, "out of range"),
            (r#"{"count": 1, "delta": 1e19}"#, "out of range"),
            (
                r#"{"count": 1, "delta": -9223372036854775809}"#,
                "out of range",
            ),
            (r#"{"count": 18446744073709551616}"#, "out of range"),
            (r#"{"count": 1, "delta": null}"#, "expected an integer"),
            (r#"{"count": "1"}"#, "expected a non-negative integer"),
            (r#"{"count": null}"#, "expected a non-negative integer"),
        ] {
            let error = parse(json).unwrap_err();
            assert!(error.contains(reason), "{json}: {error}");
        }
    }
}
