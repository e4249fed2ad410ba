//! A 50 MiB body each way through a real `udam serve` gateway while that process's
//! resident memory stays flat: the bodies stream, they are never held whole (nor
//! in the test, which feeds and checks them chunk by chunk).

use std::time::Duration;

use reqwest::StatusCode;

use crate::common::process::ServerProcess;
use crate::common::{Backend, TestDb, create_listing};

use super::harness::{ChannelBody, Upstream, buy, call, gateway_listing};

crate::dual_backend_tests!(fifty_mib_each_way_keeps_the_server_memory_flat);

const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 800; // 50 MiB
/// How much the peak may grow over the idle baseline while 50 MiB go each way.
const GROWTH_KIB: u64 = 16 * 1024;

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc status"))
}

async fn fifty_mib_each_way_keeps_the_server_memory_flat(backend: Backend) {
    let upstream = Upstream::start().await;
    let db = TestDb::new(backend).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(
        &db.url,
        &[
            "--gateway-bind",
            &bind,
            "--gateway-allow-http",
            "--gateway-allow-private",
        ],
        &[],
    )
    .await;
    let gateway = format!("http://{bind}");
    let seller = server.signup("seller@example.com").await;
    let buyer = server.signup("buyer@example.com").await;
    let listing = create_listing(
        &server,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = buy(&server, &buyer, &listing, 1).await.unwrap();

    // Warm up the path (upstream pool, allowance) with small bodies, then take the
    // idle baseline.
    let http = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(call(&http, &gateway, &listing, "echo", &key).await.0, 200);
    }
    let pid = server.pid();
    let idle_rss = status_kib(pid, "VmRSS");
    let idle_hwm = status_kib(pid, "VmHWM");

    // Sample the resident memory while the bodies flow (VmHWM also covers the
    // moments between samples).
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(status_kib(pid, "VmRSS"));
            tokio::select! {
                _ = &mut stop_rx => return peak,
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });

    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    tokio::spawn(async move {
        for i in 0..CHUNKS {
            if tx.send(vec![(i % 251) as u8; CHUNK]).await.is_err() {
                return;
            }
        }
    });
    let mut response = http
        .post(format!("{gateway}/{listing}/echo"))
        .bearer_auth(&key)
        .body(reqwest::Body::wrap(ChannelBody(rx)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut total = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        for (offset, byte) in chunk.iter().enumerate() {
            let at = total + offset;
            assert_eq!(usize::from(*byte), (at / CHUNK) % 251, "byte {at}");
        }
        total += chunk.len();
    }
    assert_eq!(total, CHUNK * CHUNKS, "50 MiB came back");
    let _ = stop_tx.send(());
    let sampled_peak = sampler.await.unwrap();
    let hwm = status_kib(pid, "VmHWM");
    eprintln!(
        "{backend:?}: idle VmRSS {idle_rss} KiB, VmHWM {idle_hwm} KiB; while streaming \
         50 MiB each way: sampled VmRSS peak {sampled_peak} KiB, VmHWM {hwm} KiB"
    );
    assert!(
        hwm < idle_hwm + GROWTH_KIB,
        "peak grew {} KiB over the idle peak",
        hwm - idle_hwm
    );
    assert!(
        sampled_peak < idle_rss + GROWTH_KIB,
        "resident memory grew {} KiB over idle",
        sampled_peak.saturating_sub(idle_rss)
    );
    assert_eq!(upstream.count(), 3);
    assert!(server.terminate().await, "clean exit");
}
