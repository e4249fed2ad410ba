//! The ledger core on both backends: balanced postings only, exactly once under
//! concurrent retries, an append-only journal, the migration's backfill of existing
//! orders, and `udam ledger verify`'s exit code on a clean and a corrupted database.
//!
//! The ledger has no HTTP surface of its own yet, so most tests talk to the database
//! directly; the backfill test also reads `/api/v1/balance` from a real server.

use reqwest::StatusCode;
use sqlx::Row;
use udam::db::Db;
use udam::ledger::{
    self, Account, AccountKind, Entry, FeeRate, JournalTransaction, LedgerError, Posted, Sale,
};

use crate::common::{Backend, TestApp, TestDb, fixtures};
use crate::dual_backend_tests;

dual_backend_tests!(
    balanced_posting_is_written_and_unbalanced_refused,
    a_reference_posts_once_under_concurrent_retries,
    journal_rows_cannot_be_updated_or_deleted,
    entries_must_name_a_transaction_and_an_account,
    backfill_gives_the_balances_the_old_tables_said,
    verify_command_exits_non_zero_on_a_corrupted_database,
    backfill_parks_a_settlement_shortfall_in_suspense,
    refund_and_settlement_post_from_the_recorded_sale,
    migration_0004_gives_orders_their_idempotency_keys,
);

async fn migrated(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    // Eight connections (four per pool on PostgreSQL), so that concurrent posters
    // really hold transactions at the same time.
    let db = Db::connect(&test_db.url, 8).await.expect("connect");
    db.migrate().await.expect("migrations apply");
    (test_db, db)
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("integer")
}

async fn balance_of(db: &Db, owner: &str, kind: AccountKind, currency: &str) -> i64 {
    let mut conn = db.pool().acquire().await.expect("connection");
    ledger::balance(&mut conn, &Account::new(owner, kind, currency))
        .await
        .expect("balance")
}

fn sale(order_id: &str, total: i64) -> Sale<'_> {
    Sale {
        order_id,
        buyer_id: "usr_buyer",
        seller_id: "usr_seller",
        currency: "usd",
        total_cents: total,
    }
}

async fn balanced_posting_is_written_and_unbalanced_refused(backend: Backend) {
    let (_guard, db) = migrated(backend).await;
    let fee = FeeRate::from_bps(250).expect("rate");
    let txn = ledger::instant_sale(&sale("ord_a", 1999), fee).expect("instant sale");
    let mut tx = db.begin_write().await.expect("begin");
    assert_eq!(
        ledger::post(&mut tx, &txn).await.expect("post"),
        Posted::Written
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        balance_of(&db, "usr_buyer", AccountKind::BuyerReceivable, "usd").await,
        1999
    );
    // 2.5 % of 19.99 is 0.49975: the fee is rounded down to 0.49, the seller gets 19.50.
    assert_eq!(
        balance_of(&db, "usr_seller", AccountKind::SellerPending, "usd").await,
        1950
    );
    assert_eq!(
        balance_of(&db, "platform", AccountKind::PlatformFees, "usd").await,
        49
    );
    let mut conn = db.pool().acquire().await.expect("connection");
    assert_eq!(
        ledger::owed_by(&mut conn, "usr_buyer").await.expect("owed"),
        vec![("usd".to_owned(), 1999)]
    );
    drop(conn);

    // Unbalanced: 5.00 debited, 4.99 credited. Refused, and nothing is written even
    // when the caller commits anyway.
    let lopsided = JournalTransaction::adjustment(
        "ord_a",
        "typo",
        vec![
            Entry::debit(
                Account::new("usr_buyer", AccountKind::BuyerReceivable, "usd"),
                500,
            ),
            Entry::credit(
                Account::new("platform", AccountKind::PlatformFees, "usd"),
                499,
            ),
        ],
    );
    let mut tx = db.begin_write().await.expect("begin");
    let refused = ledger::post(&mut tx, &lopsided).await;
    assert!(
        matches!(
            refused,
            Err(LedgerError::Unbalanced {
                debits: 500,
                credits: 499,
                ..
            })
        ),
        "{refused:?}"
    );
    tx.commit().await.expect("commit");
    // Balanced in total but not per currency: refused too.
    let two_currencies = JournalTransaction::adjustment(
        "ord_a",
        "fx",
        vec![
            Entry::debit(
                Account::new("usr_buyer", AccountKind::BuyerReceivable, "usd"),
                500,
            ),
            Entry::credit(
                Account::new("platform", AccountKind::PlatformFees, "eur"),
                500,
            ),
        ],
    );
    let mut tx = db.begin_write().await.expect("begin");
    assert!(matches!(
        ledger::post(&mut tx, &two_currencies).await,
        Err(LedgerError::Unbalanced { .. })
    ));
    tx.commit().await.expect("commit");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM journal_transactions").await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM journal_entries").await, 3);

    // The same reference with different contents is not a retry: refused.
    let other = ledger::instant_sale(&sale("ord_a", 2000), fee).expect("instant sale");
    let mut tx = db.begin_write().await.expect("begin");
    assert!(matches!(
        ledger::post(&mut tx, &other).await,
        Err(LedgerError::ReferenceConflict(_))
    ));
    drop(tx);
    assert_eq!(
        balance_of(&db, "usr_buyer", AccountKind::BuyerReceivable, "usd").await,
        1999
    );
    db.close().await;
}

