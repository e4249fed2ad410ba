//! Real `udam serve` processes: a purchase killed before it commits emits nothing,
//! a delivery process killed mid-attempt loses no event, and two processes never
//! send the same attempt twice; the worker's own PostgreSQL pool opens only what it
//! uses.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::Row;

use super::{LOCAL_DELIVERY, Receiver, assert_all_signed, register};
use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, TestDb, create_listing, fixtures, listing_body, order, place_order,
};

crate::dual_backend_tests!(
    a_rolled_back_purchase_emits_nothing,
    a_killed_delivery_process_loses_no_event,
    a_process_killed_before_sending_loses_no_event,
    two_processes_never_send_the_same_attempt,
    the_delivery_worker_yields_the_cpu_to_requests,
);

// PostgreSQL only: on SQLite the worker shares the server's database.
mod postgres_pool {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_workers_database_opens_only_the_pool_it_uses() {
        super::the_workers_database_opens_only_the_pool_it_uses().await;
    }
}

/// Starts a delivering server process, armed to abort at `failpoints` when given;
/// `overrides` replace [`LOCAL_DELIVERY`]'s values of the same flags (the binary
/// takes each flag once).
async fn start(db: &TestDb, failpoints: Option<&str>, overrides: &[(&str, &str)]) -> ServerProcess {
    let mut args: Vec<&str> = LOCAL_DELIVERY.to_vec();
    for (flag, value) in overrides {
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value,
            None => args.extend([*flag, *value]),
        }
    }
    let env: Vec<(&str, &str)> = failpoints
        .map(|f| vec![("FAILPOINTS", f)])
        .unwrap_or_default();
    ServerProcess::start(&db.url, &args, &env).await
}

/// True when nothing answers at `client`'s address any more.
async fn is_dead(client: &Client) -> bool {
    client
        .http
        .get(format!("{}/healthz", client.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err()
}

async fn a_rolled_back_purchase_emits_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    // SQLite buys one at a time, PostgreSQL in batches: whichever path runs, the
    // process dies inside the purchase's transaction (on PostgreSQL, a listing's
    // batch after the combined statement refused it).
    let doomed = start(
        &db,
        Some(
            "purchase::instant_before_commit=return;purchase::combined_refuses=return;\
             purchase::batch_before_commit=return",
        ),
        &[],
    )
    .await;
    let seller = doomed.signup("seller@example.com").await;
    let buyer = doomed.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    let (_, secret) = register(
        &doomed,
        &seller,
        &rx.url,
        &["order.created", "order.fulfilled"],
    )
    .await;
    let listing = create_listing(&doomed, &seller, &listing_body("ticks", 100, 5)).await;
    let answer = doomed
        .http
        .post(format!("{}/api/v1/orders", doomed.base))
        .bearer_auth(&buyer)
        .json(&serde_json::json!({"listing_id": listing.as_str(), "units": 1}))
        .send()
        .await;
    assert!(answer.is_err(), "the process died under the purchase");
    assert!(is_dead(&doomed).await);

    let check = fixtures::connect(&db.url).await;
    let count = |sql: &'static str| {
        let pool = check.pool().clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
                .try_get::<i64, _>(0)
                .expect("count")
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM orders").await, 0, "rolled back");
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_outbox").await,
        0,
        "no event written"
    );

    // A later purchase on a healthy process is the only thing the receiver hears of.
    let healthy = start(&db, None, &[]).await;
    let kept = place_order(&healthy, &buyer, &listing, 1).await;
    let got = rx
        .wait_until("the kept purchase's events", |got| got.len() == 2)
        .await;
    assert!(got.iter().all(|m| m.json()["data"]["id"] == kept.as_str()));
    assert_all_signed(&got, &secret).await;
    // The purchase wrote one `order.placed` row; the fan-out made its two events.
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_outbox WHERE event_type = 'order.placed'").await,
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_outbox WHERE event_type <> 'order.placed'").await,
        2
    );
    crate::common::assert_ledger_clean(&check).await;
    check.close().await;
}

async fn a_killed_delivery_process_loses_no_event(backend: Backend) {
    killed_delivery(backend, "webhooks::after_send", true).await;
}

async fn a_process_killed_before_sending_loses_no_event(backend: Backend) {
    killed_delivery(backend, "webhooks::before_send", false).await;
}

