//! The database behind one server under test, PostgreSQL or SQLite: seeding and
//! the checks after each buying run go through here, each backend in its own SQL
//! (`seed.rs` binds arrays on PostgreSQL, `seed_sqlite.rs` inserts row by row).

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use udam::crypto::KeyRing;

use super::{seed, seed_sqlite};

/// A connection pool on the bench database of one server.
pub enum BenchDb {
    /// The PostgreSQL database the main server uses.
    Pg(PgPool),
    /// The SQLite file the SQLite server uses.
    Sqlite(SqlitePool),
}

impl BenchDb {
    /// Inserts `n` users with live sessions; returns (user ids, bearer tokens).
    pub async fn users(
        &self,
        prefix: &str,
        n: usize,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        match self {
            Self::Pg(pool) => seed::users(pool, prefix, n).await,
            Self::Sqlite(pool) => seed_sqlite::users(pool, prefix, n).await,
        }
    }

    /// Inserts `n` active listings of `seller` with `units` each; returns their ids.
    pub async fn listings(
        &self,
        ring: &KeyRing,
        seller: &str,
        name: &str,
        n: usize,
        units: i64,
    ) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Pg(pool) => seed::listings(pool, ring, seller, name, n, units).await,
            Self::Sqlite(pool) => seed_sqlite::listings(pool, ring, seller, name, n, units).await,
        }
    }

    /// The oversell check: (units sold, any violation).
    pub async fn check_listings(
        &self,
        ids: &[String],
        listed_each: i64,
    ) -> anyhow::Result<(i64, Option<String>)> {
        match self {
            Self::Pg(pool) => seed::check_listings(pool, ids, listed_each).await,
            Self::Sqlite(pool) => seed_sqlite::check_listings(pool, ids, listed_each).await,
        }
    }

    /// Orders per committing transaction. SQLite keeps no transaction id on a row,
    /// so there it is unknown.
    pub async fn orders_per_commit(&self, ids: &[String]) -> anyhow::Result<Option<f64>> {
        match self {
            Self::Pg(pool) => Ok(Some(seed::orders_per_commit(pool, ids).await?)),
            Self::Sqlite(_) => Ok(None),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Pg(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}
