//! [`RateLimiter`]: the one handle the middleware holds, whichever backend decides.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::gcra::Rate;
use super::local::LocalStore;
use super::redis_store::{RedisOptions, RedisStore};
use super::{Decision, Quota};

/// Name of the counter of denied requests, labelled by `bucket_kind`.
pub const RATE_LIMITED_METRIC: &str = "udam_rate_limited_total";

/// Bucket names longer than this are stored under a hash of their identifier,
/// so a client sending a megabyte "email" costs one short key, not a megabyte.
const MAX_BUCKET_LEN: usize = 128;

/// Longest label value accepted as a bucket kind; anything else is "other".
const MAX_KIND_LEN: usize = 32;

/// Errors that stop a limiter from being built. Checking never fails.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The Redis URL could not be understood. The message never repeats the
    /// URL, which may carry a password.
    #[error("invalid Redis URL for rate limiting: {0}")]
    InvalidRedisUrl(String),
    /// [`RateLimiter::with_redis`] was called outside a Tokio runtime.
    #[error("the Redis rate limiter must be started inside a Tokio runtime")]
    NoRuntime,
}

/// Decides whether a request fits its quota.
///
/// Cheap to clone (one `Arc`). Buckets are named by the caller, by
/// convention `KIND:ID`, e.g. `ip:203.0.113.7`, `login-email:a@b.c`,
/// `account:42`; `KIND` labels the rejection metric.
///
/// In-process by default. Built with [`RateLimiter::with_redis`], every
/// process sharing the Redis shares each bucket; while Redis is unreachable
/// the limiter answers from in-process buckets instead, and returns to Redis
/// once it answers again.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always present: the only backend, or the fallback while Redis is away.
    local: LocalStore,
    redis: Option<Arc<RedisStore>>,
}

impl RateLimiter {
    /// A limiter whose buckets live in this process only.
    pub fn local() -> Self {
        Self {
            inner: Arc::new(Inner {
                local: LocalStore::new(),
                redis: None,
            }),
        }
    }

    /// A limiter whose buckets live in Redis at `url` (e.g. `redis://127.0.0.1:6379`),
    /// with the default [`RedisOptions`].
    ///
    /// A malformed URL is an error, so a typo fails at start-up. An
    /// unreachable Redis is not: the limiter starts on in-process limits,
    /// logs one warning, and keeps trying to connect.
    pub async fn with_redis(url: &str) -> Result<Self, RateLimitError> {
        Self::with_redis_options(url, RedisOptions::default()).await
    }

    /// [`RateLimiter::with_redis`] with explicit key prefix, timeouts and retry interval.
    pub async fn with_redis_options(
        url: &str,
        options: RedisOptions,
    ) -> Result<Self, RateLimitError> {
        let redis = RedisStore::start(url, options).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                local: LocalStore::new(),
                redis: Some(redis),
            }),
        })
    }

    /// Counts one request against `bucket` under `quota` and says whether it may proceed.
    ///
    /// Never fails: if Redis errs or takes longer than the call timeout, the
    /// answer comes from the in-process buckets. Denials increment the
    /// `udam_rate_limited_total{bucket_kind}` counter.
    pub async fn check(&self, bucket: &str, quota: Quota) -> Decision {
        let rate = Rate::from_quota(quota);
        let key = bucket_key(bucket);
        let shared = match &self.inner.redis {
            Some(redis) => redis.check(&key, rate).await,
            None => None,
        };
        let decision = shared.unwrap_or_else(|| self.inner.local.check(&key, rate));
        if !decision.allowed {
            metrics::counter!(RATE_LIMITED_METRIC, "bucket_kind" => bucket_kind(bucket).to_owned())
                .increment(1);
        }
        decision
    }

    /// Whether decisions are currently shared through Redis (`false` for a
    /// local limiter, and while Redis is unreachable).
    pub fn is_shared(&self) -> bool {
        self.inner.redis.as_ref().is_some_and(|r| r.is_up())
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.redis {
            None => f.write_str("RateLimiter(local)"),
            Some(redis) => f.debug_tuple("RateLimiter").field(redis).finish(),
        }
    }
}

