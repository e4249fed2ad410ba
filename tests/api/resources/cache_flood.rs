//! The browse cache flooded with distinct listings and distinct pages, all of them
//! large, against a real `udam serve`: it holds no more than its byte bounds, the
//! process stays within its base plus those bounds, and it still answers.

use futures::StreamExt;
use reqwest::StatusCode;
use udam::listings::cache::{ENTRY_OVERHEAD, MAX_LISTING_BYTES, MAX_PAGE_BYTES};

use super::spawn::{Launch, Udam};
use crate::common::{Backend, TestDb, create_listing, fixtures, listing_body};
use crate::dual_backend_tests;

/// Listings whose reads, about 20 KB each, add up to more than the listing bound.
const LISTINGS: usize = 600;
/// Distinct pages of 100 such listings (~2 MB each): 60 times the page bound
/// would be ~120 MB.
const PAGES: usize = 100;
/// Listings per page: ~400 KB per page, 100 pages ~40 MB, five times the bound.
const PAGE_SIZE: usize = 20;

/// Database connections of the flooded server. Each SQLite connection keeps its
/// own page cache (2 MiB) and its worker thread's allocator arena, which large
/// reads fill: docs/OPERATIONS.md counts up to [`SQLITE_PER_CONNECTION_KIB`] each.
const DB_CONNECTIONS: &str = "4";
/// What one SQLite connection may hold after large reads (measured ~7 MiB).
const SQLITE_PER_CONNECTION_KIB: u64 = 8 * 1024;
/// What the PostgreSQL pool of 8 (`Udam::start`) and the threads decoding its
/// rows may hold after large reads: sqlx's per-connection buffers and the
/// allocator's retained arenas, 2 MiB per connection (measured 63 to 72 MB at
/// peak over runs, against 64 MiB + 16 MiB of cache; 81 to 96 MB while dozens of
/// large pages could wait for the cache's eviction).
const POSTGRES_POOL_KIB: u64 = 16 * 1024;

/// A 10,000-character description of two-byte characters: ~20 KB as JSON.
fn long_description(i: usize) -> String {
    format!("{i} {}", "ü".repeat(9_990))
}

/// Reads every listing and `PAGES` distinct browse pages (each a different price
/// filter over the same listings), answering 200 with the full bodies.
async fn flood(server: &Udam, ids: &[String]) {
    let reads = futures::stream::iter(ids)
        .map(|id| async move {
            let read = server
                .client
                .get(&format!("/api/v1/listings/{id}"), None)
                .await;
            assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
            assert!(read.body["description"].as_str().unwrap().len() > 19_000);
        })
        .buffer_unordered(16);
    reads.collect::<()>().await;
    for page in 0..PAGES {
        let path = format!(
            "/api/v1/listings?limit={PAGE_SIZE}&max_price_cents={}",
            1_000 + page
        );
        let read = server.client.get(&path, None).await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
        assert_eq!(read.body["items"].as_array().unwrap().len(), PAGE_SIZE);
    }
}

/// 600 listings of ~20 KB read (12 MB against an 8 MiB bound) and 100 distinct
/// pages of 20 of them (~40 MB against an 8 MiB bound), twice: the cache's gauges
/// never pass the bounds, every answer is complete, and the process stays within
/// its budget plus the cache's bound.
async fn browse_cache_flood_stays_within_its_bytes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            // PostgreSQL servers get a small pool from `Udam::start` already.
            args: match backend {
                Backend::Sqlite => &["--db-max-connections", DB_CONNECTIONS],
                Backend::Postgres => &[],
            },
            ..Launch::default()
        },
    )
    .await;
    let pool = fixtures::connect(&db.url).await;
    let seller = fixtures::users(&pool, "seller", 1).await.remove(0);
    let ids: Vec<String> = futures::stream::iter(0..LISTINGS)
        .map(|i| {
            let (client, seller) = (server.client.clone(), seller.clone());
            async move {
                let mut body = listing_body(&format!("big{i}"), 1 + i as i64 % 900, 10);
                body["description"] = long_description(i).into();
                create_listing(&client, &seller, &body).await.to_string()
            }
        })
        .buffered(16)
        .collect()
        .await;
    // Twice: the first reads may be dropped again by the invalidator, which sees
    // the listings just created.
    flood(&server, &ids).await;
    flood(&server, &ids).await;

    let page_bytes = server
        .metric_when(r#"udam_browse_cache_bytes{kind="pages"}"#, |v| v > 0.0)
        .await;
    let listing_bytes = server
        .metric_when(r#"udam_browse_cache_bytes{kind="listings"}"#, |v| v > 0.0)
        .await;
    let listings = server
        .metric_when(r#"udam_browse_cache_entries{kind="listings"}"#, |v| v > 0.0)
        .await;
    eprintln!("{backend:?}: cache holds {page_bytes} page bytes, {listing_bytes} listing bytes");
    assert!(
        page_bytes <= MAX_PAGE_BYTES as f64,
        "{page_bytes} page bytes"
    );
    assert!(
        listing_bytes <= MAX_LISTING_BYTES as f64,
        "{listing_bytes} listing bytes"
    );
    assert!(listings < LISTINGS as f64, "every listing kept: {listings}");
    assert!(listings <= (MAX_LISTING_BYTES / ENTRY_OVERHEAD as u64) as f64);
    // Still full enough to serve from: the flood filled it, the bound evicted.
    assert!(
        listing_bytes > MAX_LISTING_BYTES as f64 / 2.0,
        "{listing_bytes}"
    );

    let database = match backend {
        Backend::Sqlite => SQLITE_PER_CONNECTION_KIB * DB_CONNECTIONS.parse::<u64>().unwrap(),
        Backend::Postgres => POSTGRES_POOL_KIB,
    };
    server.assert_peak_within(
        (MAX_PAGE_BYTES + MAX_LISTING_BYTES) / 1024 + database,
        16,
        &format!("{backend:?} browse cache flood"),
    );
    // And it answers correctly afterwards, from the cache or the database.
    let first = server
        .client
        .get(&format!("/api/v1/listings/{}", ids[0]), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    // (Compared as a flag: a failure would print 20 KB.)
    let same = first.body["description"] == long_description(0).as_str();
    assert!(same, "the first listing's description changed");
    let page = server.client.get("/api/v1/listings", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 20);
}

dual_backend_tests!(browse_cache_flood_stays_within_its_bytes);
