//! Orders and grants name rows that exist, on both backends: PostgreSQL checks each
//! statement's new rows with one statement trigger (migration 0019), SQLite with its
//! foreign keys. A user, listing or order that rows refer to can be neither removed nor
//! renamed; one that nothing refers to can be removed.
//!
//! On PostgreSQL the purchase path's statement triggers must also keep probing indexes
//! once their tables have grown, whatever plan they cached while the tables were empty
//! (a cached hash join over the whole journal halved the hot listing's throughput).

use sqlx::{Connection, PgConnection, Row};
use udam::db::Db;

use crate::common::{Backend, TestDb, fixtures};
use crate::dual_backend_tests;

dual_backend_tests!(orders_and_grants_must_name_rows_that_exist);

const LISTING: &str = "INSERT INTO listings (id, seller_id, service_name, description, \
     unit_description, price_cents, currency, available_units, status, api_key_sealed, \
     api_key_key_id, api_key_hint, created_at, updated_at) \
     VALUES ('lst_1', 'usr_s', 'W', '', 'call', 100, 'usd', 50, 'active', $1, 'k', 'h', 1, 1)";

/// An instant order `id` of `buyer` for `listing`.
fn order(id: &str, buyer: &str, listing: &str) -> String {
    format!(
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
           unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
           created_at, updated_at) \
         VALUES ('{id}', '{buyer}', '{listing}', 'usr_s', 'W', 1, 100, 100, 'usd', \
           'fulfilled', 'deferred', 1, 1, 1)"
    )
}

/// A grant `id` of `order`.
fn grant(id: &str, order: &str) -> String {
    format!(
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
           created_at) VALUES ('{id}', '{order}', 'usr_b', 'lst_1', 'usr_s', 1, 'active', 1)"
    )
}

async fn exec(db: &Db, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(db.writes())
        .await
        .map(|_| ())
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(db.pool())
    .await
    .expect("count")
    .get("n")
}

async fn orders_and_grants_must_name_rows_that_exist(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_db.url, 4).await.expect("connect");
    db.migrate().await.expect("migrations apply");
    fixtures::insert_users(db.writes(), &["usr_b", "usr_s", "usr_idle"]).await;
    sqlx::query(LISTING)
        .bind(vec![0u8; 4])
        .execute(db.writes())
        .await
        .expect("listing");
    exec(&db, &order("ord_1", "usr_b", "lst_1"))
        .await
        .expect("an order naming rows that exist");
    exec(&db, &grant("tok_1", "ord_1"))
        .await
        .expect("a grant naming an order that exists");

    let refused = [
        order("ord_ghost_buyer", "usr_ghost", "lst_1"),
        order("ord_ghost_listing", "usr_b", "lst_ghost"),
        grant("tok_ghost", "ord_ghost"),
        "DELETE FROM users WHERE id = 'usr_b'".to_owned(),
        "DELETE FROM listings WHERE id = 'lst_1'".to_owned(),
        "DELETE FROM orders WHERE id = 'ord_1'".to_owned(),
        "UPDATE users SET id = 'usr_b2' WHERE id = 'usr_b'".to_owned(),
        "UPDATE listings SET id = 'lst_2' WHERE id = 'lst_1'".to_owned(),
        "UPDATE orders SET id = 'ord_2' WHERE id = 'ord_1'".to_owned(),
        "UPDATE orders SET buyer_id = 'usr_ghost' WHERE id = 'ord_1'".to_owned(),
        "UPDATE grants SET order_id = 'ord_ghost' WHERE id = 'tok_1'".to_owned(),
    ];
    for sql in &refused {
        exec(&db, sql).await.expect_err(sql);
    }
    assert_eq!(count(&db, "orders").await, 1);
    assert_eq!(count(&db, "grants").await, 1);
    assert_eq!(count(&db, "users").await, 3);

    // A user nothing refers to can still be removed, and changes that keep a
    // reference as it is go through.
    exec(&db, "DELETE FROM users WHERE id = 'usr_idle'")
        .await
        .expect("an unreferenced user is removed");
    exec(&db, "UPDATE orders SET updated_at = 2 WHERE id = 'ord_1'")
        .await
        .expect("an order's other columns change");
    assert_eq!(count(&db, "users").await, 2);

    if backend == Backend::Postgres {
        triggers_probe_indexes_once_tables_have_grown(&test_db.url).await;
    }
    let report = udam::ledger::verify(&db).await.expect("verify");
    assert!(
        !report
            .discrepancies
            .iter()
            .any(|d| d.problem.starts_with("names a buyer")),
        "{:?}",
        report.discrepancies
    );
    db.close().await;
}

