//! The rate-limit middleware: every request spends from its client's bucket;
//! sign-in, registration and order creation also spend from stricter ones.
//!
//! | requests                       | bucket                       | quota flag                |
//! |--------------------------------|------------------------------|---------------------------|
//! | every route                    | `ip:CLIENT`                  | `--rate-limit-ip`         |
//! | `POST /api/v1/auth/login`      | `login-ip:CLIENT`            | `--rate-limit-auth-ip`    |
//! |                                | `login-email:SHA256(email)`  | `--rate-limit-auth-email` |
//! | `POST /api/v1/auth/register`   | `register-ip:CLIENT`         | `--rate-limit-auth-ip`    |
//! |                                | `register-email:SHA256(email)` | `--rate-limit-auth-email` |
//! | `POST /api/v1/orders`          | `orders-user:USER_ID`        | `--rate-limit-orders`     |
//!
//! `CLIENT` is the peer address, or the client behind a trusted proxy
//! (`ratelimit::client_ip`); IPv6 clients are grouped by their /64, because one
//! subscriber usually holds a whole /64 and could otherwise rotate addresses
//! for a fresh budget per request. Emails are hashed so that raw addresses
//! never become Redis keys. Orders are limited per user, not per session, so
//! signing in again buys no fresh budget; the session lookup that costs is
//! handed on to the handler's `AuthUser` extractor, so it still runs once.
//!
//! A denied request gets 429 with the error envelope, `Retry-After` and the
//! `RateLimit-*` headers; an allowed one gets the `RateLimit-*` headers of its
//! tightest bucket.

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::accounts::AuthUser;
use crate::accounts::extract::bearer_token;
use crate::config::EdgeConfig;
use crate::error::ApiError;
use crate::ratelimit::{
    Decision, Quota, RateLimiter, RedisOptions, client_bucket_id, email_digest,
};
use crate::state::AppState;

/// Path of the sign-in route.
pub const LOGIN_PATH: &str = "/api/v1/auth/login";
/// Path of the registration route.
pub const REGISTER_PATH: &str = "/api/v1/auth/register";
/// Path of the order-creation route (`POST`).
pub const ORDERS_PATH: &str = "/api/v1/orders";

/// Builds the limiter the settings ask for: shared through Redis when
/// `--redis-url` is set, in-process otherwise.
///
/// A malformed Redis URL fails start-up; an unreachable Redis does not (the
/// limiter answers from in-process buckets until Redis is back).
pub async fn build_limiter(config: &EdgeConfig) -> anyhow::Result<RateLimiter> {
    let Some(url) = &config.redis_url else {
        return Ok(RateLimiter::local());
    };
    let options = RedisOptions {
        key_prefix: config.redis_key_prefix.clone(),
        ..RedisOptions::default()
    };
    // The error names the flag but never repeats the URL, which may hold a password.
    RateLimiter::with_redis_options(url.expose(), options)
        .await
        .context("--redis-url / UDAM_REDIS_URL")
}

/// Which extra buckets a request spends from, besides its client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guarded {
    Login,
    Register,
    CreateOrder,
    Other,
}

impl Guarded {
    fn of(method: &Method, path: &str) -> Self {
        if method != Method::POST {
            return Self::Other;
        }
        match path {
            LOGIN_PATH => Self::Login,
            REGISTER_PATH => Self::Register,
            ORDERS_PATH => Self::CreateOrder,
            _ => Self::Other,
        }
    }
}

/// The middleware. Install it with `from_fn_with_state` on the whole router.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let settings = &state.config.edge;
    let client = client_bucket_id(&request, &settings.trusted_proxies);
    let mut spent = Spent::default();

    if let Err(denied) = spent
        .check(
            &state.limiter,
            &format!("ip:{client}"),
            settings.rate_limit_ip,
        )
        .await
    {
        return denied;
    }

    let guarded = Guarded::of(request.method(), request.uri().path());
    let request = match guarded {
        Guarded::Other => request,
        Guarded::Login | Guarded::Register => {
            let kind = if guarded == Guarded::Login {
                "login"
            } else {
                "register"
            };
            if let Err(denied) = spent
                .check(
                    &state.limiter,
                    &format!("{kind}-ip:{client}"),
                    settings.rate_limit_auth_ip,
                )
                .await
            {
                return denied;
            }
            let (request, email) = match take_email(request).await {
                Ok(found) => found,
                Err(rejection) => return rejection,
            };
            // A body without a readable email is refused by the handler anyway;
            // it has spent from both address buckets already.
            if let Some(email) = email
                && let Err(denied) = spent
                    .check(
                        &state.limiter,
                        &format!("{kind}-email:{}", email_digest(&email)),
                        settings.rate_limit_auth_email,
                    )
                    .await
            {
                return denied;
            }
            request
        }
        Guarded::CreateOrder => {
            let (mut parts, body) = request.into_parts();
            let token = bearer_token(&parts).map(str::to_owned);
            // Without a valid session there is no user to limit: the handler
            // answers 401, and the client bucket has already been spent.
            if let Some(token) = token
                && let Ok(auth) = AuthUser::from_token(&state, &token).await
            {
                let bucket = format!("orders-user:{}", auth.user.id);
                // The extractor finds this and skips its own lookup.
                parts.extensions.insert(auth);
                if let Err(denied) = spent
                    .check(&state.limiter, &bucket, settings.rate_limit_orders)
                    .await
                {
                    return denied;
                }
            }
            Request::from_parts(parts, body)
        }
    };

    let mut response = next.run(request).await;
    if let Some(tightest) = spent.tightest {
        response.headers_mut().extend(tightest.headers());
    }
    response
}

