//! UDAM, the Unified Data Marketplace: the backend every data or API marketplace
//! would otherwise rebuild by hand.
//!
//! Crate map (one folder per capability; each holds its routes, SQL and rules):
//!
//! * [`config`]: typed settings from flags and `UDAM_*` variables.
//! * [`error`]: `ApiError`, the single mapping from failures to the JSON envelope.
//! * [`extract`]: envelope-answering extractors and JSON helpers (a leaf module).
//! * [`failpoint`]: named crash points for the crash tests (`failpoints` feature only).
//! * [`vocab`]: one enum per vocabulary (statuses, kinds, providers, outcomes).
//! * [`db`]: the pool for SQLite or PostgreSQL and per-backend migrations.
//! * [`accounts`]: users, argon2id passwords, revocable sessions, the auth extractor.
//! * [`listings`]: listings, sealed seller keys, browse with keyset pagination and cache.
//! * [`crypto`]: the master key ring and AES-256-GCM sealing of seller API keys.
//! * [`ledger`]: the double-entry journal under every money movement, and its verifier.
//! * [`money`]: ISO 4217 currencies with their minor-unit exponents.
//! * [`orders`]: buying without overselling, instant issuance, reservations, idempotency.
//! * [`tokens`]: buyers' access grants, keys opened per request and audited.
//! * [`gateway`]: the metered gateway: buyer keys, allowances, the proxy to upstreams.
//! * [`graphql`]: the GraphQL API at `/graphql`, over the same services as REST.
//! * [`provider`]: the payment-provider seam (trait, checkout request, dev provider),
//!   shared by `orders` (opening a checkout) and `payments` (Stripe, webhooks).
//! * [`payments`]: the payment-provider seam, Stripe Checkout and the dev checkout.
//! * [`ratelimit`]: GCRA limits, in-process or shared through Redis.
//! * [`http`]: the router listing every route, middleware, the OpenAPI document.
//! * [`server`]: start-up, background tasks and graceful shutdown.
//! * [`maintenance`]: the periodic purge of expired sessions and idempotency keys.
//! * [`web`]: the server-rendered web UI, its browser sessions and CSRF protection.
//! * [`webhooks`]: signed outbound webhooks: endpoints, the outbox, the delivery worker.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod extract;
pub mod failpoint;
pub mod gateway;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod ledger;
pub mod listings;
pub mod maintenance;
pub mod money;
pub mod orders;
pub mod pagination;
pub mod payments;
pub mod payouts;
pub mod provider;
pub mod ratelimit;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod vocab;
pub mod web;
pub mod webhooks;
