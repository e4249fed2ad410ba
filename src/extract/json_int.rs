//! Integers in JSON bodies as JSON Schema defines them: `12` and `12.0` are both the
//! integer 12 (a number with a zero fraction *is* an integer), while `12.5` is not.
//! serde alone refuses `12.0` for an `i64`, which would reject requests the OpenAPI
//! document calls valid.

use serde::{Deserialize, Deserializer, de::Error};

/// Largest float that converts to `i64` exactly (2^63 is just out of range).
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

fn to_i64(n: Number) -> Option<i64> {
    match n {
        Number::Int(i) => Some(i),
        Number::Float(f) if f.fract() == 0.0 && (-I64_LIMIT..I64_LIMIT).contains(&f) => {
            Some(f as i64)
        }
        Number::Float(_) => None,
    }
}

/// `#[serde(deserialize_with = "json_int::int")]` for an `i64` field.
pub fn int<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    to_i64(Number::deserialize(de)?).ok_or_else(|| D::Error::custom("expected an integer"))
}

/// `#[serde(default, deserialize_with = "json_int::opt_int")]` for an `Option<i64>` field.
pub fn opt_int<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    match Option::<Number>::deserialize(de)? {
        None => Ok(None),
        Some(n) => to_i64(n)
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected an integer")),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::int")]
        n: i64,
    }

    #[test]
    fn zero_fraction_floats_are_integers() {
        let parse = |s: &str| serde_json::from_str::<T>(s).map(|t| t.n);
        assert_eq!(parse(r#"{"n": 12}"#).unwrap(), 12);
        assert_eq!(parse(r#"{"n": 12.0}"#).unwrap(), 12);
        assert_eq!(parse(r#"{"n": -3e2}"#).unwrap(), -300);
        assert!(parse(r#"{"n": 12.5}"#).is_err());
        assert!(parse(r#"{"n": 1e300}"#).is_err());
        assert!(parse(r#"{"n": "12"}"#).is_err());
    }
}
