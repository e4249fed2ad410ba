//! How a listing is delivered: the seller's key itself (`key`), or through the
//! metered gateway (`gateway`), whose settings are checked here.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::gateway::costs::{self, RouteCost};
use crate::gateway::upstream::{
    AddressCheck, UPSTREAM_FIELD, UpstreamPolicy, check_addresses, parse_base_url,
};
use crate::gateway::vocab::Meter;
use crate::vocab::Delivery;

/// Most requests one unit may stand for.
pub const MAX_REQUESTS_PER_UNIT: i64 = 1_000_000_000;
/// Highest per-key rate limit a seller may set, in requests per minute.
pub const MAX_RATE_LIMIT_PER_MINUTE: i64 = 1_000_000;

/// The `gateway` object of a new listing (with `delivery: "gateway"`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayInput {
    /// `https://` base URL of the seller's API (`http` only with
    /// `--gateway-allow-http`); no credentials, query or fragment. Its host must not
    /// resolve to a loopback, private, link-local or metadata address.
    #[schema(example = "https://api.weather.example/v2", max_length = 2048)]
    pub upstream_base_url: String,
    /// Header the seller's key goes into (default `Authorization`, unless
    /// `inject_query` is set).
    #[schema(example = "Authorization", max_length = 64)]
    pub inject_header: Option<String>,
    /// The header's value; `{key}` is replaced by the seller's key (default
    /// `Bearer {key}` for `Authorization`, `{key}` otherwise).
    #[schema(example = "Bearer {key}", max_length = 256)]
    pub inject_template: Option<String>,
    /// Query parameter the seller's key goes into, instead of a header.
    #[schema(example = "api_key", max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub inject_query: Option<String>,
    /// Requests one unit buys, 1 to 1,000,000,000.
    #[schema(example = 1000, minimum = 1, maximum = 1000000000)]
    #[serde(deserialize_with = "crate::extract::json_int::int")]
    pub requests_per_unit: i64,
    /// Which answers are charged (default `all`).
    pub meter: Option<Meter>,
    /// Requests per minute one buyer key may make (1 to 1,000,000; default none).
    /// Shared by every replica through Redis when `--redis-url` is set. Past it the
    /// gateway answers 429 with `Retry-After`, and nothing is taken from the allowance.
    #[schema(example = 600, minimum = 1, maximum = 1000000)]
    #[serde(default, deserialize_with = "crate::extract::json_int::opt_int")]
    pub rate_limit_per_minute: Option<i64>,
    /// Requests a call takes from the allowance, per path prefix (longest prefix
    /// wins; other paths cost 1); at most 32.
    pub route_costs: Option<Vec<RouteCost>>,
}

/// The `gateway` object of `PATCH /listings/{id}`: every field optional. What it
/// changes applies to requests from then on; grants already sold keep the requests
/// they were bought with (a new `requests_per_unit` applies to later purchases).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayPatch {
    /// A new upstream base URL, checked like the first (addresses included).
    #[schema(max_length = 2048)]
    pub upstream_base_url: Option<String>,
    /// With `inject_template` and `inject_query`: a new way to inject the seller's
    /// key. Giving any of the three replaces the injection as a whole, with the same
    /// defaults as at creation.
    #[schema(max_length = 64)]
    pub inject_header: Option<String>,
    /// See `inject_header`.
    #[schema(max_length = 256)]
    pub inject_template: Option<String>,
    /// See `inject_header`.
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub inject_query: Option<String>,
    /// Requests one unit buys from now on (grants already sold keep theirs).
    #[schema(minimum = 1, maximum = 1000000000)]
    #[serde(default, deserialize_with = "crate::extract::json_int::opt_int")]
    pub requests_per_unit: Option<i64>,
    /// Which answers are charged from now on.
    pub meter: Option<Meter>,
    /// A per-key rate limit (1 to 1,000,000 per minute); 0 removes it.
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(default, deserialize_with = "crate::extract::json_int::opt_int")]
    pub rate_limit_per_minute: Option<i64>,
    /// Replaces the route costs (`[]` removes them).
    pub route_costs: Option<Vec<RouteCost>>,
}

