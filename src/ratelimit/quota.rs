//! How much traffic a bucket may send: "`burst` requests per `period`".

use std::fmt;
use std::time::Duration;

/// A rate limit: up to `burst` requests at once, refilled evenly over `period`.
///
/// Under GCRA one request's worth of budget comes back every
/// `period / burst` (the emission interval), so `Quota { burst: 60, period: 1 min }`
/// allows 60 requests in a burst and then one per second.
///
/// A `burst` of 0 is treated as 1 and a zero `period` as the smallest interval the
/// limiter can measure, so a hand-built quota never divides by zero;
/// [`Quota::parse`] rejects both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed back to back when the bucket is full.
    pub burst: u32,
    /// Time it takes an empty bucket to refill completely.
    pub period: Duration,
}

impl Quota {
    /// `burst` requests per `period`.
    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }

    /// `n` requests per second.
    pub const fn per_second(n: u32) -> Self {
        Self::new(n, Duration::from_secs(1))
    }

    /// `n` requests per minute.
    pub const fn per_minute(n: u32) -> Self {
        Self::new(n, Duration::from_secs(60))
    }

    /// `n` requests per hour.
    pub const fn per_hour(n: u32) -> Self {
        Self::new(n, Duration::from_secs(3600))
    }

    /// Parses the form used in config flags: `COUNT/UNIT` or `COUNT/NUNIT`,
    /// e.g. `60/min`, `10/s`, `1000/h`, `5/15min`, `100/day`.
    ///
    /// Units: `ms`; `s`, `sec`, `second`; `m`, `min`, `minute`; `h`, `hr`, `hour`; `d`, `day`
    /// (plurals accepted). The count must be at least 1.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid rate limit {s:?}: {why} (expected e.g. \"60/min\")");
        let (count, per) = s.trim().split_once('/').ok_or_else(|| bad("missing '/'"))?;
        let burst: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("count is not a whole number"))?;
        if burst == 0 {
            return Err(bad("count must be at least 1"));
        }
        let per = per.trim();
        // An optional multiplier before the unit: "15min" is fifteen minutes.
        let digits = per.bytes().take_while(u8::is_ascii_digit).count();
        let (multiplier, unit) = per.split_at(digits);
        let multiplier: u64 = if multiplier.is_empty() {
            1
        } else {
            multiplier
                .parse()
                .map_err(|_| bad("period multiplier is too large"))?
        };
        if multiplier == 0 {
            return Err(bad("period must be longer than zero"));
        }
        let unit_ms: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(bad("unknown time unit")),
        };
        let ms = multiplier
            .checked_mul(unit_ms)
            .ok_or_else(|| bad("period is too long"))?;
        Ok(Self::new(burst, Duration::from_millis(ms)))
    }
}

impl std::str::FromStr for Quota {
    type Err = String;

    /// Same as [`Quota::parse`], so clap can read a quota flag directly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Quota {
    /// Writes the quota in the form [`Quota::parse`] reads, e.g. `60/min` or `5/15min`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        if self.period.subsec_nanos() != 0 || secs == 0 {
            // Sub-millisecond parts are dropped: no flag needs them.
            return write!(f, "{}/{}ms", self.burst, self.period.as_millis());
        }
        let (n, unit) = if secs.is_multiple_of(86_400) {
            (secs / 86_400, "day")
        } else if secs.is_multiple_of(3600) {
            (secs / 3600, "h")
        } else if secs.is_multiple_of(60) {
            (secs / 60, "min")
        } else {
            (secs, "s")
        };
        if n == 1 {
            write!(f, "{}/{unit}", self.burst)
        } else {
            write!(f, "{}/{n}{unit}", self.burst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Quota::parse("60/min"), Ok(Quota::per_minute(60)));
        assert_eq!(Quota::parse("10/s"), Ok(Quota::per_second(10)));
        assert_eq!(Quota::parse("1000/h"), Ok(Quota::per_hour(1000)));
        assert_eq!(
            Quota::parse(" 5 / 15min "),
            Ok(Quota::new(5, Duration::from_secs(900)))
        );
        assert_eq!(
            Quota::parse("100/Day"),
            Ok(Quota::new(100, Duration::from_secs(86_400)))
        );
        assert_eq!(Quota::parse("3/seconds"), Ok(Quota::per_second(3)));
        assert_eq!(
            Quota::parse("1/200ms"),
            Ok(Quota::new(1, Duration::from_millis(200)))
        );
    }

    #[test]
    fn rejects_nonsense_with_a_message_naming_the_input() {
        for bad in [
            "",
            "60",
            "/min",
            "x/min",
            "0/min",
            "-1/min",
            "60/",
            "60/fortnight",
            "60/0s",
            "1/99999999999999999999s",
            "60/min/s",
        ] {
            let err = Quota::parse(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn display_round_trips_through_parse() {
        for text in [
            "60/min", "10/s", "1000/h", "5/15min", "100/day", "7/90s", "1/200ms",
        ] {
            let quota = Quota::parse(text).expect(text);
            assert_eq!(quota.to_string(), text);
            assert_eq!(quota.to_string().parse::<Quota>(), Ok(quota));
        }
    }
}
