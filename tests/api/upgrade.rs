//! Upgrades keep every row: a database made by the first release, holding orders of
//! every kind, settlements, grants, balances, sessions, idempotency keys, webhook
//! events and audit rows, is migrated through every migration since, and every row of
//! every table it had reads the same afterwards, column by column. Migrations may add
//! tables, and columns to the tables there were (those new columns are not compared);
//! they may not change or lose what was there, nor add rows to those tables.
//!
//! Two migrations do change rows, on purpose, in states this database does not hold:
//! 0005 fails settlements left `pending` by the old code (and frees their orders), and
//! 0009 marks refunded the paid orders whose payment was refunded. Their own tests
//! (`ledger`, `early_refunds`) cover those.

use std::collections::BTreeMap;

use sqlx::Row;
use udam::db::{Backend, Db};

/// Every table's rows, each row its columns as text (in the order the table had
/// them), sorted: only the columns of `columns`.
type Snapshot = BTreeMap<String, Vec<Vec<Option<String>>>>;

crate::dual_backend_tests!(every_row_reads_the_same_after_every_migration);

/// Rows in the tables the ledger's seed leaves empty. The hashes are not UTF-8, as
/// real ones are not; the stored answer of the idempotency key names `ord_paid`, so
/// migration 0004 finds that order by it.
async fn seed_the_other_tables(db: &Db) {
    let fail = |table: &'static str| move |e: sqlx::Error| panic!("{table}: {e}");
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, 'usr_a', 1, 9999999999999)",
    )
    .bind(vec![0xffu8, 0xfe, 0x00, 0x80])
    .execute(db.writes())
    .await
    .unwrap_or_else(fail("sessions"));
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status_code, \
           response_body, created_at) VALUES ('usr_b', 'key-1', $1, 201, $2, $3)",
    )
    .bind(vec![0xc3u8, 0x28, 0xa0, 0xa1])
    .bind(br#"{"order":{"id":"ord_paid"}}"#.to_vec())
    .bind(udam::clock::now_ms())
    .execute(db.writes())
    .await
    .unwrap_or_else(fail("idempotency_keys"));
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, received_at) \
         VALUES ('evt_1', 'checkout.session.completed', 14)",
    )
    .execute(db.writes())
    .await
    .unwrap_or_else(fail("webhook_events"));
    sqlx::query(
        "INSERT INTO audit_log (actor_id, action, subject, created_at) \
         VALUES ('usr_b', 'grant.opened', 'tok_6', 14)",
    )
    .execute(db.writes())
    .await
    .unwrap_or_else(fail("audit_log"));
}

/// The tables and their columns, as the database has them now.
async fn columns(db: &Db) -> BTreeMap<String, Vec<String>> {
    let sql = match db.backend() {
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
             ORDER BY table_name, ordinal_position"
        }
        Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
               AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
             ORDER BY m.name, p.cid"
        }
    };
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in sqlx::query(sql)
        .fetch_all(db.pool())
        .await
        .expect("columns")
    {
        let table: String = row.try_get("t").unwrap();
        tables
            .entry(table)
            .or_default()
            .push(row.try_get("c").unwrap());
    }
    tables
}

/// Every row of each of `columns`' tables, those columns only, as text: on SQLite as
/// SQL literals (`quote`), so that a value changing type (`1` to `'1'`) is a change
/// and a blob reads as hex; on PostgreSQL cast (a bytea reads as hex there).
async fn snapshot(db: &Db, columns: &BTreeMap<String, Vec<String>>) -> Snapshot {
    let mut tables = Snapshot::new();
    for (table, names) in columns {
        let list: Vec<String> = names
            .iter()
            .map(|c| match db.backend() {
                Backend::Sqlite => format!("quote(\"{c}\")"),
                Backend::Postgres => format!("CAST(\"{c}\" AS TEXT)"),
            })
            .collect();
        let sql = format!("SELECT {} FROM \"{table}\"", list.join(", "));
        // Names come from the catalogue, never from input.
        let mut rows: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| {
                (0..names.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect();
        rows.sort();
        tables.insert(table.clone(), rows);
    }
    tables
}

async fn every_row_reads_the_same_after_every_migration(backend: Backend) {
    let (_test_db, db) = crate::ledger::seeded_before_the_ledger(backend, &[]).await;
    seed_the_other_tables(&db).await;
    let first = columns(&db).await;
    let before = snapshot(&db, &first).await;
    let empty: Vec<&String> = before
        .iter()
        .filter(|(_, rows)| rows.is_empty())
        .map(|(table, _)| table)
        .collect();
    assert!(
        empty.is_empty(),
        "every table of 0001 holds rows: {empty:?} do not"
    );
    db.migrate()
        .await
        .expect("every migration applies over the rows");
    let after = snapshot(&db, &first).await;
    for (table, rows) in &before {
        assert_eq!(
            Some(rows),
            after.get(table),
            "{table}: its rows changed in the upgrade (columns {:?})",
            first[table]
        );
    }
    let carried: Option<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM orders WHERE id = 'ord_paid'")
            .fetch_one(db.pool())
            .await
            .expect("ord_paid");
    assert_eq!(
        carried.as_deref(),
        Some("key-1"),
        "0004 names the order its stored answer named"
    );
    crate::common::assert_ledger_clean(&db).await;
}