/// Checked gateway settings, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Upstream base URL, as given.
    pub upstream_base_url: String,
    /// Header name, if the key goes in a header.
    pub inject_header: Option<String>,
    /// Header value template.
    pub inject_template: Option<String>,
    /// Query parameter, if the key goes in the query.
    pub inject_query: Option<String>,
    /// Requests per unit.
    pub requests_per_unit: i64,
    /// Which answers count.
    pub meter: Meter,
    /// Requests per minute per buyer key, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// Costs per route prefix.
    pub route_costs: Vec<RouteCost>,
}

/// Headers a seller may not choose for the key: they belong to the connection.
const RESERVED_HEADERS: [&str; 14] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "x-udam-key",
    "cookie",
];

/// Checks a new listing's delivery: `gateway` settings are required with
/// `delivery: "gateway"` and refused otherwise.
pub async fn check(
    delivery: Option<Delivery>,
    gateway: Option<GatewayInput>,
    policy: UpstreamPolicy,
) -> Result<(Delivery, Option<GatewaySettings>), ApiError> {
    match (delivery.unwrap_or(Delivery::Key), gateway) {
        (Delivery::Key, None) => Ok((Delivery::Key, None)),
        (Delivery::Key, Some(_)) => Err(ApiError::validation(
            "gateway",
            "is only for listings with `delivery: \"gateway\"`",
        )),
        (Delivery::Gateway, None) => Err(ApiError::validation(
            "gateway",
            "is required with `delivery: \"gateway\"`",
        )),
        (Delivery::Gateway, Some(input)) => {
            Ok((Delivery::Gateway, Some(check_gateway(input, policy).await?)))
        }
    }
}

/// Checks an upstream base URL (shape, then addresses).
pub async fn check_upstream(raw: &str, policy: UpstreamPolicy) -> Result<String, ApiError> {
    let url = parse_base_url(raw, policy)?;
    let check = AddressCheck {
        field: UPSTREAM_FIELD,
        reacher: "the gateway",
    };
    check_addresses(&url, policy, check).await?;
    Ok(raw.to_owned())
}

fn check_requests_per_unit(requests_per_unit: i64) -> Result<i64, ApiError> {
    if !(1..=MAX_REQUESTS_PER_UNIT).contains(&requests_per_unit) {
        return Err(ApiError::validation(
            "gateway.requests_per_unit",
            format!("must be 1 to {MAX_REQUESTS_PER_UNIT}"),
        ));
    }
    Ok(requests_per_unit)
}

fn check_rate_limit(per_minute: i64) -> Result<i64, ApiError> {
    if !(1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&per_minute) {
        return Err(ApiError::validation(
            "gateway.rate_limit_per_minute",
            format!("must be 1 to {MAX_RATE_LIMIT_PER_MINUTE}"),
        ));
    }
    Ok(per_minute)
}

/// The settings a `PATCH` leaves: `current` with `patch` applied and checked (a new
/// upstream URL is checked again, addresses included).
pub async fn apply_patch(
    current: GatewaySettings,
    patch: GatewayPatch,
    policy: UpstreamPolicy,
) -> Result<GatewaySettings, ApiError> {
    let mut next = current;
    if let Some(raw) = patch.upstream_base_url.as_deref() {
        next.upstream_base_url = check_upstream(raw, policy).await?;
    }
    if patch.inject_header.is_some()
        || patch.inject_template.is_some()
        || patch.inject_query.is_some()
    {
        (next.inject_header, next.inject_template, next.inject_query) = injection(
            patch.inject_header,
            patch.inject_template,
            patch.inject_query,
        )?;
    }
    if let Some(n) = patch.requests_per_unit {
        next.requests_per_unit = check_requests_per_unit(n)?;
    }
    if let Some(meter) = patch.meter {
        next.meter = meter;
    }
    match patch.rate_limit_per_minute {
        None => {}
        Some(0) => next.rate_limit_per_minute = None,
        Some(n) => next.rate_limit_per_minute = Some(check_rate_limit(n)?),
    }
    if let Some(route_costs) = patch.route_costs {
        next.route_costs = costs::check(route_costs)?;
    }
    Ok(next)
}

