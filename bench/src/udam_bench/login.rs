//! Scenario (e): signing in, the one path that hashes a password (argon2id), so
//! that the benchmark measures the memory and CPU production spends on logins.
//! Users are registered through the API (real hashes), not seeded through SQL.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::Method as HttpMethod;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};

use super::Target;
use super::load::MakeRequest;

/// The scenario's name in the report.
pub const LOGIN: &str = "(e) POST /auth/login, 300 users";
/// Distinct users signing in.
pub const LOGIN_USERS: usize = 300;
/// Registrations sent at once while preparing.
const REGISTER_PARALLEL: usize = 16;
const PASSWORD: &str = "bench password, not a secret";

/// Registers [`LOGIN_USERS`] users through the API; returns their login bodies.
pub async fn register_users(addr: SocketAddr) -> anyhow::Result<Vec<Bytes>> {
    let client = reqwest::Client::new();
    let bodies: Vec<serde_json::Value> = (0..LOGIN_USERS)
        .map(|i| serde_json::json!({"email": format!("login{i}@bench.example"), "password": PASSWORD}))
        .collect();
    for chunk in bodies.chunks(REGISTER_PARALLEL) {
        let sends: Vec<_> = chunk
            .iter()
            .map(|body| {
                tokio::spawn(
                    client
                        .post(format!("http://{addr}/api/v1/auth/register"))
                        .json(body)
                        .send(),
                )
            })
            .collect();
        for send in sends {
            let answer = send.await??;
            anyhow::ensure!(
                answer.status().as_u16() == 201,
                "registering a bench user failed: {}",
                answer.status()
            );
        }
    }
    Ok(bodies.iter().map(|b| Bytes::from(b.to_string())).collect())
}

/// A request maker: task `task`'s `seq`-th login, spread over every user.
pub fn login_load(target: &Arc<Target>, bodies: Vec<Bytes>) -> MakeRequest {
    let target = target.clone();
    let json = HeaderValue::from_static("application/json");
    Arc::new(move |task, seq| {
        let pick = (task as u64).wrapping_mul(7919).wrapping_add(seq) as usize % bodies.len();
        target
            .request(HttpMethod::POST, "/api/v1/auth/login")
            .header(CONTENT_TYPE, json.clone())
            .body(Full::new(bodies[pick].clone()))
            .unwrap_or_default()
    })
}
