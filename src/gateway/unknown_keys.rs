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
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::ratelimit::{Quota, RateLimiter};

/// Addresses held refused at most; past it the expired ones go, and if that is not
/// enough, all of them (each then pays one more unknown key before the limiter,
/// which still counts them, refuses it again).
const MAX_REFUSED: usize = 10_000;

/// Client addresses over their unknown-key limit, each until when.
#[derive(Debug)]
pub struct UnknownKeys {
    quota: Quota,
    refused: Mutex<HashMap<String, Instant>>,
}

impl UnknownKeys {
    /// A limit of `quota` unknown keys per client address.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` is still refused, if it is.
    ///
    /// `client` is only computed when some address is refused: the usual request
    /// pays one uncontended lock.
    pub fn refused(&self, client: impl FnOnce() -> String) -> Option<Duration> {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_empty() {
            return None;
        }
        let client = client();
        let until = *refused.get(&client)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            refused.remove(&client);
            return None;
        }
        Some(left)
    }

    /// Counts one unknown key from `client`; once over the limit, the address is
    /// refused until the limiter would let it try again, and that wait is returned.
    pub async fn record(&self, limiter: &RateLimiter, client: &str) -> Option<Duration> {
        let decision = limiter
            .check(&format!("gateway-unknown-key:{client}"), self.quota)
            .await;
        let wait = decision.retry_after.filter(|_| !decision.allowed)?;
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.len() >= MAX_REFUSED {
            let now = Instant::now();
            refused.retain(|_, until| *until > now);
            if refused.len() >= MAX_REFUSED {
                refused.clear();
            }
        }
        refused.insert(client.to_owned(), Instant::now() + wait);
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

    #[test]
    fn nobody_refused_computes_no_address() {
        let keys = UnknownKeys::new(Quota::per_minute(2));
        assert_eq!(keys.refused(|| unreachable!("not computed")), None);
    }
}