/// A process dies at `point` during its first attempt; a second process delivers the
/// event after the claim's lease lapses. `sent_first`: whether the dead process's
/// attempt reached the receiver before it died.
async fn killed_delivery(backend: Backend, point: &str, sent_first: bool) {
    let db = TestDb::new(backend).await;
    // A 1 s timeout makes the lease 3 s.
    let armed = format!("{point}=return");
    let doomed = start(&db, Some(&armed), &[("--webhook-timeout", "1s")]).await;
    let seller = doomed.signup("seller@example.com").await;
    let buyer = doomed.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = register(&doomed, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&doomed, &seller, &listing_body("ticks", 100, 5)).await;
    let r = order(&doomed, &buyer, &listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let order_id = r.body["order"]["id"].as_str().expect("order id").to_owned();
    // The worker picks the event up and dies at the point.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !is_dead(&doomed).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the process never reached {point}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rx.received().len(), usize::from(sent_first));

    let survivor = start(&db, None, &[("--webhook-timeout", "1s")]).await;
    let want = 1 + usize::from(sent_first);
    let got = rx
        .wait_until("the event after the crash", |got| got.len() == want)
        .await;
    assert!(got.iter().all(|m| m.id == got[0].id), "the same webhook-id");
    assert_eq!(got[0].json()["data"]["id"], order_id.as_str());
    assert_all_signed(&got, &secret).await;
    let items = super::deliveries_until(&survivor, &seller, &endpoint, |items| {
        items.len() == 1 && items[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(items[0]["attempts"], 2, "the dead attempt counts");
    assert_eq!(rx.received().len(), want);
}

async fn two_processes_never_send_the_same_attempt(backend: Backend) {
    const ORDERS: usize = 40;
    let db = TestDb::new(backend).await;
    let one = start(&db, None, &[("--webhook-poll-interval", "5ms")]).await;
    let two = start(&db, None, &[("--webhook-poll-interval", "5ms")]).await;
    let seller = one.signup("seller@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = register(&one, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&one, &seller, &listing_body("ticks", 100, ORDERS as i64)).await;
    let check = fixtures::connect(&db.url).await;
    let buyers = fixtures::users(&check, "buyer", ORDERS).await;
    // Orders through both processes, concurrently.
    let mut tasks = Vec::new();
    for (i, buyer) in buyers.into_iter().enumerate() {
        let client = if i % 2 == 0 {
            one.client.clone()
        } else {
            two.client.clone()
        };
        let listing = listing.to_string();
        tasks.push(tokio::spawn(async move {
            place_order(&client, &buyer, &listing, 1).await;
        }));
    }
    for task in tasks {
        task.await.expect("order task");
    }
    let got = rx
        .wait_until("every order's event", |got| got.len() >= ORDERS)
        .await;
    let items = super::deliveries_until(&one, &seller, &endpoint, |items| {
        items.len() == ORDERS && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let got_now = rx.received();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for m in &got_now {
        *per_id.entry(m.id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), ORDERS, "every event arrived");
    assert!(
        per_id.values().all(|n| *n == 1),
        "no event was sent twice: {per_id:?}"
    );
    // Each order's one outbox row was expanded once: one `order.created` per order.
    let mut per_order: HashMap<String, usize> = HashMap::new();
    for m in &got_now {
        let order = m.json()["data"]["id"]
            .as_str()
            .expect("order id")
            .to_owned();
        *per_order.entry(order).or_default() += 1;
    }
    assert_eq!(per_order.len(), ORDERS);
    assert!(per_order.values().all(|n| *n == 1), "{per_order:?}");
    assert!(items.iter().all(|d| d["attempts"] == 1));
    assert_all_signed(&got, &secret).await;
    crate::common::assert_ledger_clean(&check).await;
    check.close().await;
}

/// The nice values of `pid`'s threads named `name`, read from `/proc` (field 19 of a
/// thread's `stat`, counted after the parenthesised name). Threads that end while
/// they are read are skipped.
fn thread_nices(pid: u32, name: &str) -> Vec<i64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut nices = Vec::new();
    for task in tasks.flatten() {
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("stat")),
        ) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        // After the name: state (3), ppid (4), … priority (18), nice (19).
        let nice: Option<i64> = stat
            .rfind(')')
            .and_then(|end| stat.get(end + 2..))
            .and_then(|rest| rest.split(' ').nth(16))
            .and_then(|field| field.parse().ok());
        nices.extend(nice);
    }
    nices
}

async fn the_delivery_worker_yields_the_cpu_to_requests(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = start(&db, None, &[]).await;
    // The worker has a thread of its own at nice 10; the request threads keep 0. The
    // process reports that it listens before it starts its background tasks, and the
    // thread lowers its own priority once it runs, so the nice value is polled for.
    let pid = server.pid();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let nices = thread_nices(pid, "udam-webhooks");
        if nices == [10] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook thread's nice values: {nices:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request_threads = thread_nices(pid, "tokio-rt-worker");
    assert!(!request_threads.is_empty(), "the request runtime's threads");
    assert!(
        request_threads.iter().all(|nice| *nice == 0),
        "{request_threads:?}"
    );
    // And it delivers: a purchase's events arrive, signed.
    let seller = server.signup("seller@example.com").await;
    let buyer = server.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    let (_, secret) = register(&server, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&server, &seller, &listing_body("ticks", 100, 2)).await;
    let order = place_order(&server, &buyer, &listing, 1).await;
    let got = rx
        .wait_until("the order's event", |got| !got.is_empty())
        .await;
    assert_eq!(got[0].json()["data"]["id"], order.as_str());
    assert_all_signed(&got, &secret).await;
    assert!(server.terminate().await, "stopped cleanly");
}

/// The delivery worker's own database (`Db::for_own_runtime`) on PostgreSQL is the
/// one pool its statements use: it opens one connection, not also a native pool that
/// would hold an idle connection for the life of every process.
async fn the_workers_database_opens_only_the_pool_it_uses() {
    let db = TestDb::new(Backend::Postgres).await;
    let server = fixtures::connect(&db.url).await;
    // Its own name, so its connections can be told from the server's.
    let url = format!("{}?application_name=udam_worker_probe", db.url);
    let own = server
        .for_own_runtime(&url, 2)
        .await
        .expect("the worker's pool");
    assert!(own.pg().is_none(), "no native pool");
    let opened: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'udam_worker_probe'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert_eq!(opened, 1, "connections the worker's database opened");
    let answer: i64 = sqlx::query("SELECT 7 AS n")
        .fetch_one(own.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(answer, 7);
}
