//! Upgrades keep every row: a database made by the first release, holding orders of
//! every kind, settlements, grants and balances, is migrated through every migration
//! since, and every row of every table it had reads the same afterwards, column by
//! column. Migrations may add tables, columns and backfilled rows; they may not
//! change or lose what was there.

use std::collections::BTreeMap;

use sqlx::Row;
use udam::db::{Backend, Db};

/// Every table's rows, each row its columns as text (in the order the table had
/// them), sorted: only the columns of `columns`.
type Snapshot = BTreeMap<String, Vec<Vec<Option<String>>>>;

crate::dual_backend_tests!(every_row_reads_the_same_after_every_migration);

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

/// Every row of each of `columns`' tables, those columns only, as text.
async fn snapshot(db: &Db, columns: &BTreeMap<String, Vec<String>>) -> Snapshot {
    let mut tables = Snapshot::new();
    for (table, names) in columns {
        let list: Vec<String> = names
            .iter()
            .map(|c| format!("CAST(\"{c}\" AS TEXT)"))
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
    let first = columns(&db).await;
    let before = snapshot(&db, &first).await;
    assert!(
        before.values().map(Vec::len).sum::<usize>() >= 25,
        "the first release's database holds rows: {before:?}"
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
    crate::common::assert_ledger_clean(&db).await;
}
