//! Limits shared by several processes through one Redis.

use std::time::Duration;

use futures::future::join_all;

use super::{isolated_options, redis_url};
use crate::ratelimit::{Quota, RateLimitError, RateLimiter};

#[tokio::test]
async fn two_limiters_on_one_redis_share_one_budget() {
    let options = isolated_options();
    // Two instances stand for two `udam serve` processes.
    let a = RateLimiter::with_redis_options(&redis_url(), options.clone())
        .await
        .expect("limiter a");
    let b = RateLimiter::with_redis_options(&redis_url(), options)
        .await
        .expect("limiter b");
    assert!(a.is_shared() && b.is_shared());

    let quota = Quota::per_hour(10);
    // 40 concurrent requests, alternating between the processes.
    let decisions = join_all((0..40).map(|i| {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { limiter.check("ip:203.0.113.7", quota).await }
    }))
    .await;

    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 10);
    let denied = decisions.iter().find(|d| !d.allowed).expect("some denied");
    assert_eq!(denied.limit, 10);
    assert_eq!(denied.remaining, 0);
    // Ten per hour: one request's budget returns every six minutes.
    let wait = denied.retry_after.expect("denied carries retry_after");
    assert!(
        wait > Duration::from_secs(350) && wait <= Duration::from_secs(360),
        "{wait:?}"
    );
    // Another bucket is untouched by all this.
    assert!(a.check("ip:198.51.100.1", quota).await.allowed);
}

#[tokio::test]
async fn redis_decisions_count_down_like_local_ones() {
    let limiter = RateLimiter::with_redis_options(&redis_url(), isolated_options())
        .await
        .expect("limiter");
    // Without this the test would pass on the local fallback with Redis down.
    assert!(limiter.is_shared(), "the limiter is on Redis");
    let quota = Quota::per_minute(3);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let d = limiter.check("login-email:a@b.c", quota).await;
        assert!(d.allowed);
        assert_eq!(d.limit, 3);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let denied = limiter.check("login-email:a@b.c", quota).await;
    assert!(!denied.allowed);
    assert_eq!(denied.headers()["retry-after"], "20");
    assert_eq!(denied.headers()["ratelimit-reset"], "60");
}

#[tokio::test]
async fn a_redis_denial_clears_after_its_retry_after() {
    let limiter = RateLimiter::with_redis_options(&redis_url(), isolated_options())
        .await
        .expect("limiter");
    assert!(limiter.is_shared());
    let quota = Quota::new(1, Duration::from_millis(200));
    assert!(limiter.check("account:42", quota).await.allowed);
    let denied = limiter.check("account:42", quota).await;
    assert!(!denied.allowed);
    let wait = denied.retry_after.expect("retry_after");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(200),
        "{wait:?}"
    );

    // Waiting is the behaviour under test; then poll, in case our timer and
    // Redis's clock disagree by a tick.
    tokio::time::sleep(wait).await;
    let mut attempts = 0;
    let passed = super::eventually(async || {
        attempts += 1;
        limiter.check("account:42", quota).await.allowed
    })
    .await;
    assert!(passed, "still denied long after retry_after");
    assert!(attempts <= 5, "took {attempts} polls after retry_after");
    assert!(limiter.is_shared());
}

#[tokio::test]
async fn a_malformed_url_fails_at_start_without_echoing_the_password() {
    for url in [
        "not a url",
        "http://127.0.0.1:6379",
        "redis://user:hunter2@127.0.0.1:6379/notadb",
    ] {
        let err = RateLimiter::with_redis(url).await.expect_err(url);
        assert!(matches!(err, RateLimitError::InvalidRedisUrl(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}
