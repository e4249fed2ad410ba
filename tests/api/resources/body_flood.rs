//! Request bodies and idempotency records flooded against a real `udam serve`:
//! many oversized bodies at once are refused after at most the body limit each,
//! and many distinct idempotency keys leave nothing behind in memory (their
//! answers live in the database, and a new process replays them).

use futures::StreamExt;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::spawn::{Launch, Udam};
use crate::common::{
    Backend, Client, TestDb, assert_ledger_clean, create_listing, fixtures, listing_body,
};
use crate::dual_backend_tests;

/// The default `--body-limit`.
const BODY_LIMIT_KIB: u64 = 64;
/// `listings::handlers::LISTING_BODY_LIMIT`.
const LISTING_BODY_LIMIT_KIB: u64 = 192;
/// Each flooding client offers this much, 16 times the listing limit.
const OFFERED: usize = 3 * 1024 * 1024;
const TO_REGISTER: usize = 200;
const TO_LISTINGS: usize = 100;

/// Streams a chunked body of [`OFFERED`] bytes to `path` while reading the
/// answer; returns the answer's head. Writing stops when the server has
/// answered and closed.
async fn offer_oversized(addr: String, path: &'static str, token: Option<String>) -> String {
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
        for _ in 0..OFFERED / 0x4000 {
            write.write_all(chunk.as_bytes()).await?;
        }
        write.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the head is complete; a reset after it is the server closing.
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

/// 200 clients stream 3 MiB bodies to sign-up (limit 64 KiB) and 100 signed-in
/// clients to listing creation (limit 192 KiB), all at once: each gets 413 with
/// `Connection: close`, the process holds at most the limits' worth, and a
/// normal request still works.
async fn oversized_body_flood_is_refused_within_the_limits(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(backend, &db.url, Launch::default()).await;
    let pool = fixtures::connect(&db.url).await;
    let seller = fixtures::users(&pool, "seller", 1).await.remove(0);
    let register = (0..TO_REGISTER)
        .map(|_| offer_oversized(server.addr.clone(), "/api/v1/auth/register", None));
    let listings = (0..TO_LISTINGS).map(|_| {
        offer_oversized(
            server.addr.clone(),
            "/api/v1/listings",
            Some(seller.clone()),
        )
    });
    let answers = join_all(register.chain(listings)).await;
    for head in &answers {
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
    }
    let held = TO_REGISTER as u64 * BODY_LIMIT_KIB + TO_LISTINGS as u64 * LISTING_BODY_LIMIT_KIB;
    let in_flight = TO_REGISTER + TO_LISTINGS;
    server.assert_peak_within(held, in_flight, &format!("{backend:?} oversized bodies"));
    let listed = create_listing(&server.client, &seller, &listing_body("after", 1, 5)).await;
    let read = server
        .client
        .get(&format!("/api/v1/listings/{listed}"), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

/// 2,000 purchases, each under its own 255-character `Idempotency-Key`: the
/// process holds none of their answers (its memory stays at its base), and a
/// new process on the same database replays each one exactly, without placing
/// an order twice.
async fn idempotency_key_flood_lives_in_the_database(backend: Backend) {
    const ORDERS: usize = 2_000;
    const BUYERS: usize = 20;
    const AT_ONCE: usize = 50;
    let db = TestDb::new(backend).await;
    let server = Udam::start(backend, &db.url, Launch::default()).await;
    let pool = fixtures::connect(&db.url).await;
    let seller = fixtures::users(&pool, "seller", 1).await.remove(0);
    let buyers = fixtures::users(&pool, "buyer", BUYERS).await;
    let listing = create_listing(&server.client, &seller, &listing_body("keys", 1, 1_000_000))
        .await
        .to_string();
    let key = |i: usize| format!("{i:05}-{}", "k".repeat(249));
    let buy = |client: Client, i: usize| {
        let (token, listing) = (buyers[i % BUYERS].clone(), listing.clone());
        async move {
            let answer = client
                .send(
                    client
                        .http
                        .post(format!("{}/api/v1/orders", client.base))
                        .bearer_auth(token)
                        .header("idempotency-key", key(i))
                        .json(&json!({"listing_id": listing, "units": 1})),
                )
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
            (
                answer.body["order"]["id"].as_str().unwrap().to_owned(),
                answer.header("idempotent-replayed").is_some(),
            )
        }
    };
    let first: Vec<(String, bool)> = futures::stream::iter(0..ORDERS)
        .map(|i| buy(server.client.clone(), i))
        .buffered(AT_ONCE)
        .collect()
        .await;
    assert!(first.iter().all(|(_, replayed)| !replayed));
    server.assert_peak_within(0, AT_ONCE, &format!("{backend:?} idempotency keys"));
    drop(server);

    let again = Udam::start(backend, &db.url, Launch::default()).await;
    let replays: Vec<(String, bool)> = futures::stream::iter(0..ORDERS)
        .map(|i| buy(again.client.clone(), i))
        .buffered(AT_ONCE)
        .collect()
        .await;
    for ((first, _), (replay, replayed)) in first.iter().zip(&replays) {
        assert_eq!(first, replay, "a replay answered another order");
        assert!(replayed, "answered again instead of replayed");
    }
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(pool.writes())
        .await
        .expect("count orders");
    assert_eq!(orders, ORDERS as i64);
    assert_ledger_clean(&pool).await;
}

dual_backend_tests!(
    oversized_body_flood_is_refused_within_the_limits,
    idempotency_key_flood_lives_in_the_database
);