/// Rows of every table the purchase path's triggers join: users, their orders of
/// `lst_1`, the orders' grants and journal transactions, `n` of each, numbered
/// `from..from + n` under `tag` (one statement per table, as a batch inserts them).
fn rows(tag: &str, from: i64, n: i64) -> [String; 5] {
    let series = format!("generate_series({from}, {}) AS n", from + n - 1);
    [
        format!(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
             SELECT 'usr_{tag}' || n, '{tag}' || n || '@example.com', 'x', 0, 1 FROM {series}"
        ),
        format!(
            "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
               unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
               created_at, updated_at) \
             SELECT 'ord_{tag}' || n, 'usr_{tag}' || n, 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', \
               'fulfilled', 'deferred', 1, 1, 1 FROM {series}"
        ),
        format!(
            "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
               created_at) SELECT 'tok_{tag}' || n, 'ord_{tag}' || n, 'usr_{tag}' || n, 'lst_1', \
               'usr_s', 1, 'active', 1 FROM {series}"
        ),
        format!(
            "WITH t AS (INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
               SELECT 'instant_sale:ord_{tag}' || n, 'instant_sale', 'ord_{tag}' || n, 1 FROM {series}) \
             INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
             SELECT 'instant_sale:ord_{tag}' || n, l, \
               CASE l WHEN 0 THEN 'usr_{tag}' || n ELSE 'usr_s' END, \
               CASE l WHEN 0 THEN 'buyer_receivable' ELSE 'seller_pending' END, 'usd', \
               CASE l WHEN 0 THEN 100 ELSE -100 END \
             FROM {series}, generate_series(0, 1) AS l"
        ),
        format!(
            "INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
             SELECT 'usr_{tag}' || n, 'buyer_receivable', 'usd', 1 FROM {series} \
             UNION ALL SELECT 'usr_s', 'seller_pending', 'usd', 1 \
             ON CONFLICT DO NOTHING"
        ),
    ]
}

/// Runs `statements` in order, accounts before the journal entries that name them.
async fn run(conn: &mut PgConnection, statements: [String; 5]) {
    let [users, orders, grants, journal, accounts] = statements;
    for sql in [users, orders, grants, accounts, journal] {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The stale plan, reproduced: with 300 rows in each table (analyzed), one
/// connection's triggers plan for a statement of 100 new rows, where reading the
/// small tables into a hash is the cheap plan, and keep that plan. The tables then
/// grow by 20,000 rows each, and the same connection inserts one more purchase: its
/// triggers must read none of the grown tables sequentially.
async fn triggers_probe_indexes_once_tables_have_grown(url: &str) {
    let mut other = PgConnection::connect(url).await.expect("connect");
    run(&mut other, rows("s", 1, 300)).await;
    sqlx::query("ANALYZE")
        .execute(&mut other)
        .await
        .expect("analyze");
    let mut conn = PgConnection::connect(url).await.expect("connect");
    run(&mut conn, rows("b", 1, 100)).await;
    run(&mut other, rows("g", 1, 20_000)).await;
    other.close().await.expect("close");

    let mut tx = conn.begin().await.expect("begin");
    run(&mut tx, rows("b", 101, 1)).await;
    let scans: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan FROM pg_stat_xact_user_tables \
         WHERE relname IN ('users', 'listings', 'orders', 'journal_transactions', 'ledger_accounts') \
           AND seq_scan > 0 ORDER BY relname",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("scans");
    assert!(
        scans.is_empty(),
        "sequential scans by the triggers: {scans:?}"
    );
    tx.commit().await.expect("commit");
    conn.close().await.expect("close");
}