async fn check_gateway(
    input: GatewayInput,
    policy: UpstreamPolicy,
) -> Result<GatewaySettings, ApiError> {
    check_requests_per_unit(input.requests_per_unit)?;
    let rate_limit_per_minute = input
        .rate_limit_per_minute
        .map(check_rate_limit)
        .transpose()?;
    let route_costs = costs::check(input.route_costs.unwrap_or_default())?;
    let (inject_header, inject_template, inject_query) = injection(
        input.inject_header,
        input.inject_template,
        input.inject_query,
    )?;
    let upstream_base_url = check_upstream(&input.upstream_base_url, policy).await?;
    Ok(GatewaySettings {
        upstream_base_url,
        inject_header,
        inject_template,
        inject_query,
        requests_per_unit: input.requests_per_unit,
        meter: input.meter.unwrap_or(Meter::All),
        rate_limit_per_minute,
        route_costs,
    })
}

type Injection = (Option<String>, Option<String>, Option<String>);

/// Exactly one way to inject the key: a header (name + template) or a query parameter.
fn injection(
    header: Option<String>,
    template: Option<String>,
    query: Option<String>,
) -> Result<Injection, ApiError> {
    if let Some(query) = query {
        if header.is_some() || template.is_some() {
            return Err(ApiError::validation(
                "gateway.inject_query",
                "choose a header or a query parameter, not both",
            ));
        }
        let ok = (1..=64).contains(&query.len())
            && query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(ApiError::validation(
                "gateway.inject_query",
                "must be 1 to 64 letters, digits, `_`, `.` or `-`",
            ));
        }
        return Ok((None, None, Some(query)));
    }
    let header = header.unwrap_or_else(|| "Authorization".to_owned());
    let token = (1..=64).contains(&header.len())
        && header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token || RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
        return Err(ApiError::validation(
            "gateway.inject_header",
            "must be a header name (1 to 64 token characters) that is not about the connection",
        ));
    }
    let template = template.unwrap_or_else(|| {
        if header.eq_ignore_ascii_case("authorization") {
            "Bearer {key}".to_owned()
        } else {
            "{key}".to_owned()
        }
    });
    let printable = template.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if template.len() > 256 || !printable || template.matches("{key}").count() != 1 {
        return Err(ApiError::validation(
            "gateway.inject_template",
            "must be printable ASCII, at most 256 bytes, holding `{key}` once",
        ));
    }
    Ok((Some(header), Some(template), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_defaults_to_a_bearer_header_and_refuses_both_ways() {
        assert_eq!(
            injection(None, None, None).ok(),
            Some((
                Some("Authorization".to_owned()),
                Some("Bearer {key}".to_owned()),
                None
            ))
        );
        assert_eq!(
            injection(Some("X-Api-Key".into()), None, None).ok(),
            Some((Some("X-Api-Key".to_owned()), Some("{key}".to_owned()), None))
        );
        assert!(injection(Some("Host".into()), None, None).is_err());
        assert!(injection(None, Some("no placeholder".into()), None).is_err());
        assert!(injection(Some("X-A".into()), None, Some("k".into())).is_err());
        assert!(injection(None, None, Some("api key".into())).is_err());
    }
}

/// Each listing's delivery mode, remembered once read. A listing's mode is fixed when
/// it is created (`PATCH` cannot change it), so the answer to a purchase of a key
/// listing, by far the most common, needs no query to learn that it issues no
/// gateway key.
#[derive(Clone)]
pub struct Deliveries(moka::future::Cache<String, Delivery>);

impl Deliveries {
    /// An empty memory of at most 100,000 listings.
    pub fn new() -> Self {
        Self(moka::future::Cache::new(100_000))
    }

    /// The mode of `listing`, if read before.
    pub async fn get(&self, listing: &str) -> Option<Delivery> {
        self.0.get(listing).await
    }

    /// Remembers the mode of `listing`.
    pub async fn remember(&self, listing: &str, delivery: Delivery) {
        self.0.insert(listing.to_owned(), delivery).await;
    }
}

impl Default for Deliveries {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("entries", &self.0.entry_count())
            .finish()
    }
}