async fn a_reference_posts_once_under_concurrent_retries(backend: Backend) {
    const TASKS: usize = 16;
    let (_guard, db) = migrated(backend).await;
    let txn = ledger::paid_sale(
        &sale("ord_retry", 1234),
        FeeRate::from_bps(1000).expect("rate"),
        "stripe",
    )
    .expect("paid sale");
    // Every task starts its transaction, then all post at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (db, txn, barrier) = (db.clone(), txn.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut tx = db.begin_write().await.expect("begin");
            let posted = ledger::post(&mut tx, &txn).await.expect("post");
            tx.commit().await.expect("commit");
            posted
        }));
    }
    let mut written = 0;
    for task in tasks {
        if task.await.expect("task") == Posted::Written {
            written += 1;
        }
    }
    assert_eq!(written, 1, "exactly one poster writes");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM journal_transactions").await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM journal_entries").await, 3);
    assert_eq!(
        balance_of(&db, "stripe", AccountKind::ProviderClearing, "usd").await,
        1234
    );
    assert_eq!(
        balance_of(&db, "usr_seller", AccountKind::SellerPayable, "usd").await,
        1111
    );
    assert_eq!(
        balance_of(&db, "platform", AccountKind::PlatformFees, "usd").await,
        123
    );
    db.close().await;
}

async fn journal_rows_cannot_be_updated_or_deleted(backend: Backend) {
    let (_guard, db) = migrated(backend).await;
    let txn = ledger::instant_sale(&sale("ord_fixed", 500), FeeRate::ZERO).expect("sale");
    let mut tx = db.begin_write().await.expect("begin");
    ledger::post(&mut tx, &txn).await.expect("post");
    tx.commit().await.expect("commit");
    for sql in [
        "UPDATE journal_entries SET amount_cents = 1",
        "DELETE FROM journal_entries",
        "UPDATE journal_transactions SET subject_id = 'ord_other'",
        "DELETE FROM journal_transactions",
        "UPDATE ledger_accounts SET currency = 'eur'",
        "DELETE FROM ledger_accounts",
    ] {
        let err = sqlx::query(sql).execute(db.writes()).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM journal_entries").await, 2);
    assert_eq!(
        balance_of(&db, "usr_buyer", AccountKind::BuyerReceivable, "usd").await,
        500
    );
    let mut conn = db.pool().acquire().await.expect("connection");
    let stored = ledger::recorded(&mut conn, "instant_sale:ord_fixed")
        .await
        .expect("read")
        .expect("present");
    assert_eq!(stored, txn);
    drop(conn);
    db.close().await;
}

/// On PostgreSQL one statement trigger checks a statement's new entries (migration
/// 0018), on SQLite foreign keys do: an entry naming a journal transaction or an
/// account that does not exist is refused, with every other row of its statement, and
/// an account that entries name can be neither removed nor renamed.
async fn entries_must_name_a_transaction_and_an_account(backend: Backend) {
    let (_guard, db) = migrated(backend).await;
    let txn = ledger::instant_sale(&sale("ord_fixed", 500), FeeRate::ZERO).expect("sale");
    let mut tx = db.begin_write().await.expect("begin");
    ledger::post(&mut tx, &txn).await.expect("post");
    tx.commit().await.expect("commit");
    for sql in [
        // No such transaction (the first row is fine, and is refused with it).
        "INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
         VALUES ('instant_sale:ord_fixed', 7, 'usr_buyer', 'buyer_receivable', 'usd', 1), \
                ('instant_sale:ord_ghost', 0, 'usr_buyer', 'buyer_receivable', 'usd', 1)",
        // No such account.
        "INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
         VALUES ('instant_sale:ord_fixed', 8, 'usr_ghost', 'buyer_receivable', 'usd', 1)",
        "DELETE FROM ledger_accounts",
        "UPDATE ledger_accounts SET owner_id = 'usr_other'",
    ] {
        sqlx::query(sql).execute(db.pool()).await.expect_err(sql);
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM journal_entries").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM ledger_accounts").await, 2);
    // Verify's own check finds nothing to say about references (the order itself
    // is absent here, which it does report).
    let report = ledger::verify(&db).await.expect("verify");
    assert!(
        !report
            .discrepancies
            .iter()
            .any(|d| d.problem.starts_with("an entry names")),
        "{:?}",
        report.discrepancies
    );
    db.close().await;
}