/// The decisions of one request so far.
#[derive(Default)]
struct Spent {
    /// The allowed decision with the least budget left: the one whose headers
    /// tell the client how close it is to a 429.
    tightest: Option<Decision>,
}

impl Spent {
    /// Spends one request from `bucket`; on denial, the 429 response to send.
    async fn check(
        &mut self,
        limiter: &RateLimiter,
        bucket: &str,
        quota: Quota,
    ) -> Result<(), Response> {
        let decision = limiter.check(bucket, quota).await;
        if !decision.allowed {
            return Err(too_many_requests(&decision));
        }
        let tighter = self
            .tightest
            .as_ref()
            .is_none_or(|t| decision.remaining < t.remaining);
        if tighter {
            self.tightest = Some(decision);
        }
        Ok(())
    }
}

/// 429 with the envelope, `Retry-After` and the `RateLimit-*` headers.
fn too_many_requests(decision: &Decision) -> Response {
    let headers = decision.headers();
    // `Decision::headers` rounds the wait up and never says 0; use the same figure.
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut response = ApiError::rate_limited(retry_after).into_response();
    response.headers_mut().extend(headers);
    response
}

/// Only the field the limiter needs; everything else is the handler's business.
#[derive(Deserialize)]
struct EmailField {
    #[serde(default)]
    email: Option<String>,
}

/// Buffers the body (within the body limit), reads its `email`, and puts the
/// bytes back for the handler. A body over the limit gets the same 413 the
/// handler would give.
async fn take_email(request: Request) -> Result<(Request, Option<String>), Response> {
    let (parts, body) = request.into_parts();
    // The extractor honours the body limit layers, which live in the parts.
    let probe = Request::from_parts(parts.clone(), body);
    let bytes = Bytes::from_request(probe, &())
        .await
        .map_err(IntoResponse::into_response)?;
    let email = serde_json::from_slice::<EmailField>(&bytes)
        .ok()
        .and_then(|f| f.email)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    Ok((Request::from_parts(parts, Body::from(bytes)), email))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;

    use super::*;

    #[test]
    fn only_post_to_the_guarded_paths_is_guarded() {
        assert_eq!(Guarded::of(&Method::POST, LOGIN_PATH), Guarded::Login);
        assert_eq!(Guarded::of(&Method::POST, REGISTER_PATH), Guarded::Register);
        assert_eq!(
            Guarded::of(&Method::POST, ORDERS_PATH),
            Guarded::CreateOrder
        );
        assert_eq!(Guarded::of(&Method::GET, ORDERS_PATH), Guarded::Other);
        assert_eq!(Guarded::of(&Method::GET, LOGIN_PATH), Guarded::Other);
        assert_eq!(
            Guarded::of(&Method::POST, "/api/v1/orders/ord_1/cancel"),
            Guarded::Other
        );
    }

    fn bucket_id_of(peer: &str, forwarded: Option<&str>, trusted: &str) -> String {
        let mut request = Request::new(Body::empty());
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(xff) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", xff.parse().expect("header"));
        }
        let mut settings = crate::config::edge::test_defaults();
        settings.trusted_proxies = trusted.parse().expect("trusted");
        client_bucket_id(&request, &settings.trusted_proxies)
    }

    #[test]
    fn clients_are_addresses_and_ipv6_clients_their_64() {
        assert_eq!(bucket_id_of("203.0.113.7:4000", None, ""), "203.0.113.7");
        assert_eq!(
            bucket_id_of("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", None, ""),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            bucket_id_of("[2001:db8:1:2::9]:443", None, ""),
            bucket_id_of("[2001:db8:1:2::1]:443", None, "")
        );
        assert_eq!(
            bucket_id_of("127.0.0.1:9", Some("198.51.100.4"), ""),
            "127.0.0.1"
        );
        assert_eq!(
            bucket_id_of("127.0.0.1:9", Some("198.51.100.4"), "127.0.0.1"),
            "198.51.100.4"
        );
        // Dual-stack listeners report IPv4 peers as mapped IPv6: still one address.
        assert_eq!(bucket_id_of("[::ffff:192.0.2.1]:80", None, ""), "192.0.2.1");
    }

    #[test]
    fn email_digest_is_hex_and_hides_the_address() {
        let digest = email_digest("ann@example.com");
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains("ann"));
        assert_ne!(digest, email_digest("bob@example.com"));
    }

    #[test]
    fn denial_carries_envelope_and_consistent_retry_after() {
        let decision = Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            reset_after: std::time::Duration::from_millis(60_000),
            retry_after: Some(std::time::Duration::from_millis(11_500)),
        };
        let response = too_many_requests(&decision);
        assert_eq!(response.status(), 429);
        let h = response.headers();
        assert_eq!(h["retry-after"], "12");
        assert_eq!(h.get_all("retry-after").iter().count(), 1);
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "60");
    }
}
