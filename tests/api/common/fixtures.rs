//! Fast fixtures: many signed-in users without paying for a password hash each.
//!
//! Concurrency tests need hundreds of buyers; registering each over HTTP would
//! spend most of the test hashing passwords. These users are inserted directly
//! (with a placeholder hash nobody can log in with) and get real sessions.

use udam::db::Db;

/// Creates `n` users named `{prefix}{i}@example.com` and returns a bearer token each.
pub async fn users(db: &Db, prefix: &str, n: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let id = udam::ids::new_id("usr");
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) \
             VALUES ($1, $2, 'fixture-no-login', NULL, 0, 0)",
        )
        .bind(&id)
        .bind(format!("{prefix}{i}@example.com"))
        .execute(db.writes())
        .await
        .expect("insert fixture user");
        let session = udam::accounts::sessions::create(db, &id, 3_600_000)
            .await
            .expect("fixture session");
        tokens.push(session.token);
    }
    tokens
}

/// Inserts bare users by SQL (`{id}@example.com`, a hash nobody can log in with, no
/// session), for tests that seed rows into a schema of any release, the earliest
/// included.
pub async fn insert_users(pool: &sqlx::AnyPool, ids: &[&str]) {
    for id in ids {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
             VALUES ($1, $2, 'fixture-no-login', 0, 1)",
        )
        .bind(*id)
        .bind(format!("{id}@example.com"))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("insert user {id}: {e}"));
    }
}

/// Opens a second pool on a test database (for process-based tests).
pub async fn connect(url: &str) -> Db {
    Db::connect(url, 4)
        .await
        .expect("connect to the test database")
}

/// Connects to the empty test database at `url` and applies its backend's migrations
/// up to and including `version`: a database as an earlier release left it, for the
/// upgrade tests.
pub async fn connect_migrated_to(url: &str, version: i64) -> Db {
    let db = connect(url).await;
    let folder = match db.backend() {
        udam::db::Backend::Sqlite => "sqlite",
        udam::db::Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .expect("read the migrations")
        .run_to(version, db.writes())
        .await
        .unwrap_or_else(|e| panic!("migrations up to {version}: {e}"));
    db
}
