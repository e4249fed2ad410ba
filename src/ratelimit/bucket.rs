//! Bucket names: which client a request comes from, and a digest of an email.
//!
//! Both the API's rate-limit middleware and the web forms name their buckets with
//! these, so that a form is no side door around an API limit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap};
use sha2::{Digest, Sha256};

use super::{TrustedProxies, client_ip};

/// The client part of a bucket name: the address, or its /64 for IPv6.
pub fn client_bucket_id(request: &Request, trusted_proxies: &TrustedProxies) -> String {
    client_bucket_id_of(request.extensions(), request.headers(), trusted_proxies)
}

/// [`client_bucket_id`] from a request's extensions and headers (for a handler that
/// has taken the request apart).
pub fn client_bucket_id_of(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted_proxies: &TrustedProxies,
) -> String {
    // The server always runs with connect info; without it (a router driven
    // in-process) every request shares one bucket rather than going unlimited.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    match client_ip(peer, headers, trusted_proxies) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)));
            format!("{network}/64")
        }
    }
}

/// SHA-256 hex of a normalized email: a short, fixed-length bucket id that
/// does not put the address itself into Redis.
pub fn email_digest(email: &str) -> String {
    hex::encode(Sha256::digest(email.as_bytes()))
}
