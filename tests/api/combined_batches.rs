//! Purchases of different listings combined (PostgreSQL,
//! `orders::purchase::batch::combined`): once a process knows a listing's facts,
//! its purchases queue with those of other listings and one statement writes them
//! all. These races buy many listings at once and check what a user would: every
//! answer exact, each listing's units and each buyer's balance to the cent, the
//! ledger clean; on PostgreSQL also that orders of different listings really were
//! committed together and that no batch failed. On SQLite the same races run through
//! the one writer.

use reqwest::StatusCode;
use sqlx::Row;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, ListingId, TestApp, TestDb, assert_invariant as invariant, create_listing,
    fixtures, listing_body, order, race_orders,
};

crate::dual_backend_tests!(
    purchases_of_many_listings_share_commits,
    a_listing_run_short_leaves_the_rest_of_its_batch_served,
    many_listings_from_three_processes_never_deadlock,
    a_combined_statement_posts_one_sale_for_its_orders,
);

/// A sample of a client's `/metrics` page, 0 before its first count.
async fn counted(metrics: &Client, series: &str) -> f64 {
    metrics.metric_sum(series).await
}

/// One 1-unit order per (buyer, listing) pair, all at once, spread over `clients`;
/// each outcome is the order's status or the error code.
async fn race(clients: &[Client], pairs: &[(String, ListingId)]) -> Vec<String> {
    race_orders(clients, pairs.iter().map(|(b, l)| (b.as_str(), l.as_str()))).await
}

/// How many of `outcomes` are `what`.
fn tally(outcomes: &[String], what: &str) -> usize {
    outcomes.iter().filter(|o| *o == what).count()
}

/// `n` listings of `seller`, listing `i` at `price(i)` cents with `units` units.
async fn listings(
    client: &Client,
    seller: &str,
    n: usize,
    units: i64,
    price: impl Fn(usize) -> i64,
) -> Vec<ListingId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = listing_body(&format!("feed {i}"), price(i), units);
        ids.push(create_listing(client, seller, &body).await);
    }
    ids
}

/// Transactions that committed orders of more than one listing (orders committed
/// together share their inserting transaction id, `xmin`).
async fn commits_of_several_listings(db: &udam::db::Db) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) FROM (SELECT CAST(xmin AS TEXT) AS x FROM orders \
         GROUP BY CAST(xmin AS TEXT) HAVING COUNT(DISTINCT listing_id) > 1) AS shared",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

/// 32 buyers each buy one unit of a different one of 32 listings at once, four
/// rounds (each listing known to the process from a first purchase): every purchase
/// is fulfilled at its listing's price, every listing and balance is exact, and on
/// PostgreSQL orders of different listings shared commits, combined statements did
/// the writing, and no batch failed.
async fn purchases_of_many_listings_share_commits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let first = app.signup("first@example.com").await;
    let feeds = listings(&app.client, &seller, 32, 20, |i| 10 + i as i64).await;
    for feed in &feeds {
        let r = order(&app.client, &first, feed, 1).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let buyers = fixtures::users(app.database(), "b", 32).await;
    for round in 0..4 {
        let pairs: Vec<_> = buyers
            .iter()
            .enumerate()
            .map(|(i, b)| (b.clone(), feeds[(i + round) % feeds.len()].clone()))
            .collect();
        let outcomes = race(std::slice::from_ref(&app.client), &pairs).await;
        assert_eq!(tally(&outcomes, "fulfilled"), 32, "{outcomes:?}");
    }
    for feed in &feeds {
        assert_eq!(invariant(app.database(), feed, 20).await, (15, 5));
    }
    // Buyer i bought feeds i, i+1, i+2 and i+3 (mod 32), at 10 + index cents each.
    for (i, buyer) in buyers.iter().enumerate() {
        let expected: i64 = (0..4).map(|r| 10 + ((i + r) % 32) as i64).sum();
        let owed = app.get("/api/v1/balance", Some(buyer)).await.body["items"].clone();
        assert_eq!(
            owed,
            serde_json::json!([{"currency": "usd", "owed_cents": expected}]),
            "buyer {i}"
        );
    }
    if backend == Backend::Postgres {
        let metrics = app.metrics.as_ref().expect("metrics listener");
        let shared = commits_of_several_listings(app.database()).await;
        let combined = counted(
            metrics,
            r#"udam_purchase_batch_writes_total{way="one_statement"}"#,
        )
        .await;
        let listings_sum = counted(metrics, "udam_purchase_batch_listings_sum").await;
        let statements = counted(metrics, "udam_purchase_batch_listings_count").await;
        assert!(
            shared >= 1 && listings_sum > statements,
            "{shared} commits of several listings; {listings_sum} listings in {statements} \
             combined statements"
        );
        assert!(combined >= 1.0, "{combined}");
        assert_eq!(
            counted(metrics, "udam_purchase_batch_failures_total").await,
            0.0,
            "no batch failed"
        );
    }
    app.assert_ledger_clean().await;
}

