//! Which address a request counts against: the peer, or the client behind trusted proxies.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The header reverse proxies append the address of the client they served to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The set of proxy addresses whose `X-Forwarded-For` entries are believed.
///
/// Empty by default: then `X-Forwarded-For` is ignored entirely, because any
/// client can send one and would otherwise pick its own rate-limit bucket.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

/// One CIDR block, stored with its host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Network {
    V4 { bits: u32, prefix: u8 },
    V6 { bits: u128, prefix: u8 },
}

impl TrustedProxies {
    /// Trusts nobody: the client is always the peer address.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of addresses and CIDR blocks, IPv4 or
    /// IPv6, e.g. `127.0.0.1,10.0.0.0/8,::1,fd00::/8`. Blank entries are
    /// skipped, so an empty string trusts nobody. Host bits in a block are
    /// ignored (`10.1.2.3/8` means `10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` lies in one of the trusted blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for TrustedProxies {
    type Err = String;

    /// Same as [`TrustedProxies::parse`], so clap can read the flag directly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl fmt::Display for TrustedProxies {
    /// Writes the list in the form [`TrustedProxies::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net:?}")?;
        }
        Ok(())
    }
}

impl Network {
    fn parse(entry: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid trusted proxy {entry:?}: {why}");
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
        let prefix = prefix
            .map(|p| p.trim().parse::<u8>().map_err(|_| bad("bad prefix length")))
            .transpose()?;
        match addr {
            IpAddr::V4(v4) => {
                let prefix = prefix.unwrap_or(32);
                if prefix > 32 {
                    return Err(bad("IPv4 prefix length is at most 32"));
                }
                Ok(Self::v4(u32::from(v4), prefix))
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.unwrap_or(128);
                if prefix > 128 {
                    return Err(bad("IPv6 prefix length is at most 128"));
                }
                // Peers are compared in canonical form, so an IPv4-mapped block
                // (`::ffff:10.0.0.0/104`) must become the IPv4 block it names.
                match v6.to_ipv4_mapped() {
                    Some(v4) if prefix >= 96 => Ok(Self::v4(u32::from(v4), prefix - 96)),
                    _ => Ok(Self::v6(u128::from(v6), prefix)),
                }
            }
        }
    }

    fn v4(bits: u32, prefix: u8) -> Self {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Self::V4 {
            bits: bits & mask,
            prefix,
        }
    }

    fn v6(bits: u128, prefix: u8) -> Self {
        let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
        Self::V6 {
            bits: bits & mask,
            prefix,
        }
    }

    /// `ip` must already be canonical (IPv4-mapped IPv6 turned into IPv4).
    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4 { prefix, .. }, IpAddr::V4(v4)) => Self::v4(u32::from(v4), prefix) == self,
            (Self::V6 { prefix, .. }, IpAddr::V6(v6)) => Self::v6(u128::from(v6), prefix) == self,
            _ => false,
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::V4 { bits, prefix } => write!(f, "{}/{prefix}", std::net::Ipv4Addr::from(bits)),
            Self::V6 { bits, prefix } => write!(f, "{}/{prefix}", std::net::Ipv6Addr::from(bits)),
        }
    }
}

/// The address a request is attributed to.
///
/// If the peer is not a trusted proxy, that is the peer itself, whatever
/// `X-Forwarded-For` claims. If it is, `X-Forwarded-For` is walked from the
/// right (each proxy appends the address it received the request from),
/// skipping trusted proxies, and the first untrusted address is the client.
/// Entries left of that were written by the client and are never believed.
///
/// When the chain breaks (an entry that is not an address, or every entry is a
/// trusted proxy), the innermost address known to be genuine is returned:
/// that attributes the request to a proxy rather than to a name a client may
/// have made up. IPv4-mapped IPv6 addresses come back as IPv4.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut innermost = peer;
    // Several X-Forwarded-For lines form one list, in order.
    for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(line) = line.to_str() else {
            return innermost;
        };
        for entry in line.rsplit(',') {
            let Some(ip) = parse_forwarded_entry(entry) else {
                return innermost;
            };
            if !trusted.contains(ip) {
                return ip;
            }
            innermost = ip;
        }
    }
    innermost
}

