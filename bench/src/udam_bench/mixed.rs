//! Scenario (m): a mixed run. Logins, browsing, purchases and token reads at the
//! same time, a quarter of the connections each, for a longer window than the
//! other scenarios, while the server's resident memory is read every few seconds:
//! a leak or a ratchet shows as a rising line, which a single peak figure hides.

use std::sync::Arc;

use hyper::StatusCode;

use super::load::{Expect, MakeRequest};

/// The scenario's name in the report.
pub const MIXED: &str = "(m) mixed: logins, browse, purchases, token reads";
/// Connections, spread evenly over the four kinds of request.
pub const CLIENTS: usize = 64;

/// One request maker per kind of request, each with the status it answers.
pub struct Kinds {
    /// `POST /api/v1/auth/login` (200).
    pub login: MakeRequest,
    /// `GET /api/v1/listings` (200).
    pub browse: MakeRequest,
    /// `POST /api/v1/orders` (201).
    pub buy: MakeRequest,
    /// `GET /api/v1/tokens` (200).
    pub tokens: MakeRequest,
}

/// Whether task `task` buys (its answers are the ones the oversell check counts).
pub fn buys(task: usize) -> bool {
    task % 4 == 2
}

/// The mixed request maker and the status each task expects: task `i` sends
/// kind `i % 4`, so every kind keeps a quarter of the connections busy.
pub fn load(kinds: Kinds) -> (MakeRequest, Expect) {
    let makers = [kinds.login, kinds.browse, kinds.buy, kinds.tokens];
    let make: MakeRequest = Arc::new(move |task, seq| makers[task % 4](task, seq));
    let expect: Expect = Arc::new(|task| {
        if buys(task) {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    });
    (make, expect)
}
