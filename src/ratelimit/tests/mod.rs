//! Tests of the limiter against a real Redis (`UDAM_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), directly or through a proxy the test can break.

mod fallback;
mod log_capture;
mod proxy;
mod redis_shared;

use std::time::Duration;

use super::RedisOptions;

/// The Redis the tests share.
fn redis_url() -> String {
    std::env::var("UDAM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Options with a key prefix no other test (or run) uses, so tests sharing
/// one Redis never see each other's buckets.
fn isolated_options() -> RedisOptions {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random prefix");
    RedisOptions {
        key_prefix: format!("udam-test:{}:", hex::encode(bytes)),
        // Short, so outage tests see retries within milliseconds.
        retry_interval: Duration::from_millis(50),
        ..RedisOptions::default()
    }
}

/// Polls `done` every few milliseconds for up to five seconds; whether it became true.
async fn eventually(mut done: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
