//! Rate limiting: GCRA buckets, in-process or shared through Redis.
//!
//! * [`Quota`] says how much a bucket may send ("60/min"); [`RateLimiter::check`]
//!   spends one request from a named bucket and returns a [`Decision`], whose
//!   [`Decision::headers`] are what a 429 (or any) response should carry.
//! * [`client_ip`] finds the address to limit, believing `X-Forwarded-For`
//!   only from [`TrustedProxies`].
//! * The algorithm (`gcra`) is pure arithmetic on (TAT, now, quota); the local
//!   store (`local`) and Redis (`redis_store`, `gcra.lua`) only keep TATs.
//!
//! With Redis configured, every process shares each bucket, and Redis's own
//! clock decides, so process clocks do not matter. If Redis goes away the
//! limiter keeps answering from in-process buckets (a looser, per-process
//! limit) rather than failing requests or letting everything through.

mod bucket;
mod client_ip;
mod decision;
mod gcra;
mod limiter;
mod local;
mod quota;
mod redis_store;

#[cfg(test)]
mod tests;

pub use bucket::{client_bucket_id, client_bucket_id_of, email_digest};
pub use client_ip::{TrustedProxies, client_ip};
pub use decision::{Decision, RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
pub use limiter::{RATE_LIMITED_METRIC, RateLimitError, RateLimiter};
pub use quota::Quota;
pub use redis_store::RedisOptions;
