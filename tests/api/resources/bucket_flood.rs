//! Rate-limit buckets flooded with more distinct clients than the store holds,
//! against a real `udam serve` behind a trusted proxy: the bucket count never
//! passes its capacity, the process stays within its base plus that bound, and
//! limits still hold for the clients it remembers.

use std::net::Ipv4Addr;

use futures::future::join_all;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::spawn::{Launch, Udam};
use crate::common::{Backend, TestDb};
use crate::dual_backend_tests;

/// The in-process store's capacity (`ratelimit::local::DEFAULT_CAPACITY`).
const CAPACITY: usize = 1 << 17;
/// Distinct clients: past the capacity by a tenth.
const CLIENTS: usize = CAPACITY + CAPACITY / 10;
/// Connections the flood is spread over, each pipelining its requests.
const CONNECTIONS: usize = 8;
/// Requests written before their answers are read.
const PIPELINE: usize = 256;
/// What the documentation allows for a full store (~100 bytes a bucket).
const BOUND_KIB: u64 = 16 * 1024;

/// The `i`-th distinct client address.
fn client(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i as u32)
}

/// Reads one HTTP/1.1 response off `reader`; returns its status code.
async fn read_response(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> u16 {
    let mut status = 0;
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .await
            .expect("read a response line");
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some(rest) = text.strip_prefix("HTTP/1.1 ") {
            status = rest[..3].parse().expect("status code");
        } else if let Some((name, value)) = text.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("content length");
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.expect("read the body");
    status
}

/// One request from each client in `clients`, pipelined over one connection;
/// every answer must be the 404 of an unknown route (not a 429).
async fn send_from(addr: String, clients: std::ops::Range<usize>) {
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let all: Vec<usize> = clients.collect();
    for chunk in all.chunks(PIPELINE) {
        let mut batch = String::new();
        for &i in chunk {
            batch.push_str(&format!(
                "GET /api/v1/flood HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {}\r\n\r\n",
                client(i)
            ));
        }
        write.write_all(batch.as_bytes()).await.expect("write");
        for _ in chunk {
            assert_eq!(read_response(&mut reader).await, 404);
        }
    }
}

/// Remaining requests in one client's bucket, as a fresh request reports it.
async fn remaining(server: &Udam, i: usize) -> u64 {
    let answer = server
        .client
        .http
        .get(format!("{}/api/v1/flood", server.client.base))
        .header("x-forwarded-for", client(i).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    answer.headers()["ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// 144,179 distinct clients (one request each, through a trusted proxy) against
/// a store of 131,072 buckets whose quota keeps every bucket live for an hour.
async fn bucket_flood_stays_within_capacity(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            args: &[
                "--trusted-proxies",
                "127.0.0.1",
                "--rate-limit-ip",
                "100/hour",
            ],
            ..Launch::default()
        },
    )
    .await;
    let per = CLIENTS.div_ceil(CONNECTIONS);
    let started = std::time::Instant::now();
    join_all((0..CONNECTIONS).map(|c| {
        let range = c * per..((c + 1) * per).min(CLIENTS);
        send_from(server.addr.clone(), range)
    }))
    .await;
    eprintln!("{backend:?}: {CLIENTS} clients in {:?}", started.elapsed());

    let held = server
        .metric_when("udam_rate_limit_buckets", |v| v > 0.0)
        .await;
    eprintln!("{backend:?}: {held} buckets held");
    assert!(held <= CAPACITY as f64, "{held} buckets");
    // Full, not emptied: only the eviction kept it at the bound.
    assert!(held >= (CAPACITY / 2) as f64, "{held} buckets");
    server.assert_peak_within(BOUND_KIB, CONNECTIONS, &format!("{backend:?} bucket flood"));

    // Limits still hold: the latest client is remembered (one request spent
    // before, one now), and a new client starts with a full bucket.
    assert_eq!(remaining(&server, CLIENTS - 1).await, 98);
    assert_eq!(remaining(&server, CLIENTS + 1).await, 99);
}

dual_backend_tests!(bucket_flood_stays_within_capacity);
