//! Settings of the guard rails: rate limits, metrics, CORS, header limit, purge.
//!
//! Kept apart from the core settings so that each group reads on its own; the
//! flags are flattened into [`Config`](super::Config) and behave like every
//! other flag (`UDAM_*` fallback, global, validated while parsing).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::http::{HeaderValue, Uri};
use clap::Args;

use super::{HumanDuration, Secret};
use crate::ratelimit::{Quota, TrustedProxies};

/// Rate limits, the metrics listener, CORS, the header limit and the purge task.
#[derive(Args, Clone, Debug)]
pub struct GuardConfig {
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

    /// How often expired sessions and day-old idempotency keys are deleted (`0` disables).
    #[arg(
        long,
        env = "UDAM_PURGE_INTERVAL",
        default_value = "10m",
        global = true
    )]
    pub purge_interval: HumanDuration,
}

/// Where the metrics listener binds, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsBind {
    /// No metrics listener and no recorder: metric calls cost nothing.
    Off,
    /// Listen on this address (`127.0.0.1:0` picks a free port).
    Addr(SocketAddr),
}

impl FromStr for MetricsBind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::Addr)
            .map_err(|_| format!("`{s}` is neither `off` nor an address like 127.0.0.1:9090"))
    }
}

/// Exact origins allowed by CORS, as they appear in an `Origin` header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    /// The allowed origins; empty when CORS is off.
    pub fn origins(&self) -> &[HeaderValue] {
        &self.0
    }

    /// Whether CORS is off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for CorsOrigins {
    type Err = String;

    /// Parses `https://a.example,http://localhost:3000`. Each entry must be a bare
    /// origin (scheme, host, optional port): a browser sends exactly that, so a path,
    /// a trailing slash or a wildcard could never match and is refused here instead.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

fn parse_origin(entry: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| format!("invalid CORS origin {entry:?}: {why}");
    let uri: Uri = entry
        .parse()
        .map_err(|_| bad("expected e.g. https://shop.example.com"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(bad("a host is required"));
    }
    // `Uri` reports "/" for both "https://a" and "https://a/", so look at the text.
    let after_scheme = entry.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains(['/', '?', '#', '*']) {
        return Err(bad(
            "only scheme://host[:port], without path, slash or wildcard",
        ));
    }
    HeaderValue::from_str(&entry.to_ascii_lowercase()).map_err(|_| bad("not a valid header value"))
}

impl fmt::Debug for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| v.to_str().unwrap_or("?")))
            .finish()
    }
}

/// The defaults, as `udam` with no guard flags would have them (unit tests only).
#[cfg(test)]
pub(crate) fn test_defaults() -> GuardConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        guard: GuardConfig,
    }
    Cli::try_parse_from(["udam"]).expect("defaults parse").guard
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

    #[test]
    fn metrics_bind_is_an_address_or_off() {
        assert_eq!("off".parse::<MetricsBind>(), Ok(MetricsBind::Off));
        assert_eq!(" OFF ".parse::<MetricsBind>(), Ok(MetricsBind::Off));
        assert_eq!(
            "127.0.0.1:9090".parse::<MetricsBind>(),
            Ok(MetricsBind::Addr("127.0.0.1:9090".parse().unwrap()))
        );
        assert!("9090".parse::<MetricsBind>().is_err());
        assert!("localhost:9090".parse::<MetricsBind>().is_err());
    }

    #[test]
    fn cors_origins_accept_bare_origins_only() {
        let list: CorsOrigins = " https://Shop.example.com , http://localhost:3000,"
            .parse()
            .unwrap();
        assert_eq!(
            format!("{list:?}"),
            r#"["https://shop.example.com", "http://localhost:3000"]"#
        );
        assert!("".parse::<CorsOrigins>().unwrap().is_empty());
        for bad in [
            "*",
            "shop.example.com",
            "ftp://x.example",
            "https://x.example/",
            "https://x.example/app",
            "https://*.example.com",
            "https://",
        ] {
            let err = bad.parse::<CorsOrigins>().expect_err(bad);
            assert!(err.contains("invalid CORS origin"), "{bad}: {err}");
        }
    }
}