/// The ids of the rows [`old_database`] creates.
struct OldRows {
    buyer_a: String,
    buyer_b: String,
}

/// A database at migration 0001 only, filled with orders of every kind as the code
/// before the ledger wrote them, then migrated forward (which runs the backfill).
async fn old_database(backend: Backend) -> (TestDb, Db, OldRows) {
    old_database_with(backend, &[]).await
}

/// [`old_database`], running `extra` statements before migrating forward.
async fn old_database_with(backend: Backend, extra: &[&'static str]) -> (TestDb, Db, OldRows) {
    let (test_db, db) = seeded_before_the_ledger(backend, extra).await;
    db.migrate().await.expect("migrate forward (backfill)");
    let rows = OldRows {
        buyer_a: "usr_a".to_owned(),
        buyer_b: "usr_b".to_owned(),
    };
    (test_db, db, rows)
}

/// A database at migration 0001 only, filled with orders of every kind as the code
/// before the ledger wrote them, then `extra` statements; not migrated further.
pub(crate) async fn seeded_before_the_ledger(
    backend: Backend,
    extra: &[&'static str],
) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 1).await;
    let exec = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(sql)
                .execute(db.writes())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    fixtures::insert_users(db.writes(), &["usr_a", "usr_b", "usr_s1", "usr_s2"]).await;
    let listing = "INSERT INTO listings (id, seller_id, service_name, description, \
         unit_description, price_cents, currency, available_units, status, api_key_sealed, \
         api_key_key_id, api_key_hint, created_at, updated_at) VALUES \
         ('lst_1', 'usr_s1', 'Weather', '', 'call', 100, 'usd', 50, 'active', $1, 'k', 'h', 1, 1), \
         ('lst_2', 'usr_s2', 'Maps', '', 'call', 150, 'usd', 50, 'active', $1, 'k', 'h', 1, 1), \
         ('lst_3', 'usr_s1', 'Wetter', '', 'call', 300, 'eur', 50, 'active', $1, 'k', 'h', 1, 1), \
         ('lst_4', 'usr_s2', 'Free', '', 'call', 0, 'usd', 50, 'active', $1, 'k', 'h', 1, 1)";
    sqlx::query(listing)
        .bind(vec![0u8; 4])
        .execute(db.writes())
        .await
        .expect("listings");
    // (id, buyer, listing, seller, units, total, currency, status, payment_status,
    //  holds_units, provider, payment_intent_id, settlement_id)
    exec(
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
           unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
           provider, provider_session_id, payment_intent_id, settlement_id, created_at, updated_at) \
         VALUES \
         ('ord_deferred', 'usr_a', 'lst_1', 'usr_s1', 'Weather', 5, 100, 500, 'usd', 'fulfilled', 'deferred', 1, NULL, NULL, NULL, NULL, 10, 10), \
         ('ord_deferred_eur', 'usr_a', 'lst_3', 'usr_s1', 'Wetter', 1, 300, 300, 'eur', 'fulfilled', 'deferred', 1, NULL, NULL, NULL, NULL, 11, 11), \
         ('ord_free', 'usr_a', 'lst_4', 'usr_s2', 'Free', 3, 0, 0, 'usd', 'fulfilled', 'deferred', 1, NULL, NULL, NULL, NULL, 12, 12), \
         ('ord_settled_1', 'usr_a', 'lst_1', 'usr_s1', 'Weather', 2, 100, 200, 'usd', 'fulfilled', 'paid', 1, NULL, NULL, NULL, 'stl_paid', 5, 20), \
         ('ord_settled_2', 'usr_a', 'lst_2', 'usr_s2', 'Maps', 1, 150, 150, 'usd', 'fulfilled', 'paid', 1, NULL, NULL, NULL, 'stl_paid', 6, 20), \
         ('ord_paid', 'usr_b', 'lst_2', 'usr_s2', 'Maps', 8, 125, 1000, 'usd', 'fulfilled', 'paid', 1, 'stripe', 'cs_1', 'pi_1', NULL, 13, 14), \
         ('ord_refunded', 'usr_b', 'lst_1', 'usr_s1', 'Weather', 8, 100, 800, 'usd', 'refunded', 'refunded', 0, 'stripe', 'cs_2', 'pi_2', NULL, 15, 16), \
         ('ord_late', 'usr_b', 'lst_2', 'usr_s2', 'Maps', 5, 140, 700, 'usd', 'refunded', 'refunded', 0, 'stripe', 'cs_3', 'pi_3', NULL, 17, 18), \
         ('ord_pending', 'usr_b', 'lst_1', 'usr_s1', 'Weather', 9, 100, 900, 'usd', 'pending_payment', 'unpaid', 1, 'stripe', 'cs_4', NULL, NULL, 19, 19), \
         ('ord_expired', 'usr_b', 'lst_1', 'usr_s1', 'Weather', 9, 100, 900, 'usd', 'expired', 'unpaid', 0, 'dev', 'dev_ord_expired', NULL, NULL, 19, 19), \
         ('ord_cancelled', 'usr_b', 'lst_2', 'usr_s2', 'Maps', 9, 150, 1350, 'usd', 'cancelled', 'unpaid', 0, 'stripe', 'cs_5', NULL, NULL, 19, 19)",
    )
    .await;
    exec(
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at, revoked_at) VALUES \
         ('tok_1', 'ord_deferred', 'usr_a', 'lst_1', 'usr_s1', 5, 'active', 10, NULL), \
         ('tok_2', 'ord_deferred_eur', 'usr_a', 'lst_3', 'usr_s1', 1, 'active', 11, NULL), \
         ('tok_3', 'ord_free', 'usr_a', 'lst_4', 'usr_s2', 3, 'active', 12, NULL), \
         ('tok_4', 'ord_settled_1', 'usr_a', 'lst_1', 'usr_s1', 2, 'active', 5, NULL), \
         ('tok_5', 'ord_settled_2', 'usr_a', 'lst_2', 'usr_s2', 1, 'active', 6, NULL), \
         ('tok_6', 'ord_paid', 'usr_b', 'lst_2', 'usr_s2', 8, 'active', 14, NULL), \
         ('tok_7', 'ord_refunded', 'usr_b', 'lst_1', 'usr_s1', 8, 'revoked', 14, 16)",
    )
    .await;
    exec(
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, provider_session_id, checkout_url, created_at, updated_at) VALUES \
         ('stl_paid', 'usr_a', 'usd', 350, 'paid', 'dev_stl_paid', 'http://x/dev/checkout/stl_paid', 7, 20), \
         ('stl_lapsed', 'usr_a', 'usd', 500, 'expired', 'cs_9', 'https://x/cs_9', 21, 22)",
    )
    .await;
    exec(
        "INSERT INTO balances (user_id, currency, owed_cents) VALUES \
         ('usr_a', 'usd', 500), ('usr_a', 'eur', 300), ('usr_b', 'usd', 0)",
    )
    .await;
    for sql in extra {
        exec(sql).await;
    }
    (test_db, db)
}

