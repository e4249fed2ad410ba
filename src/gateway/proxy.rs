//! The gateway's request path: `ANY /{listing_id}/{*path}` with a buyer key.
//!
//! One request: check the key's shape (no query for a typo), find its route (cached
//! briefly, [`super::route_cache`]), check the key's rate limit, take the path's cost
//! from the allowance (from a lease this process holds, see [`super::lease`]),
//! forward with the buyer's key and the hop-by-hop headers removed and the seller's
//! key injected, and stream both bodies through. A request the upstream never
//! answered (connection refused or failed, refused address, closed or reset before
//! a response head, no answer in time) is given back; so is an answer the listing
//! does not charge for (`meter: success` and a 4xx/5xx). A request refused by the
//! rate limit takes nothing. No response header holding the seller's key reaches
//! the buyer, and the key is masked wherever the body echoes it (`gateway::redact`).

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use reqwest::Url;

use super::Gateway;
use super::costs::cost_of;
use super::lease::Taken;
use super::redact::{MIN_MASKED_KEY, Redacted};
use super::route_cache::CachedRoute;
use super::store::{self, Route};
use super::upstream::{ForbiddenUpstream, forbidden_reason, literal_ip};
use super::vocab::{GatewayOutcome, Meter};
use crate::crypto::{Purpose, SecretString};
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Quota;
use crate::vocab::Delivery;

/// The header a buyer may send their key in (besides `Authorization: Bearer`).
pub const KEY_HEADER: &str = "x-udam-key";

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus `Host`.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Serves one gateway request.
pub async fn forward(State(gw): State<Gateway>, request: Request) -> Response {
    match serve(&gw, request).await {
        Ok((response, outcome)) => {
            count(outcome);
            response
        }
        Err((err, outcome)) => {
            count(outcome);
            err.into_response()
        }
    }
}

fn count(outcome: GatewayOutcome) {
    metrics::counter!("udam_gateway_requests_total", "outcome" => outcome.as_str()).increment(1);
}

type Failure = (ApiError, GatewayOutcome);

fn unauthorized(message: &str) -> Failure {
    (
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::GatewayKeyInvalid,
            message,
        ),
        GatewayOutcome::Unauthorized,
    )
}

