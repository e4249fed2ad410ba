//! What the limiter does when Redis is absent, goes away, hangs, and comes back.

use std::time::{Duration, Instant};

use super::log_capture::LogCapture;
use super::proxy::{Mode, Proxy};
use super::{eventually, isolated_options, redis_url};
use crate::ratelimit::{Quota, RateLimiter, RedisOptions};

#[tokio::test]
async fn unreachable_redis_at_start_still_limits_locally() {
    // Nothing listens on port 1.
    let limiter =
        RateLimiter::with_redis_options("redis://user:hunter2@127.0.0.1:1", isolated_options())
            .await
            .expect("an unreachable Redis is not a start-up error");
    assert!(!limiter.is_shared());

    let quota = Quota::per_minute(2);
    let allowed = [
        limiter.check("ip:192.0.2.1", quota).await.allowed,
        limiter.check("ip:192.0.2.1", quota).await.allowed,
        limiter.check("ip:192.0.2.1", quota).await.allowed,
    ];
    assert_eq!(allowed, [true, true, false]);
    assert!(!limiter.is_shared());
    assert!(!format!("{limiter:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_dead_redis_is_retried_every_few_seconds_not_per_request() {
    let proxy = Proxy::start(&redis_url()).await;
    proxy.set(Mode::Refuse);
    // Default retry interval (seconds), as in production.
    let options = RedisOptions {
        key_prefix: isolated_options().key_prefix,
        ..RedisOptions::default()
    };
    let limiter = RateLimiter::with_redis_options(&proxy.url(), options)
        .await
        .expect("limiter");
    let attempts_at_start = proxy.accepted();
    assert!(attempts_at_start >= 1, "start-up tried to connect");

    for _ in 0..200 {
        limiter.check("ip:192.0.2.2", Quota::per_second(1000)).await;
    }
    assert_eq!(
        proxy.accepted(),
        attempts_at_start,
        "no reconnect per request"
    );
    assert!(!limiter.is_shared());
}

#[tokio::test(flavor = "current_thread")]
async fn losing_redis_falls_back_warns_once_and_returns_when_it_answers() {
    let logs = LogCapture::start();
    let proxy = Proxy::start(&redis_url()).await;
    let limiter = RateLimiter::with_redis_options(&proxy.url(), isolated_options())
        .await
        .expect("limiter");
    assert!(limiter.is_shared());

    // Spend the whole shared budget while Redis is up.
    let quota = Quota::per_hour(2);
    assert!(limiter.check("account:7", quota).await.allowed);
    assert!(limiter.check("account:7", quota).await.allowed);
    assert!(!limiter.check("account:7", quota).await.allowed);

    proxy.set(Mode::Refuse);
    // Requests keep being answered, now by the in-process buckets (which
    // know nothing of the Redis budget: a fresh local allowance of two).
    let mut during_outage = Vec::new();
    for _ in 0..50 {
        during_outage.push(limiter.check("account:7", quota).await.allowed);
        // Give background reconnection attempts (every 50 ms) a chance to run and fail.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!limiter.is_shared());
    assert_eq!(
        during_outage.iter().filter(|a| **a).count(),
        2,
        "{during_outage:?}"
    );

    proxy.set(Mode::Forward);
    assert!(
        eventually(async || limiter
            .check("ip:192.0.2.3", Quota::per_second(1000))
            .await
            .allowed
            && limiter.is_shared())
        .await,
        "never went back to Redis"
    );
    // Back on Redis, the budget spent before the outage still counts.
    assert!(!limiter.check("account:7", quota).await.allowed);

    assert_eq!(logs.count("WARN", "lost Redis"), 1, "{}", logs.text());
    assert_eq!(logs.count("WARN", ""), 1, "{}", logs.text());
    assert_eq!(
        logs.count("INFO", "Redis answers again"),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_hung_redis_costs_one_short_timeout_not_a_stall() {
    let proxy = Proxy::start(&redis_url()).await;
    let limiter = RateLimiter::with_redis_options(&proxy.url(), isolated_options())
        .await
        .expect("limiter");
    assert!(limiter.is_shared());

    proxy.set(Mode::Hang);
    let started = Instant::now();
    let decision = limiter.check("ip:192.0.2.4", Quota::per_minute(5)).await;
    let first = started.elapsed();
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 4, "answered by a fresh local bucket");
    // The call timeout is 100 ms; allow generous slack for a loaded machine.
    assert!(
        first < Duration::from_secs(1),
        "first request took {first:?}"
    );
    assert!(!limiter.is_shared());

    // Later requests do not wait on Redis at all, even while probes hang.
    let started = Instant::now();
    for _ in 0..20 {
        limiter.check("ip:192.0.2.4", Quota::per_minute(5)).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}
