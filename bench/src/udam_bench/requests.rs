//! The requests the load generator sends, prepared once so that generating load
//! costs the generator as little as possible, and the few set-up requests made
//! through the API before anything is measured.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method as HttpMethod, Request};

use super::db::BenchDb;
use super::load;

/// Everything a request maker needs about the server it talks to.
pub struct Target {
    host: HeaderValue,
}

impl Target {
    /// A target for the server listening on `addr`.
    pub fn new(addr: SocketAddr) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            host: HeaderValue::from_str(&addr.to_string())?,
        }))
    }

    /// A request to this server, with its `Host` header.
    pub fn request(&self, method: HttpMethod, path: &'static str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
    }
}

fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

/// The JSON body of a purchase of one unit of `listing`.
pub fn order_body(listing: &str) -> Bytes {
    Bytes::from(format!(r#"{{"listing_id":"{listing}","units":1}}"#))
}

/// Which of `n` items the `seq`-th request of task `task` uses: a cheap,
/// well-mixed index (SplitMix64), so that tasks do not march in step. The raw
/// runs pick their listings the same way.
pub fn pick(task: usize, seq: u64, n: usize) -> usize {
    let mut z = (task as u64) << 40 ^ seq;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % n.max(1) as u64) as usize
}

/// A request maker that buys one unit per request, by task `i`'s buyer, of one
/// of `bodies` (picked at random when there are several).
pub fn buyer_load(
    target: &Arc<Target>,
    tokens: &[String],
    bodies: Vec<Bytes>,
) -> anyhow::Result<load::MakeRequest> {
    let auth: Vec<HeaderValue> = tokens.iter().map(|t| bearer(t)).collect::<Result<_, _>>()?;
    anyhow::ensure!(
        !auth.is_empty() && !bodies.is_empty(),
        "no buyers or no listings"
    );
    let target = target.clone();
    let json = HeaderValue::from_static("application/json");
    Ok(Arc::new(move |task, seq| {
        let body = bodies[pick(task, seq, bodies.len())].clone();
        target
            .request(HttpMethod::POST, "/api/v1/orders")
            .header(AUTHORIZATION, auth[task % auth.len()].clone())
            .header(CONTENT_TYPE, json.clone())
            .body(Full::new(body))
            .unwrap_or_default()
    }))
}

/// A request maker that sends `GET path`, signed in as `token` when given.
pub fn get_load(
    target: &Arc<Target>,
    path: &'static str,
    token: Option<&str>,
) -> anyhow::Result<load::MakeRequest> {
    let auth = token.map(bearer).transpose()?;
    let target = target.clone();
    Ok(Arc::new(move |_, _| {
        let mut r = target.request(HttpMethod::GET, path);
        if let Some(a) = &auth {
            r = r.header(AUTHORIZATION, a.clone());
        }
        r.body(Full::new(Bytes::new())).unwrap_or_default()
    }))
}

/// One purchase through the API before anything is measured, so that a broken
/// set-up fails with the server's own answer instead of a table of errors.
pub async fn sanity_check(
    addr: SocketAddr,
    db: &BenchDb,
    ring: &udam::crypto::KeyRing,
    seller: &str,
    token: &str,
) -> anyhow::Result<()> {
    let listing = db.listings(ring, seller, "Sanity", 1, 10).await?;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/api/v1/orders"))
        .bearer_auth(token)
        .json(&serde_json::json!({"listing_id": listing[0], "units": 1}))
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    anyhow::ensure!(
        status.as_u16() == 201 && body.contains("\"fulfilled\""),
        "a test purchase did not succeed: {status} {body}"
    );
    Ok(())
}

/// Gives `token`'s user `n` access tokens by buying through the API.
pub async fn give_tokens(
    addr: SocketAddr,
    db: &BenchDb,
    ring: &udam::crypto::KeyRing,
    seller: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let listing = db.listings(ring, seller, "Tokens", 1, 1000).await?;
    let client = reqwest::Client::new();
    for _ in 0..n {
        let r = client
            .post(format!("http://{addr}/api/v1/orders"))
            .bearer_auth(token)
            .json(&serde_json::json!({"listing_id": listing[0], "units": 1}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().as_u16() == 201,
            "buying a token failed: {}",
            r.status()
        );
    }
    Ok(())
}

/// The body UDAM answers to `GET path` right now, for nginx to serve the same bytes.
pub async fn body_of(addr: SocketAddr, path: &str) -> anyhow::Result<Bytes> {
    let r = reqwest::get(format!("http://{addr}{path}")).await?;
    anyhow::ensure!(
        r.status().as_u16() == 200,
        "GET {path} answered {}",
        r.status()
    );
    Ok(r.bytes().await?)
}