async fn serve(gw: &Gateway, request: Request) -> Result<(Response, GatewayOutcome), Failure> {
    let (parts, body) = request.into_parts();
    let (key_hash, key_in_authorization) = buyer_key(&parts.headers)?;
    let (listing_id, rest) = split_path(parts.uri.path())?;
    let client = || client_address(gw, &parts);
    if let Some(wait) = gw.unknown_keys.refused(client)
        && !gw.routes.holds(&key_hash)
    {
        return Ok((unknown_key_limited(wait), GatewayOutcome::UnknownKeyLimited));
    }
    let found = gw
        .routes
        .get(&gw.app.db, &key_hash)
        .await
        .map_err(|e| (ApiError::from(e), GatewayOutcome::UpstreamError))?;
    let Some(cached) = found else {
        if let Some(wait) = gw.unknown_keys.record(&gw.app.limiter, &client()).await {
            return Ok((unknown_key_limited(wait), GatewayOutcome::UnknownKeyLimited));
        }
        return Err(unauthorized("unknown gateway key"));
    };
    let route = &cached.route;
    if route.listing_id != listing_id || route.delivery != Delivery::Gateway {
        return Err(unauthorized("this key is not for that listing"));
    }
    if route.active_units == 0 {
        return Err(unauthorized("this key's grants are revoked"));
    }
    if route.over_allowance() {
        // Some grants were revoked after blocks were leased: what this process still
        // holds may no longer be served. Read the route afresh next time.
        gw.routes.forget(&key_hash);
        gw.leases
            .surrender(&route.key_id)
            .await
            .map_err(|e| (ApiError::from(e), GatewayOutcome::UpstreamError))?;
    }
    if let Some(per_minute) = route.rate_limit_per_minute {
        let quota = Quota::per_minute(u32::try_from(per_minute).unwrap_or(u32::MAX));
        let decision = gw
            .app
            .limiter
            .check(&format!("gateway-key:{}", route.key_id), quota)
            .await;
        if !decision.allowed {
            return Ok((rate_limited(&decision), GatewayOutcome::RateLimited));
        }
    }
    let cost = cost_of(&cached.costs, &format!("/{rest}"));
    let secret = gw
        .app
        .keyring
        .open(
            Purpose::ListingApiKey,
            &route.listing_id,
            &route.api_key_key_id,
            &route.api_key_sealed,
        )
        .map_err(|e| {
            (
                ApiError::internal(anyhow::anyhow!("opening a listing key: {e}")),
                GatewayOutcome::UpstreamError,
            )
        })?;
    let url = upstream_url(&cached, rest, parts.uri.query(), &secret)?;
    if !gw.policy.allow_private
        && let Some(reason) = url
            .host_str()
            .and_then(literal_ip)
            .and_then(forbidden_reason)
    {
        return Err(upstream_forbidden(reason));
    }
    let headers = forwarded_headers(&parts.headers, key_in_authorization, route, &secret)?;

    let taken = gw
        .leases
        .take(&route.key_id, cost)
        .await
        .map_err(|e| (ApiError::from(e), GatewayOutcome::UpstreamError))?;
    let Taken::From(lease_id) = taken else {
        return Err((
            ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                ErrorCode::AllowanceExhausted,
                format!(
                    "this key's requests are used up: buy more units of {} with POST /api/v1/orders",
                    route.listing_id
                ),
            ),
            GatewayOutcome::Exhausted,
        ));
    };
    crate::crash_point!("gateway::taken");

    let upstream = gw
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(reqwest::Body::wrap(SyncBody(Mutex::new(body))));
    let started = Instant::now();
    let sent = tokio::time::timeout(gw.upstream_timeout, upstream.send()).await;
    metrics::histogram!("udam_gateway_upstream_seconds").record(started.elapsed().as_secs_f64());
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            // No answer came (refused, reset, closed or a broken response head):
            // under either meter there is nothing to charge for.
            give_back(gw, route, &lease_id, cost).await;
            return Err(send_failure(err));
        }
        Err(_) => {
            give_back(gw, route, &lease_id, cost).await;
            return Err(timeout());
        }
    };
    if let Some(encoding) = compressed(response.headers()) {
        // Asked for `identity`, the upstream compressed anyway: the body cannot be
        // checked for the seller's key, so it is not passed on, nor charged.
        give_back(gw, route, &lease_id, cost).await;
        return Err(compressed_answer(&encoding));
    }
    let status = response.status();
    let charged = route.meter == Meter::All || status.is_success() || status.is_redirection();
    let outcome = if charged {
        gw.usage.record(&route.key_id, cost);
        GatewayOutcome::Served
    } else {
        give_back(gw, route, &lease_id, cost).await;
        GatewayOutcome::NotCharged
    };
    let mut out_headers = response.headers().clone();
    strip_hop_by_hop(&mut out_headers);
    drop_headers_holding(&mut out_headers, &secret);
    let key = secret.expose();
    let body = if key.len() < MIN_MASKED_KEY {
        Body::new(http_body(response))
    } else {
        Body::new(Redacted::new(http_body(response), key))
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    Ok((out, outcome))
}

/// The response body as an `http_body` stream, never collected.
fn http_body(response: reqwest::Response) -> reqwest::Body {
    axum::http::Response::<reqwest::Body>::from(response).into_body()
}

async fn give_back(gw: &Gateway, route: &Route, lease_id: &str, cost: i64) {
    if gw.leases.give_back(&route.key_id, lease_id, cost).await {
        return;
    }
    // The lease was returned meanwhile, with this request counted in it.
    if let Err(err) = store::give_back(&gw.app.db, &route.key_id, cost).await {
        // The request stays counted: under-serving by one, never over-serving.
        tracing::warn!(key = %route.key_id, error = %err, "could not give a request back");
    }
}

/// 429 with the envelope, `Retry-After` and the `RateLimit-*` headers.
fn rate_limited(decision: &crate::ratelimit::Decision) -> Response {
    let headers = decision.headers();
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!(
            "this key's rate limit is {} requests per minute: retry in {retry_after} s; \
             nothing was taken from the allowance",
            decision.limit
        ),
    )
    .into_response();
    response.headers_mut().extend(headers);
    response
}