async fn backfill_gives_the_balances_the_old_tables_said(backend: Backend) {
    let (test_db, db, rows) = old_database(backend).await;
    // Every money-moving order got its journal transaction, and nothing else did:
    // 5 instant sales, 2 paid sales, 1 refund, 1 late payment received and
    // returned, 1 settlement payment.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM journal_transactions").await,
        11
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM journal_transactions WHERE subject_id IN \
             ('ord_pending', 'ord_expired', 'ord_cancelled', 'stl_lapsed')"
        )
        .await,
        0
    );
    crate::common::assert_ledger_clean(&db).await;

    let expect = [
        ("usr_a", AccountKind::BuyerReceivable, "usd", 500),
        ("usr_a", AccountKind::BuyerReceivable, "eur", 300),
        ("usr_b", AccountKind::BuyerReceivable, "usd", 0),
        ("usr_s1", AccountKind::SellerPending, "usd", 500),
        ("usr_s1", AccountKind::SellerPending, "eur", 300),
        ("usr_s1", AccountKind::SellerPayable, "usd", 200),
        ("usr_s2", AccountKind::SellerPending, "usd", 0),
        ("usr_s2", AccountKind::SellerPayable, "usd", 1150),
        ("stripe", AccountKind::ProviderClearing, "usd", 1000),
        ("dev", AccountKind::ProviderClearing, "usd", 350),
        ("usr_b", AccountKind::RefundsPayable, "usd", 0),
        ("platform", AccountKind::PlatformFees, "usd", 0),
    ];
    for (owner, kind, currency, want) in expect {
        assert_eq!(
            balance_of(&db, owner, kind, currency).await,
            want,
            "{owner}/{kind}/{currency}"
        );
    }

    // `/api/v1/balance` (still read from the balances table) says what the journal says.
    db.close().await;
    let app = TestApp::spawn_on(test_db, &[]).await;
    for buyer in [&rows.buyer_a, &rows.buyer_b] {
        let session = udam::accounts::sessions::create(app.database(), buyer, 3_600_000)
            .await
            .expect("session");
        let r = app.get("/api/v1/balance", Some(&session.token)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let api: Vec<(String, i64)> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["currency"].as_str().expect("currency").to_owned(),
                    i["owed_cents"].as_i64().expect("owed"),
                )
            })
            .collect();
        let mut conn = app.database().pool().acquire().await.expect("connection");
        let journal = ledger::owed_by(&mut conn, buyer).await.expect("owed");
        assert_eq!(api, journal, "{buyer}");
    }
    app.assert_ledger_clean().await;
}

