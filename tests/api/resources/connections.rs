//! A slow-header flood against a real `udam serve` under a low descriptor limit.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::spawn::{Launch, Udam};
use crate::common::{Backend, TestDb};
use crate::dual_backend_tests;

const SLOW_CLIENTS: usize = 2_000;
const DESCRIPTOR_LIMIT: u64 = 512;
const HEADER_TIMEOUT_SECS: u64 = 2;

/// 2,000 connections that never finish their request head, against a server whose
/// descriptor limit is 512: the server never exceeds its descriptors, a normal
/// request is still answered within a second, and every slow connection is closed
/// (evicted to make room, or by the header-read timeout).
async fn slow_header_flood_leaves_room_for_real_requests(backend: Backend) {
    let db = TestDb::new(backend).await;
    let timeout = format!("{HEADER_TIMEOUT_SECS}s");
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            args: &["--header-read-timeout", &timeout],
            nofile: Some(DESCRIPTOR_LIMIT),
            ..Launch::default()
        },
    )
    .await;
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for _ in 0..SLOW_CLIENTS {
        let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
        // Half a request head, never finished. The server may already have closed
        // this one to make room, so a failed write is fine.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        slow.push(stream);
    }
    let fds = server.open_fds();
    assert!(fds < DESCRIPTOR_LIMIT as usize, "{fds} descriptors open");

    let asked = Instant::now();
    let health = server
        .client
        .http
        .get(format!("{}/healthz", server.client.base))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("a normal request is answered within a second");
    assert_eq!(health.status(), StatusCode::OK);
    eprintln!(
        "{backend:?}: {fds} server descriptors with {SLOW_CLIENTS} slow clients; /healthz in {:?}",
        asked.elapsed()
    );

    // Every slow connection ends: the server closes it (EOF or reset) by the header
    // timeout at the latest. The deadline leaves room for a loaded machine.
    let deadline = Duration::from_secs(HEADER_TIMEOUT_SECS + 8);
    let closes = slow.into_iter().map(|mut stream| async move {
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a 408 or similar before the close
            }
        }
    });
    tokio::time::timeout(deadline, futures::future::join_all(closes))
        .await
        .expect("every slow connection is closed by the server");
    let after = server.open_fds();
    assert!(after < 64, "{after} descriptors still open after the flood");
}

/// A client that sends one request and then idles on its keep-alive connection is
/// closed after the header-read timeout, which also bounds idle keep-alive.
async fn idle_keep_alive_connections_are_closed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            args: &["--header-read-timeout", "1s"],
            ..Launch::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was kept open");
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
}

/// A client that asks for far more than the socket buffers hold (200 pipelined
/// requests for the 200 KB OpenAPI document) and then reads nothing is closed after
/// the write-stall timeout instead of holding its connection for ever; what it
/// reads afterwards ends early, cut.
async fn a_client_that_stops_reading_is_closed(backend: Backend) {
    const REQUESTS: usize = 200;
    let db = TestDb::new(backend).await;
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            args: &[
                "--write-stall-timeout",
                "1s",
                "--rate-limit-ip",
                "100000/min",
            ],
            ..Launch::default()
        },
    )
    .await;
    let document = server
        .client
        .http
        .get(format!("{}/api/openapi.json", server.client.base))
        .send()
        .await
        .expect("the document")
        .bytes()
        .await
        .expect("its body")
        .len();
    let mut stream = TcpStream::connect(&server.addr).await.expect("connect");
    let request = b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQUESTS);
    stream
        .write_all(&request)
        .await
        .expect("write the requests");
    // The server gives up on the connection once its writes have waited a second.
    server
        .metric_when("udam_connections_total{outcome=\"stalled\"}", |n| n >= 1.0)
        .await;
    let mut read = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was closed");
    assert!(
        read < REQUESTS * document,
        "cut short: {read} of {} bytes",
        REQUESTS * document
    );
}

dual_backend_tests!(
    slow_header_flood_leaves_room_for_real_requests,
    idle_keep_alive_connections_are_closed,
    a_client_that_stops_reading_is_closed
);