/// The client's address as the rate limits name it (behind trusted proxies, the
/// forwarded one).
fn client_address(gw: &Gateway, parts: &axum::http::request::Parts) -> String {
    crate::ratelimit::client_bucket_id_of(
        &parts.extensions,
        &parts.headers,
        &gw.app.config.edge.trusted_proxies,
    )
}

/// 429 for an address over its unknown-key limit, with `Retry-After`.
fn unknown_key_limited(wait: std::time::Duration) -> Response {
    let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let retry_after = retry_after.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!(
            "too many unknown gateway keys from this address: retry in {retry_after} s \
             (check the key you send; keys issued to you keep working)"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    response
}

fn upstream_forbidden(reason: &str) -> Failure {
    (
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamForbidden,
            format!("the upstream resolves to {reason}, which the gateway may not reach"),
        ),
        GatewayOutcome::UpstreamError,
    )
}

fn timeout() -> Failure {
    (
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::UpstreamTimeout,
            "the upstream did not answer in time; the request was not counted",
        ),
        GatewayOutcome::UpstreamTimeout,
    )
}

/// Maps a send error; its text is not shown (it may name internal hosts), and it is
/// logged without its URL, whose query may hold the seller's key.
/// The answer's `Content-Encoding` unless it is none or `identity`.
fn compressed(headers: &HeaderMap) -> Option<String> {
    let encoding = headers.get(header::CONTENT_ENCODING)?;
    let encoding = String::from_utf8_lossy(encoding.as_bytes())
        .trim()
        .to_owned();
    (!encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity")).then_some(encoding)
}

fn compressed_answer(encoding: &str) -> Failure {
    tracing::warn!(
        encoding,
        "the upstream compressed its answer though asked not to"
    );
    (
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            "the upstream compressed its answer although the gateway asked for none \
             (`Accept-Encoding: identity`); an answer the gateway cannot check for the \
             seller's key is not passed on; the request was not counted",
        ),
        GatewayOutcome::UpstreamError,
    )
}

fn send_failure(err: reqwest::Error) -> Failure {
    let err = err.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(forbidden) = e.downcast_ref::<ForbiddenUpstream>() {
            return upstream_forbidden(forbidden.0);
        }
        source = e.source();
    }
    if err.is_timeout() {
        return timeout();
    }
    tracing::info!(error = %err, "gateway upstream failed");
    (
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            "the upstream could not be reached or sent no answer; the request was not counted",
        ),
        GatewayOutcome::UpstreamError,
    )
}

/// The buyer key's hash from `Authorization: Bearer` or `X-UDAM-Key`, and whether
/// it came in `Authorization` (which is then not forwarded).
fn buyer_key(headers: &HeaderMap) -> Result<([u8; 32], bool), Failure> {
    let from_authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|v| v.trim().starts_with(super::key::PREFIX));
    let (candidate, in_authorization) = match from_authorization {
        Some(key) => (key.trim(), true),
        None => match headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
            Some(key) => (key.trim(), false),
            None => {
                return Err(unauthorized(
                    "send your gateway key in `Authorization: Bearer` or `X-UDAM-Key`",
                ));
            }
        },
    };
    super::key::verify_shape(candidate)
        .map(|hash| (hash, in_authorization))
        .ok_or_else(|| unauthorized("this is not a valid gateway key (check for typos)"))
}

/// `/{listing_id}/{rest}` → (listing id, rest without its leading slash).
fn split_path(path: &str) -> Result<(&str, &str), Failure> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (listing, rest) = path.split_once('/').unwrap_or((path, ""));
    if !crate::ids::is_well_formed(listing) {
        return Err((ApiError::not_found("listing"), GatewayOutcome::Unauthorized));
    }
    Ok((listing, rest))
}

