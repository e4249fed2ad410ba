//! Time as the database stores it (unix milliseconds) and as the API shows it (RFC 3339).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Rounds unix milliseconds up to a whole second (providers count in seconds).
pub fn ceil_to_second(ms: i64) -> i64 {
    ms.saturating_add(999).div_euclid(1000).saturating_mul(1000)
}

/// Formats unix milliseconds as an RFC 3339 UTC timestamp, e.g. `2026-11-28T18:22:19.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }
}