/// Runs `udam ledger verify` against `url`; returns (success, stdout then stderr).
async fn run_verify(url: &str) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
        .args(["--database-url", url, "ledger", "verify"])
        .env("UDAM_METRICS_BIND", "off")
        .output()
        .await
        .expect("udam runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn verify_command_exits_non_zero_on_a_corrupted_database(backend: Backend) {
    let (test_db, db, _rows) = old_database(backend).await;
    let (ok, out) = run_verify(&test_db.url).await;
    assert!(ok, "clean database: {out}");
    assert!(
        out.contains("ledger clean: 11 journal transactions"),
        "{out}"
    );

    // The old balance table drifts from the journal: reported, exit non-zero.
    sqlx::query("UPDATE balances SET owed_cents = owed_cents + 100 WHERE user_id = 'usr_a' AND currency = 'usd'")
        .execute(db.writes())
        .await
        .expect("corrupt balances");
    let (ok, out) = run_verify(&test_db.url).await;
    assert!(!ok, "corrupted balances pass: {out}");
    assert!(
        out.contains(
            "usr_a/buyer_receivable/usd: the journal says 500, the balances table says 600"
        ),
        "{out}"
    );

    // A line slipped into the journal that unbalances a transaction (inserts are the
    // one thing the triggers allow).
    sqlx::query(
        "INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
         VALUES ('paid_sale:ord_paid', 9, 'stripe', 'provider_clearing', 'usd', 1)",
    )
    .execute(db.writes())
    .await
    .expect("insert stray entry");
    let (ok, out) = run_verify(&test_db.url).await;
    assert!(!ok);
    assert!(
        out.contains("paid_sale:ord_paid: does not balance in usd: debits exceed credits by 1"),
        "{out}"
    );

    // A sale whose seller's share is credited to another seller, balanced.
    for sql in [
        "INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
         VALUES ('usr_s2', 'seller_pending', 'usd', 1) ON CONFLICT DO NOTHING",
        "INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
         VALUES ('instant_sale:ord_deferred', 8, 'usr_s1', 'seller_pending', 'usd', 500), \
                ('instant_sale:ord_deferred', 9, 'usr_s2', 'seller_pending', 'usd', -500)",
    ] {
        sqlx::query(sql)
            .execute(db.writes())
            .await
            .expect("misattribute");
    }
    let (ok, out) = run_verify(&test_db.url).await;
    assert!(!ok);
    assert!(
        out.contains(
            "instant_sale:ord_deferred: has a seller's or buyer's line in the name of someone \
             other than the order's"
        ),
        "{out}"
    );
    db.close().await;
}

