//! Bounded resources under bursts (issue 18): memory under a login flood, held
//! connections against a low descriptor limit, and each bounded structure flooded
//! past its bound. These run real `udam serve` processes so that resident memory
//! and descriptors are the server's own, read from `/proc/<pid>/status`; the
//! structures' own sizes come from the server's `/metrics` gauges.

mod batch_flood;
mod body_flood;
mod bucket_flood;
mod cache_flood;
mod connections;
mod memory;
mod spawn;
mod statements;
