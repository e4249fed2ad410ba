//! Which upstreams the gateway may reach: the rules for a seller's
//! `upstream_base_url`, checked when it is saved and again when connecting.
//!
//! An upstream must be `https` (`http` only with `--gateway-allow-http`), and every
//! address its host resolves to must be public: loopback, private, link-local,
//! shared (CGNAT), unspecified, multicast and cloud-metadata addresses are refused,
//! in all their IPv6 spellings (IPv4-mapped, NAT64, 6to4), unless
//! `--gateway-allow-private`. At connect time [`CheckedResolver`] resolves the name
//! once, refuses the whole answer if any address is forbidden, and hands the
//! checked addresses to the connector, so a DNS answer that changes between the
//! check and the connection (rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::ApiError;

/// Longest upstream base URL accepted, in bytes.
pub const MAX_UPSTREAM_URL_BYTES: usize = 2048;

/// The request field an upstream base URL comes in, named by its validation errors.
pub const UPSTREAM_FIELD: &str = "gateway.upstream_base_url";

/// What the gateway may connect to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpstreamPolicy {
    /// `--gateway-allow-http`.
    pub allow_http: bool,
    /// `--gateway-allow-private`.
    pub allow_private: bool,
}

/// Why an address may not be an upstream, or `None` when it may.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    // AWS/GCP/Azure/OpenStack, Alibaba, and Azure's WireServer.
    if ip == Ipv4Addr::new(169, 254, 169, 254)
        || ip == Ipv4Addr::new(100, 100, 100, 200)
        || ip == Ipv4Addr::new(168, 63, 129, 16)
    {
        return Some("a cloud metadata address");
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 0 || ip.is_broadcast() {
        Some("an unspecified or broadcast address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_multicast() || a >= 240 {
        Some("a multicast or reserved address")
    } else if a == 198 && (18..20).contains(&b) {
        Some("a benchmarking address")
    } else if [a, b, ip.octets()[2]] == [192, 0, 0] {
        Some("an IETF protocol assignment address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4 carried inside IPv6: mapped (::ffff:a.b.c.d), translated
    // (::ffff:0:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d and the
    // local-use 64:ff9b:1::/48) and 6to4 (2002:AABB:CCDD::) reach the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return forbidden_v4(embedded(segments[6], segments[7]));
    }
    let translated = segments[..6] == [0, 0, 0, 0, 0xffff, 0];
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if translated || nat64 {
        return forbidden_v4(embedded(segments[6], segments[7]));
    }
    if segments[..3] == [0x64, 0xff9b, 1] {
        // Local-use NAT64 (RFC 8215): the prefix length is the network's choice, so
        // the embedded address is not known; refuse the whole range.
        return Some("a local-use NAT64 address");
    }
    if segments[0] == 0x2002 {
        return forbidden_v4(embedded(segments[1], segments[2]));
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        // Unique local, which includes AWS's metadata address fd00:ec2::254.
        Some("a private (unique local) address")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some("a link-local or site-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// Parses and checks an upstream base URL's shape: scheme, host, no credentials,
/// query or fragment. Its addresses are checked by [`check_addresses`].
pub fn parse_base_url(raw: &str, policy: UpstreamPolicy) -> Result<Url, ApiError> {
    if raw.is_empty() || raw.len() > MAX_UPSTREAM_URL_BYTES {
        return Err(ApiError::validation(
            UPSTREAM_FIELD,
            format!("must be 1 to {MAX_UPSTREAM_URL_BYTES} bytes"),
        ));
    }
    let url = Url::parse(raw)
        .map_err(|_| ApiError::validation(UPSTREAM_FIELD, "must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(ApiError::validation(
                UPSTREAM_FIELD,
                "must use https (http needs --gateway-allow-http)",
            ));
        }
        _ => return Err(ApiError::validation(UPSTREAM_FIELD, "must be an https URL")),
    }
    if url.host().is_none() {
        return Err(ApiError::validation(UPSTREAM_FIELD, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::validation(
            UPSTREAM_FIELD,
            "must not carry credentials; set the seller key instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::validation(
            UPSTREAM_FIELD,
            "must not have a query or fragment",
        ));
    }
    Ok(url)
}

/// Where a checked URL came from and who would connect to it: the wording of a
/// refused address.
#[derive(Clone, Copy, Debug)]
pub struct AddressCheck {
    /// The request field the URL came in, for the error envelope.
    pub field: &'static str,
    /// Who would connect, as the refusal says it: "the gateway", "webhooks".
    pub reacher: &'static str,
}

/// Resolves the URL's host and refuses it if any address is forbidden (unless the
/// policy allows private addresses). Used when a seller saves an upstream or a user
/// an endpoint; connections are checked again by [`CheckedResolver`].
pub async fn check_addresses(
    url: &Url,
    policy: UpstreamPolicy,
    check: AddressCheck,
) -> Result<(), ApiError> {
    if policy.allow_private {
        return Ok(());
    }
    let unresolved = || ApiError::validation(check.field, "the host does not resolve");
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match literal_ip(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| unresolved())?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(unresolved());
    }
    for addr in addrs {
        if let Some(reason) = forbidden_reason(addr.ip()) {
            return Err(ApiError::validation(
                check.field,
                format!(
                    "the host resolves to {reason}, which {} may not reach",
                    check.reacher
                ),
            ));
        }
    }
    Ok(())
}

/// The IP address a URL host names literally (`[::1]` included), if it does.
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A connection refused because the upstream's address is forbidden.
#[derive(Debug, thiserror::Error)]
#[error("the upstream resolves to {0}, which the gateway may not reach")]
pub struct ForbiddenUpstream(pub &'static str);

/// The gateway client's DNS resolver: every answer is checked before it is used.
#[derive(Clone, Copy, Debug)]
pub struct CheckedResolver {
    /// Skip the check (`--gateway-allow-private`).
    pub allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // Port 0: the connector sets the URL's port on each address.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !allow_private {
                for addr in &addrs {
                    if let Some(reason) = forbidden_reason(addr.ip()) {
                        return Err(Box::new(ForbiddenUpstream(reason)) as _);
                    }
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        forbidden_reason(s.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        for addr in [
            "127.0.0.1",
            "127.8.9.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:7f00:1",
            "168.63.129.16",
            "192.0.0.8",
            "2002:7f00:1::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
        ] {
            assert!(forbidden(addr), "{addr} must be refused");
        }
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
        ] {
            assert!(!forbidden(addr), "{addr} is public");
        }
    }

    #[test]
    fn base_urls_must_be_https_without_credentials() {
        let strict = UpstreamPolicy::default();
        assert!(parse_base_url("https://api.example.com/v1", strict).is_ok());
        assert!(parse_base_url("http://api.example.com", strict).is_err());
        let dev = UpstreamPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(parse_base_url("http://api.example.com", dev).is_ok());
        assert!(parse_base_url("ftp://api.example.com", dev).is_err());
        assert!(parse_base_url("https://u:p@api.example.com", strict).is_err());
        assert!(parse_base_url("https://api.example.com/?a=1", strict).is_err());
        assert!(parse_base_url("not a url", strict).is_err());
    }
}