async fn backfill_parks_a_settlement_shortfall_in_suspense(backend: Backend) {
    // Issue 12's race, as the old code left it: a settlement charged 0.01 and
    // marked 19.00 of orders paid.
    let (_guard, db, _rows) = old_database_with(
        backend,
        &[
            "INSERT INTO settlements (id, user_id, currency, amount_cents, status, provider_session_id, created_at, updated_at) \
             VALUES ('stl_race', 'usr_b', 'usd', 1, 'paid', 'cs_race', 30, 31)",
            "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
               unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
               settlement_id, created_at, updated_at) VALUES \
             ('ord_race_1', 'usr_b', 'lst_1', 'usr_s1', 'Weather', 1, 100, 1, 'usd', 'fulfilled', 'paid', 1, 'stl_race', 29, 31), \
             ('ord_race_2', 'usr_b', 'lst_1', 'usr_s1', 'Weather', 19, 100, 1899, 'usd', 'fulfilled', 'paid', 1, 'stl_race', 30, 31)",
        ],
    )
    .await;
    // The buyer's debt reads as the old tables said (nothing owed) ...
    assert_eq!(
        balance_of(&db, "usr_b", AccountKind::BuyerReceivable, "usd").await,
        0
    );
    assert_eq!(
        balance_of(&db, "stripe", AccountKind::ProviderClearing, "usd").await,
        1001
    );
    // ... and the 18.99 that was never charged is in suspense, where verify sees it.
    assert_eq!(
        balance_of(&db, "platform", AccountKind::Suspense, "usd").await,
        -1899
    );
    let report = ledger::verify(&db).await.expect("verify");
    let lines: Vec<String> = report
        .discrepancies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec!["platform/suspense/usd: suspense holds -1899: money nobody can account for"]
    );
    db.close().await;
}

async fn refund_and_settlement_post_from_the_recorded_sale(backend: Backend) {
    let (_guard, db, _rows) = old_database(backend).await;
    let mut tx = db.begin_write().await.expect("begin");
    // A partial refund of 3.00 of the 10.00 paid order, through the sale as recorded.
    let paid = ledger::recorded_sale(&mut tx, "ord_paid")
        .await
        .expect("read")
        .expect("sale recorded");
    assert_eq!((paid.total_cents, paid.refunded_cents), (1000, 0));
    assert_eq!(paid.provider.as_deref(), Some("stripe"));
    let refund = ledger::refund(&paid, "stripe", 300, "re_1").expect("refund");
    assert_eq!(
        ledger::post(&mut tx, &refund).await.expect("post"),
        Posted::Written
    );
    let again = ledger::recorded_sale(&mut tx, "ord_paid")
        .await
        .expect("read")
        .expect("sale recorded");
    assert_eq!(again.refunded_cents, 300);
    assert!(matches!(
        ledger::refund(&again, "stripe", 701, "re_2"),
        Err(LedgerError::RefundExceedsSale {
            refundable: 700,
            ..
        })
    ));

    // Settling the buyer's 5.00 deferred order, with the table changes the wiring
    // will make in the same transaction.
    let deferred = ledger::recorded_sale(&mut tx, "ord_deferred")
        .await
        .expect("read")
        .expect("sale recorded");
    let settled = ledger::settlement_paid("stl_new", "stripe", 500, &[deferred]).expect("settle");
    ledger::post(&mut tx, &settled).await.expect("post");
    for sql in [
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, created_at, updated_at) \
         VALUES ('stl_new', 'usr_a', 'usd', 500, 'paid', 40, 40)",
        "UPDATE orders SET payment_status = 'paid', settlement_id = 'stl_new' WHERE id = 'ord_deferred'",
        "UPDATE balances SET owed_cents = owed_cents - 500 WHERE user_id = 'usr_a' AND currency = 'usd'",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.expect(sql);
    }
    tx.commit().await.expect("commit");

    for (owner, kind, want) in [
        ("usr_a", AccountKind::BuyerReceivable, 0),
        ("usr_s1", AccountKind::SellerPending, 0),
        ("usr_s1", AccountKind::SellerPayable, 700),
        ("usr_s2", AccountKind::SellerPayable, 850),
        ("stripe", AccountKind::ProviderClearing, 1200),
    ] {
        assert_eq!(
            balance_of(&db, owner, kind, "usd").await,
            want,
            "{owner}/{kind}"
        );
    }
    let report = ledger::verify(&db).await.expect("verify");
    assert!(
        report.discrepancies.is_empty(),
        "{:?}",
        report.discrepancies
    );
    db.close().await;
}

