//! The generic cell rate algorithm (GCRA) as pure functions of (TAT, now, quota).
//!
//! A bucket is one number, its theoretical arrival time (TAT): the moment at
//! which it will be completely full again. A request is allowed when adding
//! one emission interval to the TAT keeps it within `period` of now. Both
//! backends run exactly this arithmetic: the local one in [`step`], Redis in
//! `gcra.lua`, which mirrors it line for line.
//!
//! Times are `u64` nanoseconds on whatever clock the caller uses; only
//! differences matter. No function here reads a clock, so tests drive them
//! with made-up instants.

use std::time::Duration;

use super::{Decision, Quota};

/// A [`Quota`] in the integer units both backends compute with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Emission interval in nanoseconds: one request's worth of budget. Always
    /// a whole number of microseconds (at least one), because Redis `TIME` has
    /// microsecond resolution and both backends must agree.
    pub interval_ns: u64,
    /// Requests allowed back to back; at least 1.
    pub burst: u64,
}

impl Rate {
    /// Converts a quota, rounding the interval up so a limit is never looser than asked.
    pub fn from_quota(quota: Quota) -> Self {
        let burst = u64::from(quota.burst.max(1));
        let period_ns = u64::try_from(quota.period.as_nanos()).unwrap_or(u64::MAX);
        let interval_us = (period_ns / burst).div_ceil(1000).max(1);
        Self {
            interval_ns: interval_us.saturating_mul(1000),
            burst,
        }
    }

    /// The emission interval in whole microseconds (what the Lua script takes).
    pub fn interval_us(self) -> u64 {
        self.interval_ns / 1000
    }

    /// How far ahead of now the TAT may run: `burst` intervals, i.e. the period.
    pub fn period_ns(self) -> u64 {
        self.interval_ns.saturating_mul(self.burst)
    }
}

/// The outcome of one request against one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The bucket's TAT after this request (unchanged when denied, and never
    /// earlier than `now`). Store it back when `allowed`.
    pub tat: u64,
}

/// Applies one request at `now` to a bucket whose TAT is `tat` (0 for a new bucket).
pub(crate) fn step(tat: u64, now: u64, rate: Rate) -> Step {
    // A TAT in the past means the bucket is full; it cannot be fuller.
    let start = tat.max(now);
    let next = start.saturating_add(rate.interval_ns);
    if next - now <= rate.period_ns() {
        Step {
            allowed: true,
            tat: next,
        }
    } else {
        Step {
            allowed: false,
            tat: start,
        }
    }
}

/// Describes a step to the client, given how far the resulting TAT lies ahead of now.
///
/// Separate from [`step`] because the Redis backend gets `allowed` and
/// `ahead_ns` back from its script rather than the TAT itself (the script's
/// clock is Redis's, not ours).
pub(crate) fn decision(allowed: bool, ahead_ns: u64, rate: Rate) -> Decision {
    let period = rate.period_ns();
    let remaining = (period.saturating_sub(ahead_ns) / rate.interval_ns).min(rate.burst);
    // Denied means ahead + interval > period, so this is positive; `max(1)`
    // only guards against a caller passing inconsistent numbers.
    let retry_after = (!allowed).then(|| {
        Duration::from_nanos(
            ahead_ns
                .saturating_add(rate.interval_ns)
                .saturating_sub(period)
                .max(1),
        )
    });
    Decision {
        allowed,
        limit: u32::try_from(rate.burst).unwrap_or(u32::MAX),
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_after: Duration::from_nanos(ahead_ns),
        retry_after,
    }
}

