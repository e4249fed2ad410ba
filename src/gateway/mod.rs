//! The metered gateway (docs/GATEWAY.md): buyers call a gateway listing through
//! their own key; the gateway checks it, takes one request from their allowance,
//! injects the seller's key and streams the call to the seller's upstream.
//!
//! It listens on its own address (`--gateway-bind`), a separate origin from the API
//! and web UI, so no UDAM cookie or page is ever served there.
//!
//! * [`costs`]: costs per route prefix.
//! * [`key`]: buyer keys (`udam_…`), their checksum and hash.
//! * [`store`]: keys, the allowance (derived from grants) and usage queries.
//! * [`lease`], [`lease_store`]: blocks of an allowance held by this process.
//! * [`route_cache`]: key routes kept for under a second.
//! * [`unknown_keys`]: the limit on unknown keys per client address.
//! * [`upstream`]: which upstreams may be reached (https, no internal addresses).
//! * [`proxy`]: the request path.
//! * [`usage`]: per-minute usage, written in batches.
//! * [`report`]: usage per hour or day, for buyers and sellers.

pub mod costs;
pub mod key;
pub mod lease;
pub mod lease_store;
pub mod proxy;
mod redact;
pub mod report;
pub mod route_cache;
pub mod store;
pub mod unknown_keys;
pub mod upstream;
pub mod usage;
pub mod vocab;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::state::AppState;
use lease::{LeaseSettings, Leases};
use route_cache::RouteCache;
use unknown_keys::UnknownKeys;
use upstream::{CheckedResolver, UpstreamPolicy};
use usage::UsageRecorder;

/// The gateway's state: the application's, plus its upstream client and counters.
#[derive(Clone, Debug)]
pub struct Gateway(Arc<GatewayInner>);

/// The contents of [`Gateway`].
#[derive(Debug)]
pub struct GatewayInner {
    /// Database, key ring and settings.
    pub app: AppState,
    /// The upstream client: checked DNS, no redirects, no proxy from the environment.
    pub client: reqwest::Client,
    /// Usage waiting to be written.
    pub usage: Arc<UsageRecorder>,
    /// Which upstreams may be reached.
    pub policy: UpstreamPolicy,
    /// Longest wait for an upstream's response head.
    pub upstream_timeout: Duration,
    /// Blocks of allowances this process holds.
    pub leases: Arc<Leases>,
    /// Key routes read recently.
    pub routes: RouteCache,
    /// Client addresses that sent too many unknown keys.
    pub unknown_keys: UnknownKeys,
}

impl Deref for Gateway {
    type Target = GatewayInner;
    fn deref(&self) -> &GatewayInner {
        &self.0
    }
}

/// The upstream policy the settings give.
pub fn policy(app: &AppState) -> UpstreamPolicy {
    UpstreamPolicy {
        allow_http: app.config.gateway.gateway_allow_http,
        allow_private: app.config.gateway.gateway_allow_private,
    }
}

impl Gateway {
    /// Builds the gateway over the application state.
    pub fn new(app: AppState) -> anyhow::Result<Self> {
        let settings = &app.config.gateway;
        let policy = policy(&app);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.gateway_connect_timeout.0)
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: policy.allow_private,
            }))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let upstream_timeout = settings.gateway_upstream_timeout.0;
        let leases = Arc::new(Leases::new(
            app.db.clone(),
            LeaseSettings {
                ttl: settings.gateway_lease_ttl.0,
                idle: settings.gateway_lease_idle.0,
                window: settings.gateway_lease_window,
            },
        ));
        let routes = RouteCache::new(settings.gateway_route_cache.0);
        let unknown_keys = UnknownKeys::new(settings.gateway_unknown_key_limit);
        Ok(Self(Arc::new(GatewayInner {
            leases,
            routes,
            unknown_keys,
            app,
            client,
            usage: Arc::new(UsageRecorder::default()),
            policy,
            upstream_timeout,
        })))
    }

    /// The gateway's router: every path goes to the proxy.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(proxy::forward)
            .with_state(self.clone())
    }
}