/// A listing with 3 units left is raced by 12 buyers while 12 others buy 12 other
/// listings, all known to the process: exactly 3 of the first get units, the rest
/// are told `insufficient_units` and charged nothing, and every purchase of the
/// other listings is fulfilled (a statement refused for the short listing writes
/// the others again at once).
async fn a_listing_run_short_leaves_the_rest_of_its_batch_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let first = app.signup("first@example.com").await;
    let short = create_listing(&app.client, &seller, &listing_body("short", 7, 4)).await;
    let others = listings(&app.client, &seller, 12, 5, |_| 3).await;
    for feed in others.iter().chain([&short]) {
        let r = order(&app.client, &first, feed, 1).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let buyers = fixtures::users(app.database(), "b", 24).await;
    // Interleaved, so the short listing's purchases sit among the others in batches.
    let pairs: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let listing = if i % 2 == 0 { &short } else { &others[i / 2] };
            (b.clone(), listing.clone())
        })
        .collect();
    let outcomes = race(std::slice::from_ref(&app.client), &pairs).await;
    let (short_ones, other_ones): (Vec<_>, Vec<_>) =
        outcomes.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let short_ones: Vec<String> = short_ones.into_iter().map(|(_, o)| o.clone()).collect();
    let other_ones: Vec<String> = other_ones.into_iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(tally(&short_ones, "fulfilled"), 3, "{short_ones:?}");
    assert_eq!(
        tally(&short_ones, "insufficient_units"),
        9,
        "{short_ones:?}"
    );
    assert_eq!(tally(&other_ones, "fulfilled"), 12, "{other_ones:?}");
    assert_eq!(invariant(app.database(), &short, 4).await, (0, 4));
    for feed in &others {
        assert_eq!(invariant(app.database(), feed, 5).await, (3, 2));
    }
    let charged = app
        .scalar(
            "SELECT CAST(SUM(owed_cents) AS BIGINT) FROM balances WHERE currency = $1",
            "usd",
        )
        .await;
    // `first` bought one of each; 3 buyers of the short listing and 12 others.
    assert_eq!(
        charged,
        (7 + 12 * 3) + 3 * 7 + 12 * 3,
        "nobody refused was charged"
    );
    app.assert_ledger_clean().await;
}

/// The same 8 buyers buy 6 listings from three processes at once, over and over:
/// their purchases meet in combined statements, in listing batches and one at a
/// time, each locking several balances and listings. Every attempt gets an answer a
/// user expects (no deadlock, no timeout), exactly the listed units are sold, and
/// the buyers owe exactly what was sold.
async fn many_listings_from_three_processes_never_deadlock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (_servers, clients) = ServerProcess::start_many(&db.url, 3).await;
    let seller = clients[0].signup("seller@example.com").await;
    let feeds = listings(&clients[0], &seller, 6, 50, |_| 2).await;
    let pool = fixtures::connect(&db.url).await;
    let buyers = fixtures::users(&pool, "b", 8).await;
    // 450 attempts for 300 units: buyer i's n-th attempt goes to listing (i + n) mod 6
    // through process (i + n) mod 3, so every buyer holds several listings' batches.
    let pairs: Vec<_> = (0..450)
        .map(|n| {
            let buyer = n % buyers.len();
            (
                buyers[buyer].clone(),
                feeds[(buyer + n / buyers.len()) % feeds.len()].clone(),
            )
        })
        .collect();
    let outcomes = race(&clients, &pairs).await;
    assert_eq!(tally(&outcomes, "fulfilled"), 300, "{outcomes:?}");
    assert_eq!(tally(&outcomes, "insufficient_units"), 150, "{outcomes:?}");
    for feed in &feeds {
        assert_eq!(invariant(&pool, feed, 50).await, (0, 50));
    }
    let owed: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(owed_cents), 0) AS BIGINT) FROM balances WHERE currency = 'usd'",
    )
    .fetch_one(pool.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(
        owed,
        300 * 2,
        "two cents owed per unit sold, no more, no less"
    );
    crate::common::assert_ledger_clean(&pool).await;
}