/// One `X-Forwarded-For` entry: an address, tolerating the port or brackets
/// some proxies add (`1.2.3.4:5678`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, v.parse().expect("header value"));
        }
        headers
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).expect("trusted list")
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_and_xff_is_ignored() {
        let headers = xff(&["6.6.6.6"]);
        assert_eq!(
            client_ip(ip("203.0.113.7"), &headers, &TrustedProxies::none()),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_xff_from_an_untrusted_peer_is_ignored() {
        let proxies = trusted("10.0.0.0/8");
        let headers = xff(&["1.1.1.1, 10.0.0.5"]);
        assert_eq!(
            client_ip(ip("198.51.100.9"), &headers, &proxies),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let proxies = trusted("127.0.0.1,10.0.0.0/8");
        // The client forged "6.6.6.6"; the edge proxy appended the real peer.
        let headers = xff(&["6.6.6.6, 203.0.113.7, 10.1.2.3"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn multiple_xff_lines_are_one_list() {
        let proxies = trusted("10.0.0.0/8");
        let headers = xff(&["6.6.6.6, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &proxies),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn trusted_peer_without_xff_is_the_client() {
        let proxies = trusted("127.0.0.1");
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &proxies),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn broken_or_all_trusted_chain_stops_at_the_innermost_genuine_address() {
        let proxies = trusted("10.0.0.0/8");
        let garbage = xff(&["203.0.113.7, unknown, 10.0.0.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &garbage, &proxies),
            ip("10.0.0.9")
        );
        let all_trusted = xff(&["10.0.0.8, 10.0.0.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &all_trusted, &proxies),
            ip("10.0.0.8")
        );
    }

    #[test]
    fn ipv6_peers_proxies_and_clients() {
        let proxies = trusted("::1, fd00::/8");
        let headers = xff(&["2001:db8::1, fd00::2"]);
        assert_eq!(client_ip(ip("::1"), &headers, &proxies), ip("2001:db8::1"));
        // An untrusted IPv6 peer is the client whatever it forwards.
        assert_eq!(
            client_ip(ip("2001:db8::99"), &headers, &proxies),
            ip("2001:db8::99")
        );
        // Bracketed entries with ports, as some proxies write them.
        let ported = xff(&["[2001:db8::5]:4711"]);
        assert_eq!(
            client_ip(ip("fd00::1"), &ported, &proxies),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        let proxies = trusted("127.0.0.1");
        let headers = xff(&["::ffff:203.0.113.7"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &headers, &proxies),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(
                ip("::ffff:198.51.100.1"),
                &HeaderMap::new(),
                &TrustedProxies::none()
            ),
            ip("198.51.100.1")
        );
        assert!(trusted("::ffff:10.0.0.0/104").contains(ip("10.200.0.1")));
    }

    #[test]
    fn entries_with_ports_are_understood() {
        let proxies = trusted("10.0.0.1");
        let headers = xff(&["203.0.113.7:51234"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &proxies),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn parses_addresses_and_blocks_and_rejects_nonsense() {
        let list = trusted(" 127.0.0.1 , 10.1.2.3/8,, ::1,2001:db8::/32 ");
        assert_eq!(
            list.to_string(),
            "127.0.0.1/32,10.0.0.0/8,::1/128,2001:db8::/32"
        );
        assert!(list.contains(ip("10.255.0.1")));
        assert!(!list.contains(ip("11.0.0.1")));
        assert!(list.contains(ip("2001:db8:ffff::1")));
        assert!(!list.contains(ip("2001:db9::1")));
        assert!(trusted("").is_empty());
        assert_eq!(
            "10.0.0.0/8".parse::<TrustedProxies>(),
            Ok(trusted("10.0.0.0/8"))
        );
        assert!(trusted("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!trusted("0.0.0.0/0").contains(ip("2001:db8::1")));
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "1.2.3.4/",
        ] {
            let err = TrustedProxies::parse(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
