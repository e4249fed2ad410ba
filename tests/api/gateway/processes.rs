//! Several real `udam serve` processes sharing one allowance, and a crash between
//! taking a request and forwarding it.

use crate::common::process::ServerProcess;
use crate::common::{Backend, TestDb, create_listing, place_order};

use super::harness::{Upstream, call, first_token, gateway_listing};

crate::dual_backend_tests!(
    three_processes_serve_exactly_the_allowance,
    a_process_killed_after_taking_never_over_serves,
);

/// A port free right now, for a child's `--gateway-bind`.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts a `udam serve` with a gateway allowing local upstreams; returns it and its
/// gateway URL.
async fn start(db: &TestDb, env: &[(&str, &str)]) -> (ServerProcess, String) {
    let port = free_port().to_string();
    let bind = format!("127.0.0.1:{port}");
    let process = ServerProcess::start(
        &db.url,
        &[
            "--gateway-bind",
            &bind,
            "--gateway-allow-http",
            "--gateway-allow-private",
        ],
        env,
    )
    .await;
    (process, format!("http://{bind}"))
}

async fn three_processes_serve_exactly_the_allowance(backend: Backend) {
    let upstream = Upstream::start().await;
    let db = TestDb::new(backend).await;
    let mut processes = Vec::new();
    for _ in 0..3 {
        processes.push(start(&db, &[]).await);
    }
    let api = &processes[0].0.client;
    let seller = api.signup("seller@example.com").await;
    let buyer = api.signup("buyer@example.com").await;
    let listing = create_listing(api, &seller, &gateway_listing(&upstream.base, 10, "all")).await;
    place_order(api, &buyer, &listing, 3).await;
    let (_, key, _) = first_token(api, &buyer).await;
    let key = key.unwrap();

    let http = reqwest::Client::new();
    let calls = (0..60).map(|i| {
        let gateway = processes[i % 3].1.clone();
        let (http, key, listing) = (http.clone(), key.clone(), listing.clone());
        async move { call(&http, &gateway, &listing, "now", &key).await }
    });
    let results = futures::future::join_all(calls).await;
    let served = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(served, 30, "3 units of 10 requests serve exactly 30");
    assert!(
        results
            .iter()
            .filter(|r| r.0 != 200)
            .all(|r| r.0 == 402 && r.1 == "allowance_exhausted")
    );
    assert_eq!(upstream.count(), 30);
    for (process, _) in processes {
        assert!(process.terminate().await, "clean exit");
    }
}

async fn a_process_killed_after_taking_never_over_serves(backend: Backend) {
    let upstream = Upstream::start().await;
    let db = TestDb::new(backend).await;
    let (healthy, healthy_gateway) = start(&db, &[]).await;
    // Aborts the first time it has taken a request, before forwarding it.
    let (doomed, doomed_gateway) = start(&db, &[("FAILPOINTS", "gateway::taken=return")]).await;
    let api = &healthy.client;
    let seller = api.signup("seller@example.com").await;
    let buyer = api.signup("buyer@example.com").await;
    let listing = create_listing(api, &seller, &gateway_listing(&upstream.base, 10, "all")).await;
    place_order(api, &buyer, &listing, 1).await;
    let (_, key, _) = first_token(api, &buyer).await;
    let key = key.unwrap();

    let http = reqwest::Client::new();
    let crashed = http
        .get(format!("{doomed_gateway}/{listing}/x"))
        .bearer_auth(&key)
        .send()
        .await;
    assert!(crashed.is_err(), "the process died mid-request");
    drop(doomed);
    assert_eq!(upstream.count(), 0);

    // The request it took stays counted (its outcome is unknown), so the others serve
    // the 9 left and never a tenth.
    let mut served = 0;
    loop {
        let (status, code, _) = call(&http, &healthy_gateway, &listing, "x", &key).await;
        if status != 200 {
            assert_eq!((status, code.as_str()), (402, "allowance_exhausted"));
            break;
        }
        served += 1;
        assert!(served <= 10, "over-served");
    }
    assert_eq!(served, 9);
    assert_eq!(upstream.count(), 9);
    let (_, _, item) = first_token(api, &buyer).await;
    assert_eq!(item["requests_used"], 10);
    assert_eq!(item["requests_allowed"], 10);
    assert!(healthy.terminate().await);
}