/// With a 2.5 % fee, 24 buyers race for two sellers' listings the process knows:
/// every balance is exact, and each order's fee is its own total's, rounded down
/// (4 of 1.99, 7 of 3.01; a fee taken on the statement's sum would differ). On
/// PostgreSQL a combined statement posts one `instant_sales` transaction that its
/// orders name, and `ledger verify` catches an order whose recorded fee no longer
/// adds up to its statement's lines.
async fn a_combined_statement_posts_one_sale_for_its_orders(backend: Backend) {
    use udam::ledger::{Account, AccountKind, balance};
    let app = TestApp::spawn_with(backend, &["--platform-fee-bps", "250"]).await;
    let (s1, s2) = (
        app.signup("s1@example.com").await,
        app.signup("s2@example.com").await,
    );
    let first = app.signup("first@example.com").await;
    let a = create_listing(&app.client, &s1, &listing_body("alpha", 199, 100)).await;
    let b = create_listing(&app.client, &s2, &listing_body("beta", 301, 100)).await;
    let mut sellers = Vec::new();
    for listing in [&a, &b] {
        let r = order(&app.client, &first, listing, 1).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        sellers.push(r.body["order"]["seller_id"].as_str().unwrap().to_owned());
    }
    let buyers = fixtures::users(app.database(), "fee", 24).await;
    let pairs: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, buyer)| {
            (
                buyer.clone(),
                if i % 2 == 0 { a.clone() } else { b.clone() },
            )
        })
        .collect();
    let outcomes = race(std::slice::from_ref(&app.client), &pairs).await;
    assert_eq!(tally(&outcomes, "fulfilled"), 24, "{outcomes:?}");
    let mut conn = app.database().pool().acquire().await.unwrap();
    let account = |owner: &str, kind| Account::new(owner, kind, "usd");
    let pending = [
        account(&sellers[0], AccountKind::SellerPending),
        account(&sellers[1], AccountKind::SellerPending),
        account("platform", AccountKind::PlatformFees),
    ];
    let mut balances = Vec::new();
    for acc in &pending {
        balances.push(balance(&mut conn, acc).await.unwrap());
    }
    // 13 sales each: 195 and 294 to the sellers, 4 and 7 in fees.
    assert_eq!(balances, [13 * 195, 13 * 294, 13 * 4 + 13 * 7]);
    if backend == Backend::Postgres {
        let row = sqlx::query(
            "SELECT COUNT(*) AS orders, COUNT(DISTINCT sale_reference) AS sales FROM orders \
             WHERE sale_reference IS NOT NULL",
        )
        .fetch_one(app.database().pool())
        .await
        .unwrap();
        let (orders, sales): (i64, i64) = (row.get("orders"), row.get("sales"));
        assert!(
            orders > sales && sales >= 1,
            "{orders} orders in {sales} sales"
        );
        app.assert_ledger_clean().await;
        let reference: String = sqlx::query_scalar(
            "UPDATE orders SET sale_fee_cents = sale_fee_cents + 1 WHERE id = \
             (SELECT MIN(id) FROM orders WHERE sale_reference IS NOT NULL) \
             RETURNING sale_reference",
        )
        .fetch_one(app.database().pool())
        .await
        .unwrap();
        let report = udam::ledger::verify(app.database()).await.unwrap();
        assert!(
            report.discrepancies.iter().any(|d| d.subject == reference),
            "{:#?}",
            report.discrepancies
        );
    } else {
        app.assert_ledger_clean().await;
    }
}