/// The upstream URL: base path + the request's path and query, plus the seller key
/// as a query parameter when the listing injects it that way. A path that would
/// climb out of the base path (`..`, also percent-encoded) is refused.
fn upstream_url(
    cached: &CachedRoute,
    rest: &str,
    query: Option<&str>,
    secret: &SecretString,
) -> Result<Url, Failure> {
    let climbs = rest.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if climbs || rest.contains('\\') || rest.to_ascii_lowercase().contains("%2f") {
        return Err((
            ApiError::bad_request(
                ErrorCode::BadRequest,
                "the path may not contain `.`/`..` segments or encoded slashes",
            ),
            GatewayOutcome::UpstreamError,
        ));
    }
    let mut url = cached.upstream_base.clone().ok_or_else(|| {
        (
            ApiError::internal(anyhow::anyhow!(
                "the listing's stored upstream URL is missing or does not parse"
            )),
            GatewayOutcome::UpstreamError,
        )
    })?;
    let path = format!("{}/{rest}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(query);
    if let Some(param) = cached.route.inject_query.as_deref() {
        url.query_pairs_mut().append_pair(param, secret.expose());
    }
    Ok(url)
}

/// The request's headers minus hop-by-hop ones, `Host` and the buyer's key, plus the
/// seller's key when it goes in a header.
fn forwarded_headers(
    incoming: &HeaderMap,
    key_in_authorization: bool,
    route: &Route,
    secret: &SecretString,
) -> Result<HeaderMap, Failure> {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(KEY_HEADER);
    // An uncompressed answer, so that the key can be masked in its body (`redact`).
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if key_in_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    if let (Some(name), Some(template)) = (
        route.inject_header.as_deref(),
        route.inject_template.as_deref(),
    ) {
        let name = HeaderName::from_bytes(name.as_bytes());
        let mut value = HeaderValue::from_str(&template.replace("{key}", secret.expose()));
        match (name, value.as_mut()) {
            (Ok(name), Ok(value)) => {
                value.set_sensitive(true);
                headers.insert(name, value.clone());
            }
            _ => {
                return Err((
                    ApiError::internal(anyhow::anyhow!(
                        "listing {} has an injection header that does not encode",
                        route.listing_id
                    )),
                    GatewayOutcome::UpstreamError,
                ));
            }
        }
    }
    Ok(headers)
}

/// Removes every response header that holds the seller's key, as typed or
/// percent-encoded: an upstream's redirect may echo the query the key went in
/// (`Location: …?api_key=…`), and no answer may hand the key to a buyer.
fn drop_headers_holding(headers: &mut HeaderMap, secret: &SecretString) {
    let raw = secret.expose();
    if raw.is_empty() {
        return;
    }
    // Read as a query, the value's parts come out percent-decoded, in any hex case;
    // only a value with an escape or a `+` can hide the key that way.
    let holds = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        let encoded = bytes.iter().any(|b| matches!(b, b'%' | b'+'));
        String::from_utf8_lossy(bytes).contains(raw)
            || (encoded
                && form_urlencoded::parse(bytes).any(|(k, v)| k.contains(raw) || v.contains(raw)))
    };
    let holding: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, value)| holds(value))
        .map(|(name, _)| name.clone())
        .collect();
    for name in holding {
        tracing::warn!(header = %name, "dropped an upstream response header holding the seller's key");
        headers.remove(name);
    }
}

/// Removes the hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// The incoming body, made `Sync` for the client (it is only ever polled through
/// `&mut`, so the lock is never contended).
struct SyncBody(Mutex<Body>);

impl hyper::body::Body for SyncBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let body = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(body).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size_hint()
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn response_headers_holding_the_seller_key_are_dropped() {
        let secret = SecretString::from("sk live/+key".to_owned());
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (
                "location",
                "https://up.example/v2/items/?api_key=sk+live%2f%2Bkey",
            ),
            ("content-location", "/v2?x=1&api_key=sk%20live%2F%2bkey"),
            ("x-echo", "sk live/+key"),
            ("x-kept", "sk live"),
            ("link", "</v2/items/?page=2>; rel=next"),
        ] {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        drop_headers_holding(&mut headers, &secret);
        let mut kept: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["link", "x-kept"]);
    }

    #[test]
    fn paths_name_a_listing_then_the_upstream_path() {
        assert_eq!(split_path("/lst_abc/v1/x").ok(), Some(("lst_abc", "v1/x")));
        assert_eq!(split_path("/lst_abc").ok(), Some(("lst_abc", "")));
        assert!(split_path("/..%2f/x").is_err());
    }
}