/// [`step`] and [`decision`] together, for a caller that holds the TAT itself.
pub(crate) fn check(tat: u64, now: u64, rate: Rate) -> (Step, Decision) {
    let step = step(tat, now, rate);
    let decision = decision(step.allowed, step.tat - now, rate);
    (step, decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1000 * MS;

    /// Runs `n` requests at the same instant, storing the TAT as a backend would.
    fn burst(tat: &mut u64, now: u64, rate: Rate, n: u32) -> Vec<Decision> {
        (0..n)
            .map(|_| {
                let (s, d) = check(*tat, now, rate);
                if s.allowed {
                    *tat = s.tat;
                }
                d
            })
            .collect()
    }

    #[test]
    fn allows_exactly_the_burst_then_denies_with_one_interval_to_wait() {
        // 5 per second: one request's budget returns every 200 ms.
        let rate = Rate::from_quota(Quota::per_second(5));
        let now = 42 * SEC;
        let mut tat = 0;
        let decisions = burst(&mut tat, now, rate, 6);

        for (i, d) in decisions[..5].iter().enumerate() {
            assert!(d.allowed, "request {i} should pass");
            assert_eq!(d.limit, 5);
            assert_eq!(d.remaining, 4 - i as u32);
            assert_eq!(d.retry_after, None);
        }
        let denied = &decisions[5];
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after, Some(Duration::from_millis(200)));
        // The bucket is full again one whole period after the burst.
        assert_eq!(denied.reset_after, Duration::from_secs(1));
    }

    #[test]
    fn allows_again_exactly_when_retry_after_has_passed() {
        let rate = Rate::from_quota(Quota::per_minute(3));
        let mut tat = 0;
        let t0 = 1000 * SEC;
        burst(&mut tat, t0, rate, 3);
        let (_, denied) = check(tat, t0, rate);
        let wait = denied.retry_after.expect("fourth request is denied");
        assert_eq!(wait, Duration::from_secs(20));

        let wait_ns = wait.as_nanos() as u64;
        let (_, early) = check(tat, t0 + wait_ns - 1, rate);
        assert!(!early.allowed, "one nanosecond early is still too early");
        assert_eq!(early.retry_after, Some(Duration::from_nanos(1)));

        let (s, on_time) = check(tat, t0 + wait_ns, rate);
        assert!(on_time.allowed);
        assert_eq!(on_time.remaining, 0, "only one request's budget came back");
        let (_, after) = check(s.tat, t0 + wait_ns, rate);
        assert!(!after.allowed);
    }

    #[test]
    fn a_denied_request_does_not_spend_budget() {
        let rate = Rate::from_quota(Quota::per_second(1));
        let mut tat = 0;
        burst(&mut tat, SEC, rate, 1);
        let before = tat;
        let denied = burst(&mut tat, SEC, rate, 50);
        assert!(denied.iter().all(|d| !d.allowed));
        assert_eq!(tat, before, "hammering must not push the TAT further out");
        assert!(check(tat, 2 * SEC, rate).1.allowed);
    }

    #[test]
    fn an_idle_bucket_refills_to_the_burst_and_no_further() {
        let rate = Rate::from_quota(Quota::per_second(4));
        let mut tat = 0;
        burst(&mut tat, SEC, rate, 4);
        // A day later the bucket holds `burst` requests, not a day's worth.
        let later = burst(&mut tat, 86_400 * SEC, rate, 5);
        assert_eq!(later.iter().filter(|d| d.allowed).count(), 4);
    }

    #[test]
    fn partial_refill_restores_whole_requests_only() {
        let rate = Rate::from_quota(Quota::per_second(10)); // 100 ms each
        let mut tat = 0;
        burst(&mut tat, SEC, rate, 10);
        // 250 ms later two and a half requests have returned: two may pass.
        let d = burst(&mut tat, SEC + 250 * MS, rate, 3);
        assert_eq!(
            d.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert_eq!(d[2].retry_after, Some(Duration::from_millis(50)));
    }

    #[test]
    fn degenerate_quotas_neither_panic_nor_divide_by_zero() {
        let zero_burst = Rate::from_quota(Quota::new(0, Duration::from_secs(1)));
        assert_eq!(zero_burst.burst, 1);
        let zero_period = Rate::from_quota(Quota::new(5, Duration::ZERO));
        assert_eq!(zero_period.interval_ns, 1000);
        let huge = Rate::from_quota(Quota::new(u32::MAX, Duration::MAX));
        let (_, d) = check(0, u64::MAX - 1, huge);
        assert!(d.allowed);
    }

    #[test]
    fn intervals_are_whole_microseconds_rounded_up() {
        // 3 per second is 333_333.33.. µs; rounding down would allow slightly more.
        let rate = Rate::from_quota(Quota::per_second(3));
        assert_eq!(rate.interval_us(), 333_334);
        assert_eq!(rate.interval_ns, 333_334_000);
    }
}
