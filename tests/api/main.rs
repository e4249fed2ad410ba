//! Black-box tests over HTTP: one binary, every behaviour on SQLite and PostgreSQL.

mod common;

mod accounts;
mod errors;
mod guard;
mod multiprocess;
mod openapi;
