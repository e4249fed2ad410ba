//! Settings of the metered gateway (docs/GATEWAY.md): where it listens, which
//! upstreams it may reach, and its timeouts.

use std::net::SocketAddr;
use std::str::FromStr;

use clap::Args;

use super::HumanDuration;
use crate::ratelimit::Quota;

/// Where the gateway listener binds, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayBind {
    /// No gateway listener (gateway listings then cannot be called on this process).
    Off,
    /// Listen on this address (`127.0.0.1:0` picks a free port).
    Addr(SocketAddr),
}

impl FromStr for GatewayBind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::Addr)
            .map_err(|_| format!("`{s}` is neither `off` nor an address like 127.0.0.1:8081"))
    }
}

/// The gateway's settings.
#[derive(Args, Clone, Debug)]
pub struct GatewayConfig {
    /// Address of the gateway listener (its own origin: no UDAM page or cookie is
    /// served there), or `off`.
    #[arg(
        long,
        env = "UDAM_GATEWAY_BIND",
        default_value = "127.0.0.1:8081",
        global = true
    )]
    pub gateway_bind: GatewayBind,

    /// Public base URL of the gateway, shown to buyers (default: http:// plus the
    /// gateway's bound address).
    #[arg(long, env = "UDAM_GATEWAY_PUBLIC_URL", global = true)]
    pub gateway_public_url: Option<String>,

    /// Allow `http://` upstreams (development only; https otherwise).
    #[arg(long, env = "UDAM_GATEWAY_ALLOW_HTTP", global = true)]
    pub gateway_allow_http: bool,

    /// Allow upstreams on loopback, private, link-local and metadata addresses
    /// (development and tests only).
    #[arg(long, env = "UDAM_GATEWAY_ALLOW_PRIVATE", global = true)]
    pub gateway_allow_private: bool,

    /// Longest wait for an upstream connection; past it the request gets 504 and is
    /// not counted.
    #[arg(
        long,
        env = "UDAM_GATEWAY_CONNECT_TIMEOUT",
        default_value = "5s",
        global = true
    )]
    pub gateway_connect_timeout: HumanDuration,

    /// Longest wait for the upstream's response head; past it the request gets 504
    /// and is not counted. Bodies then stream without a total limit.
    #[arg(
        long,
        env = "UDAM_GATEWAY_UPSTREAM_TIMEOUT",
        default_value = "30s",
        global = true
    )]
    pub gateway_upstream_timeout: HumanDuration,

    /// How often each process writes its per-minute usage counts.
    #[arg(
        long,
        env = "UDAM_GATEWAY_USAGE_FLUSH",
        default_value = "1s",
        global = true
    )]
    pub gateway_usage_flush: HumanDuration,

    /// How long a gateway lease (a block of a key's requests held by this process)
    /// lives past its last renewal; a crashed process's leases come back after it.
    #[arg(
        long,
        env = "UDAM_GATEWAY_LEASE_TTL",
        default_value = "10s",
        global = true
    )]
    pub gateway_lease_ttl: HumanDuration,

    /// A lease unused this long is returned to the allowance.
    #[arg(
        long,
        env = "UDAM_GATEWAY_LEASE_IDLE",
        default_value = "2s",
        global = true
    )]
    pub gateway_lease_idle: HumanDuration,

    /// Requests a process may serve from a lease beyond its last flushed count
    /// before it must flush, for small leases; a large lease gets a sixteenth of its
    /// block, up to 256 (docs/GATEWAY.md, "Leases"). What a crash can leave in doubt
    /// per lease is that window.
    #[arg(
        long,
        env = "UDAM_GATEWAY_LEASE_WINDOW",
        default_value_t = 16,
        value_parser = clap::value_parser!(i64).range(1..=256),
        global = true
    )]
    pub gateway_lease_window: i64,

    /// How long a gateway process reuses a key's route (key, grants, listing
    /// settings) read from the database before reading it again; `0s` reads it on
    /// every request. Revokes, rolls and listing changes reach every process within
    /// this time (kept under 1 s).
    #[arg(
        long,
        env = "UDAM_GATEWAY_ROUTE_CACHE",
        default_value = "500ms",
        value_parser = parse_route_cache,
        global = true
    )]
    pub gateway_route_cache: HumanDuration,

    /// Well-formed keys that no buyer holds, per client address (each costs a
    /// database read); past it the address gets 429 until the limit refills, except
    /// for keys whose route the process holds already.
    #[arg(
        long,
        env = "UDAM_GATEWAY_UNKNOWN_KEY_LIMIT",
        default_value = "60/min",
        global = true
    )]
    pub gateway_unknown_key_limit: Quota,
}

/// The route cache's lifetime: at most 900 ms, so that a revoke or a roll reaches
/// every process within a second.
fn parse_route_cache(s: &str) -> Result<HumanDuration, String> {
    let d: HumanDuration = s.parse()?;
    if d.0 > std::time::Duration::from_millis(900) {
        return Err("must be at most 900ms (revokes must apply within 1 s)".to_owned());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_bind_is_an_address_or_off() {
        assert_eq!("off".parse::<GatewayBind>(), Ok(GatewayBind::Off));
        assert_eq!(
            "127.0.0.1:8081".parse::<GatewayBind>(),
            Ok(GatewayBind::Addr("127.0.0.1:8081".parse().unwrap()))
        );
        assert!("8081".parse::<GatewayBind>().is_err());
    }

    #[test]
    fn the_route_cache_stays_under_a_second() {
        assert!(parse_route_cache("0s").is_ok());
        assert!(parse_route_cache("900ms").is_ok());
        assert!(parse_route_cache("1s").is_err());
    }
}
