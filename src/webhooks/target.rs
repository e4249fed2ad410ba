//! Where webhooks may be sent: the endpoint URL rules, checked when an endpoint is
//! saved and again at every connection, and the HTTP client that sends them.
//!
//! The address rules are the gateway's (`src/gateway/upstream.rs`): https only
//! (http with `--gateway-allow-http`), and never loopback, private, link-local,
//! shared or metadata addresses (unless `--gateway-allow-private`, for development
//! and tests). The client resolves names through the gateway's
//! [`CheckedResolver`], so a DNS answer that changes after the endpoint was saved
//! cannot reach an internal address, and it follows no redirects.

use std::time::Duration;

use reqwest::Url;

use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::upstream::{
    self, AddressCheck, CheckedResolver, UpstreamPolicy, forbidden_reason, literal_ip,
};

/// Longest endpoint URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

const FIELD: &str = "url";

/// The URL rules in force: the gateway's dev flags.
pub fn policy(config: &Config) -> UpstreamPolicy {
    UpstreamPolicy {
        allow_http: config.gateway.gateway_allow_http,
        allow_private: config.gateway.gateway_allow_private,
    }
}

/// Parses an endpoint URL and checks its shape: scheme, host, no credentials.
pub fn parse_url(raw: &str, policy: UpstreamPolicy) -> Result<Url, ApiError> {
    if raw.is_empty() || raw.len() > MAX_URL_BYTES {
        return Err(ApiError::validation(
            FIELD,
            format!("must be 1 to {MAX_URL_BYTES} bytes"),
        ));
    }
    let url =
        Url::parse(raw).map_err(|_| ApiError::validation(FIELD, "must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(ApiError::validation(
                FIELD,
                "must use https (http needs --gateway-allow-http)",
            ));
        }
        _ => return Err(ApiError::validation(FIELD, "must be an https URL")),
    }
    if url.host().is_none() {
        return Err(ApiError::validation(FIELD, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::validation(FIELD, "must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(ApiError::validation(FIELD, "must not have a fragment"));
    }
    Ok(url)
}

/// Resolves the URL's host and refuses it if any address is forbidden. Connections
/// are checked again when sending ([`refusal`] and the client's resolver).
pub async fn check_addresses(url: &Url, policy: UpstreamPolicy) -> Result<(), ApiError> {
    let check = AddressCheck {
        field: FIELD,
        reacher: "webhooks",
    };
    upstream::check_addresses(url, policy, check).await
}

/// Why a stored URL may not be reached now (rules tightened since it was saved, or a
/// literal address, which no resolver sees), or `None` when it may be tried.
pub fn refusal(raw: &str, policy: UpstreamPolicy) -> Option<String> {
    let url = match parse_url(raw, policy) {
        Ok(url) => url,
        Err(err) => return Some(err.message().to_owned()),
    };
    if policy.allow_private {
        return None;
    }
    let ip = literal_ip(url.host_str().unwrap_or_default())?;
    forbidden_reason(ip).map(|reason| format!("the URL names {reason}"))
}

/// The delivery client: checked resolution, no redirects, no proxy, a total timeout.
pub fn client(policy: UpstreamPolicy, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(CheckedResolver {
            allow_private: policy.allow_private,
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("udam-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
