//! Settings of the server's edge: what it admits (rate limits, trusted proxies, the
//! header limit, CORS origins), what it exposes beside the API (the metrics
//! listener) and its housekeeping (the purge interval).
//!
//! Kept apart from the core settings so that each group reads on its own; the
//! flags are flattened into [`Config`](super::Config) and behave like every
//! other flag (`UDAM_*` fallback, global, validated while parsing).

use clap::Args;

use super::cors::CorsOrigins;
use super::metrics_bind::MetricsBind;
use super::{HumanDuration, Secret};
use crate::ratelimit::{Quota, TrustedProxies};

/// Rate limits, the metrics listener, CORS, the header limit and the purge task.
#[derive(Args, Clone, Debug)]
pub struct EdgeConfig {
    /// Requests per client address on every route, e.g. `300/min`, `10/s`, `5/15min`.
    #[arg(
        long,
        env = "UDAM_RATE_LIMIT_IP",
        default_value = "300/min",
        global = true
    )]
    pub rate_limit_ip: Quota,

    /// Login and registration attempts per client address (on top of `--rate-limit-ip`).
    #[arg(
        long,
        env = "UDAM_RATE_LIMIT_AUTH_IP",
        default_value = "20/min",
        global = true
    )]
    pub rate_limit_auth_ip: Quota,

    /// Login and registration attempts per email address, from any client address.
    #[arg(
        long,
        env = "UDAM_RATE_LIMIT_AUTH_EMAIL",
        default_value = "10/min",
        global = true
    )]
    pub rate_limit_auth_email: Quota,

    /// Orders created per signed-in user (`POST /api/v1/orders`).
    #[arg(
        long,
        env = "UDAM_RATE_LIMIT_ORDERS",
        default_value = "60/min",
        global = true
    )]
    pub rate_limit_orders: Quota,

    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses and CIDR blocks,
    /// comma-separated (e.g. `127.0.0.1,10.0.0.0/8`). Empty: the header is ignored.
    #[arg(long, env = "UDAM_TRUSTED_PROXIES", default_value = "", global = true)]
    pub trusted_proxies: TrustedProxies,

    /// Redis shared by all replicas for rate limits (`redis://[:PASSWORD@]HOST:PORT/DB`).
    /// Absent: each process limits on its own.
    #[arg(long, env = "UDAM_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<Secret>,

    /// Prefix of every rate-limit key in Redis, so several deployments can share one Redis.
    #[arg(
        long,
        env = "UDAM_REDIS_KEY_PREFIX",
        default_value = "udam:rl:",
        global = true
    )]
    pub redis_key_prefix: String,

    /// Address of the Prometheus `/metrics` listener, or `off`. Keep it private.
    #[arg(
        long,
        env = "UDAM_METRICS_BIND",
        default_value = "127.0.0.1:9090",
        global = true
    )]
    pub metrics_bind: MetricsBind,

    /// Browser origins allowed to call the API cross-origin, comma-separated and exact
    /// (e.g. `https://shop.example.com`). Empty: no CORS headers at all.
    #[arg(long, env = "UDAM_CORS_ORIGINS", default_value = "", global = true)]
    pub cors_origins: CorsOrigins,

    /// Largest total size of a request's headers, in bytes; larger gets 431.
    #[arg(long, env = "UDAM_HEADER_LIMIT", default_value_t = 16 * 1024, global = true)]
    pub header_limit: usize,

    /// How often expired sessions, day-old idempotency keys, webhook deliveries and
    /// events finished 30 days ago, and refund reports held 90 days are deleted
    /// (`0` disables).
    #[arg(
        long,
        env = "UDAM_PURGE_INTERVAL",
        default_value = "10m",
        global = true
    )]
    pub purge_interval: HumanDuration,
}

/// The defaults, as `udam` with no edge flags would have them (unit tests only).
#[cfg(test)]
pub(crate) fn test_defaults() -> EdgeConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        edge: EdgeConfig,
    }
    Cli::try_parse_from(["udam"]).expect("defaults parse").edge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let d = test_defaults();
        assert_eq!(d.rate_limit_ip, Quota::per_minute(300));
        assert_eq!(d.rate_limit_auth_ip, Quota::per_minute(20));
        assert_eq!(d.rate_limit_auth_email, Quota::per_minute(10));
        assert_eq!(d.rate_limit_orders, Quota::per_minute(60));
        assert!(d.trusted_proxies.is_empty());
        assert!(d.redis_url.is_none());
        assert_eq!(
            d.metrics_bind,
            MetricsBind::Addr("127.0.0.1:9090".parse().unwrap())
        );
        assert!(d.cors_origins.is_empty());
        assert_eq!(d.header_limit, 16 * 1024);
        assert_eq!(d.purge_interval.0, std::time::Duration::from_secs(600));
    }
}
