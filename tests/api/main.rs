//! Black-box tests over HTTP: one binary, every behaviour on SQLite and PostgreSQL.

mod common;
mod fake_stripe;

mod accounts;
mod audit;
mod authz;
mod batch_facts;
mod combined_batches;
mod concurrency;
#[cfg(feature = "failpoints")]
mod crash;
#[cfg(feature = "failpoints")]
mod crash_payments;
#[cfg(feature = "failpoints")]
mod crash_webhooks;
mod dev_checkout;
mod edge_settings;
mod edges;
mod errors;
mod fuzz;
mod gateway;
mod graphql;
mod group_commit;
mod ledger;
mod listings;
mod listings_upgrade;
mod model;
mod model_stripe;
mod multiprocess;
mod openapi;
mod orders;
mod payouts;
mod references;
mod resources;
mod sdk;
mod search;
mod search_delivery;
mod seo;
mod settlements;
mod sqlite_writer;
mod stripe_client;
mod stripe_flow;
mod upgrade;
mod vocabulary;
mod web;
mod web_browser;
mod web_dashboard;
mod webhooks_out;