/// Migration 0004 on a database made by 0001–0003: an order whose creation answer is
/// stored under a live Idempotency-Key gets that key; expired keys and refusals name
/// nothing; afterwards the key is unique per buyer.
async fn migration_0004_gives_orders_their_idempotency_keys(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 3).await;
    let exec = |sql: String| {
        let db = db.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(db.writes())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    fixtures::insert_users(db.writes(), &["usr_a", "usr_s"]).await;
    sqlx::query(
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
           price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
           api_key_hint, created_at, updated_at) \
         VALUES ('lst_1', 'usr_s', 'W', '', 'call', 100, 'usd', 50, 'active', $1, 'k', 'h', 1, 1)",
    )
    .bind(vec![0u8; 4])
    .execute(db.writes())
    .await
    .expect("listing");
    let now = udam::clock::now_ms();
    let day = 24 * 3600 * 1000;
    exec(format!(
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
           unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
           created_at, updated_at) VALUES \
         ('ord_recent', 'usr_a', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, {now}, {now}), \
         ('ord_old', 'usr_a', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, {old}, {old}), \
         ('ord_unkeyed', 'usr_a', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, {now}, {now})",
        old = now - 2 * day
    ))
    .await;
    for (key, status, body, at) in [
        ("k-recent", 201, r#"{"order":{"id":"ord_recent"}}"#, now),
        ("k-old", 201, r#"{"order":{"id":"ord_old"}}"#, now - 2 * day),
        (
            "k-refused",
            409,
            r#"{"error":{"code":"insufficient_units"}}"#,
            now,
        ),
    ] {
        sqlx::query(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status_code, \
               response_body, created_at) VALUES ('usr_a', $1, $2, $3, $4, $5)",
        )
        .bind(key)
        .bind(vec![1u8; 32])
        .bind(i64::from(status))
        .bind(body.as_bytes().to_vec())
        .bind(at)
        .execute(db.writes())
        .await
        .expect("key");
    }
    db.migrate().await.expect("migrate forward to 0004");
    let keys: Vec<(String, Option<String>)> =
        sqlx::query("SELECT id, idempotency_key FROM orders ORDER BY id")
            .fetch_all(db.writes())
            .await
            .expect("orders")
            .iter()
            .map(|r| {
                (
                    r.try_get("id").unwrap(),
                    r.try_get("idempotency_key").unwrap(),
                )
            })
            .collect();
    assert_eq!(
        keys,
        vec![
            ("ord_old".to_owned(), None),
            ("ord_recent".to_owned(), Some("k-recent".to_owned())),
            ("ord_unkeyed".to_owned(), None),
        ]
    );
    let duplicate =
        sqlx::query("UPDATE orders SET idempotency_key = 'k-recent' WHERE id = 'ord_unkeyed'")
            .execute(db.writes())
            .await;
    assert!(
        duplicate.as_ref().is_err_and(udam::db::is_unique_violation),
        "one order per buyer and key: {duplicate:?}"
    );
    db.close().await;
}