/// The metric label of a bucket: the part before the first `:`, or `other`
/// when that is missing or implausibly long (labels must stay few).
fn bucket_kind(bucket: &str) -> &str {
    match bucket.split_once(':') {
        Some((kind, _)) if !kind.is_empty() && kind.len() <= MAX_KIND_LEN => kind,
        _ => "other",
    }
}

/// The name a bucket is stored under: itself, or `KIND:sha256:HEX` if too long.
fn bucket_key(bucket: &str) -> Cow<'_, str> {
    if bucket.len() <= MAX_BUCKET_LEN {
        return Cow::Borrowed(bucket);
    }
    let id = bucket.split_once(':').map_or(bucket, |(_, id)| id);
    let digest = Sha256::digest(id.as_bytes());
    Cow::Owned(format!(
        "{}:sha256:{}",
        bucket_kind(bucket),
        hex::encode(digest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_kind_is_the_prefix_before_the_first_colon() {
        assert_eq!(bucket_kind("ip:1.2.3.4"), "ip");
        assert_eq!(bucket_kind("ip:2001:db8::1"), "ip");
        assert_eq!(bucket_kind("login-email:a@b.c"), "login-email");
        assert_eq!(bucket_kind("no-colon"), "other");
        assert_eq!(bucket_kind(":x"), "other");
        assert_eq!(bucket_kind(&format!("{}:x", "k".repeat(100))), "other");
    }

    #[test]
    fn long_bucket_names_are_stored_under_a_short_hash() {
        let long = format!("login-email:{}@example.com", "a".repeat(10_000));
        let key = bucket_key(&long);
        assert!(key.starts_with("login-email:sha256:"), "{key}");
        assert_eq!(key.len(), "login-email:sha256:".len() + 64);
        assert_eq!(bucket_key("ip:1.2.3.4"), "ip:1.2.3.4");
        // Different long names stay different buckets.
        let other = format!("login-email:{}@example.com", "b".repeat(10_000));
        assert_ne!(bucket_key(&other), key);
    }

    /// Runs the limiter's real async path on a private runtime while a
    /// Prometheus recorder is installed for this thread only.
    fn with_recorder(f: impl FnOnce(&tokio::runtime::Runtime)) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        metrics::with_local_recorder(&recorder, || f(&runtime));
        handle.render()
    }

    #[test]
    fn denials_are_counted_by_bucket_kind() {
        let limiter = RateLimiter::local();
        let quota = Quota::new(1, Duration::from_secs(60));
        let rendered = with_recorder(|rt| {
            rt.block_on(async {
                assert!(limiter.check("login-email:a@b.c", quota).await.allowed);
                assert!(!limiter.check("login-email:a@b.c", quota).await.allowed);
                assert!(!limiter.check("login-email:a@b.c", quota).await.allowed);
                assert!(limiter.check("ip:1.2.3.4", quota).await.allowed);
                assert!(!limiter.check("ip:1.2.3.4", quota).await.allowed);
            })
        });
        assert!(
            rendered.contains(r#"udam_rate_limited_total{bucket_kind="login-email"} 2"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"udam_rate_limited_total{bucket_kind="ip"} 1"#),
            "{rendered}"
        );
    }

    #[test]
    fn limiter_and_its_check_future_can_cross_threads() {
        // Middleware futures must be Send; this fails to compile otherwise.
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        fn assert_send<T: Send>(_: T) {}
        let limiter = RateLimiter::local();
        assert_send_sync(&limiter);
        assert_send(limiter.check("ip:1.2.3.4", Quota::per_minute(1)));
    }

    #[tokio::test]
    async fn local_limiter_is_never_shared_and_enforces_quotas() {
        let limiter = RateLimiter::local();
        assert!(!limiter.is_shared());
        let quota = Quota::per_minute(3);
        let mut allowed = 0;
        for _ in 0..10 {
            if limiter.check("account:9", quota).await.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        let denied = limiter.check("account:9", quota).await;
        // One request's budget (20 s) less the moments the loop took.
        let wait = denied.retry_after.expect("denied");
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::from_secs(19),
            "{wait:?}"
        );
        assert_eq!(format!("{limiter:?}"), "RateLimiter(local)");
    }
}
