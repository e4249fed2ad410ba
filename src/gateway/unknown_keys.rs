//! A limit on unknown keys per client address, so that the gateway's public
//! listener cannot be made to read the database at will.
//!
//! Keys are too long to guess, but a key of the right shape (its checksum is public)
//! that no buyer holds costs a database read on every request: unknown keys are never
//! cached, so that a key issued a moment ago works at once. Each such request counts
//! against `--gateway-unknown-key-limit` for its client address (shared through Redis
//! when configured, as every rate limit is). Past it, the address is refused with 429
//! for as long as the limiter says, except for keys whose route this process holds
//! already: a refused address costs no database read, and a buyer behind the same
//! address as a scanner keeps being served while their key's route is cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ratelimit::{Quota, RateLimiter};

/// Addresses held refused at most; past it the lapsed ones go, and if that is not
/// enough, all of them (each then pays one more unknown key before the limiter,
/// which still counts them, refuses it again).
const MAX_REFUSED: usize = 10_000;

/// How often lapsed refusals are swept out on a lookup.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Client addresses over their unknown-key limit, each until when.
#[derive(Debug)]
pub struct UnknownKeys {
    quota: Quota,
    refused: Mutex<Refused>,
    /// Whether `refused` holds anyone: read on every gateway request without the
    /// lock, which only requests from then on take.
    any: AtomicBool,
}

#[derive(Debug)]
struct Refused {
    until: HashMap<String, Instant>,
    /// When lapsed refusals were last swept out: an address never seen again would
    /// otherwise keep every request on the lock.
    pruned_at: Instant,
}

impl Refused {
    fn prune(&mut self, now: Instant) {
        self.until.retain(|_, until| *until > now);
        self.pruned_at = now;
    }
}

impl UnknownKeys {
    /// A limit of `quota` unknown keys per client address.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            refused: Mutex::new(Refused {
                until: HashMap::new(),
                pruned_at: Instant::now(),
            }),
            any: AtomicBool::new(false),
        }
    }

    /// How long `client` is still refused, if it is.
    ///
    /// `client` is only computed, and the lock only taken, when some address is
    /// refused: the usual request pays one atomic load.
    pub fn refused(&self, client: impl FnOnce() -> String) -> Option<Duration> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let left = refused
            .until
            .get(&client())
            .map(|until| until.saturating_duration_since(now))
            .filter(|left| !left.is_zero());
        if left.is_none() && now.duration_since(refused.pruned_at) >= PRUNE_EVERY {
            refused.prune(now);
            self.any.store(!refused.until.is_empty(), Ordering::Release);
        }
        left
    }

    /// Counts one unknown key from `client`; once over the limit, the address is
    /// refused until the limiter would let it try again, and that wait is returned.
    pub async fn record(&self, limiter: &RateLimiter, client: &str) -> Option<Duration> {
        let decision = limiter
            .check(&format!("gateway-unknown-key:{client}"), self.quota)
            .await;
        let wait = decision.retry_after.filter(|_| !decision.allowed)?;
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if refused.until.len() >= MAX_REFUSED {
            refused.prune(now);
            if refused.until.len() >= MAX_REFUSED {
                refused.until.clear();
            }
        }
        refused.until.insert(client.to_owned(), now + wait);
        self.any.store(true, Ordering::Release);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_is_refused_once_over_its_limit_and_others_are_not() {
        let limiter = RateLimiter::local();
        let keys = UnknownKeys::new(Quota::per_minute(2));
        assert_eq!(keys.refused(|| "198.51.100.7".to_owned()), None);
        keys.record(&limiter, "198.51.100.7").await;
        keys.record(&limiter, "198.51.100.7").await;
        assert_eq!(
            keys.refused(|| "198.51.100.7".to_owned()),
            None,
            "at the limit"
        );
        keys.record(&limiter, "198.51.100.7").await;
        let wait = keys.refused(|| "198.51.100.7".to_owned()).expect("refused");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(keys.refused(|| "198.51.100.8".to_owned()), None);
    }

    #[tokio::test]
    async fn lapsed_refusals_are_swept_and_the_fast_path_returns() {
        let limiter = RateLimiter::local();
        let keys = UnknownKeys::new(Quota::per_second(1));
        keys.record(&limiter, "198.51.100.9").await;
        assert!(keys.record(&limiter, "198.51.100.9").await.is_some());
        assert!(keys.any.load(Ordering::Acquire));
        // Polled: the refusal lapses within about a second, and the next lookup
        // from any address sweeps it out.
        let deadline = Instant::now() + Duration::from_secs(10);
        while keys.any.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "never swept");
            assert!(keys.refused(|| "203.0.113.1".to_owned()).is_none());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(keys.refused(|| unreachable!("no lock, no address")), None);
    }

    #[test]
    fn nobody_refused_computes_no_address() {
        let keys = UnknownKeys::new(Quota::per_minute(2));
        assert_eq!(keys.refused(|| unreachable!("not computed")), None);
    }
}
