//! Black-box tests over HTTP: one binary, every behaviour on SQLite and PostgreSQL.

mod common;
mod fake_stripe;

mod accounts;
mod concurrency;
mod errors;
mod group_commit;
mod listings;
mod multiprocess;
mod openapi;
mod orders;
mod stripe_client;
