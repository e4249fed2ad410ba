//! The database: one pool for either backend, and the migrations of each.
//!
//! Queries are written once, in SQL that SQLite and PostgreSQL both accept, and run
//! through sqlx's `Any` driver. Where the backends need different statements for
//! speed (a single-round-trip purchase on PostgreSQL), the code branches on
//! [`Backend`]. Times are stored as unix milliseconds and flags as 0/1 integers,
//! because `Any` cannot decode native timestamp or boolean columns.
//!
//! On PostgreSQL a second, native pool serves the hot paths that need what `Any`
//! cannot do (binding arrays, so that many rows go in one statement) or that read
//! many rows (`Any` copies each row and its column list before decoding). The configured
//! connection count is split between the two pools, so the server never opens more
//! connections than `--db-max-connections` says. The fast paths' combiners (session
//! lookups, instant purchases) belong to the capabilities that use them and are held
//! by [`crate::state::AppState`], so this module imports no capability.
//!
//! On SQLite the process writes through one connection ([`writer`]): every
//! [`Db::begin_write`] queues for it, and jobs given to [`Db::write`] share its
//! transactions. Reads stay on the pool (WAL lets them run beside the writer).

pub mod batcher;
pub mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{AnyPool, Executor, Transaction};

use writer::Writer;
pub use writer::{BoxFuture, WriteError};

/// Which engine a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// The production engine.
    Postgres,
}

impl Backend {
    /// The pool size when `--db-max-connections` is not given. PostgreSQL: 32.
    /// SQLite: two per core, from 4 to 32. It writes through one connection
    /// whatever the size, reads are in-process work that more connections than
    /// cores cannot speed up, and each connection keeps its own thread, page cache
    /// and allocator arena: at 64 clients buying, 32 took the process to 114–118 MiB
    /// where 8 held it at 84 MiB, and 4 at 58 MiB, with purchases per second within
    /// the runs' noise (docs/OPERATIONS.md).
    pub fn default_max_connections(self) -> u32 {
        match self {
            Self::Postgres => 32,
            Self::Sqlite => {
                sqlite_connections(std::thread::available_parallelism().map_or(1, |n| n.get()))
            }
        }
    }

    /// Picks the backend from a URL's scheme.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            anyhow::bail!(
                "--database-url / UDAM_DATABASE_URL must start with sqlite: or postgres://"
            )
        }
    }
}

/// A connection pool plus the backend it talks to. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The native pool of the PostgreSQL fast paths; `None` on SQLite.
    pg: Option<PgPool>,
    /// SQLite's one write connection and its queue of jobs; `None` on PostgreSQL.
    writer: Option<Arc<Writer>>,
    /// The longest statement of the `Any` pool on PostgreSQL; `None`: unbounded.
    statement_timeout: Option<Duration>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pools' Debug shows their options, never the URL or password.
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("pool", &self.pool)
            .field("pg", &self.pg)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// How a purchase's transaction begins on PostgreSQL: one statement may run 5 s and
/// wait 2 s for a lock. `SET LOCAL`, so only the purchase's own transaction is
/// bounded, never a migration or `ledger verify`; sent with `BEGIN` as one simple
/// query, so it costs no round trip. A stuck lock then fails the purchases queued
/// behind it within seconds, each rolled back and answered 503, instead of letting a
/// backlog build that commits all at once after its clients have gone (issue 12,
/// defect 6).
pub const PURCHASE_BEGIN: &str =
    "BEGIN; SET LOCAL statement_timeout = '5s'; SET LOCAL lock_timeout = '2s'";

/// The same bounds as [`PURCHASE_BEGIN`], for every session of the native
/// PostgreSQL pool: it carries only instant purchases (whose one-statement batches
/// run outside an explicit transaction), session lookups and pages of tokens, never
/// a migration or `ledger verify`.
pub const PURCHASE_TIMEOUTS: [(&str, &str); 2] =
    [("statement_timeout", "5s"), ("lock_timeout", "2s")];

/// How the native pool's sessions plan their prepared statements: once, generically.
///
/// Left to choose, PostgreSQL planned the session lookup (`token_hash = ANY($1)`)
/// afresh at every execution (0.18 ms of bind per lookup statement), because a custom
/// plan for the few hashes at hand always looks cheaper than the generic plan's guess
/// of ten. Once the tables hold more than a few hundred rows, the lookup's generic
/// plan probes `sessions` by its key and `users` by theirs (checked with `EXPLAIN`
/// at 100,000 of each; on a handful of rows it hashes `users`, as cheap there). The
/// batch statement went generic after five executions anyway.
pub const NATIVE_PLANS: [(&str, &str); 1] = [("plan_cache_mode", "force_generic_plan")];

/// A pooled connection idle for longer than this is pinged before it is handed out;
/// one used more recently is handed out as it is.
///
/// sqlx pings on every acquire by default: one more round trip to the database before
/// every query, on the critical path of each purchase batch and session lookup. The
/// ping's purpose is to find connections the server dropped while they sat idle (a
/// restart, an idle timeout); a connection in steady use is not one of those, and
/// should it break anyway, the query on it fails as the ping would have.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A transaction on either backend.
pub type Tx = Transaction<'static, sqlx::Any>;

/// A query on either backend, its arguments bound one by one.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Connects to `url`, creating the SQLite file and its folder when missing. No
    /// statement is bounded in time (for commands such as `udam ledger verify`, whose
    /// reads grow with the data); the server uses [`Db::connect_bounded`].
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::connect_bounded(url, max_connections, None).await
    }

    /// [`Db::connect`], with every statement of the `Any` pool on PostgreSQL ended
    /// after `statement_timeout` (`statement_timeout` of each session): a query left
    /// running by a request that timed out, or a runaway one of a background task,
    /// stops using the database's CPU and locks. Migrations run without the bound
    /// ([`Db::migrate`]); the native pool keeps its own, tighter ones
    /// ([`PURCHASE_TIMEOUTS`]). SQLite has no such setting.
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        statement_timeout: Option<Duration>,
    ) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            create_sqlite_parent(url)?;
        }
        let (any_max, pg_max) = split_connections(backend, max_connections);
        let pool = any_options(backend, any_max, Access::ReadOnly, statement_timeout)
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to the {backend:?} database"))?;
        let writer = match backend {
            Backend::Postgres => None,
            Backend::Sqlite => Some(Arc::new(
                Writer::new(
                    any_options(backend, 1, Access::ReadWrite, None)
                        .connect(url)
                        .await
                        .context("cannot open the SQLite write connection")?,
                )
                .context("cannot start the SQLite writer's thread")?,
            )),
        };
        let pg = match pg_max {
            0 => None,
            max => Some(
                pool_options::<sqlx::Postgres>(max)
                    .connect_with(
                        url.parse::<PgConnectOptions>()
                            .context("the Postgres URL")?
                            .options(PURCHASE_TIMEOUTS)
                            .options(NATIVE_PLANS),
                    )
                    .await
                    .context("cannot connect to the Postgres database (native pool)")?,
            ),
        };
        Ok(Self {
            pool,
            backend,
            pg,
            writer,
            statement_timeout,
        })
    }

    /// The database for a background task that runs on a runtime of its own, opened
    /// from that runtime. On PostgreSQL it is a pool of its own of at most
    /// `max_connections`: a connection answers through the runtime that opened it, so a
    /// pool shared with the request runtime would make requests wait on the other
    /// thread (a low-priority one, for the webhook worker). On SQLite it is this
    /// database: its connections run on threads of their own, and the one write
    /// connection must stay one.
    ///
    /// Its PostgreSQL pool is the `Any` one alone ([`Db::pg`] is `None`): the fast
    /// paths that use the native pool serve requests, never a background task, and
    /// that pool keeps a connection open from the start.
    pub async fn for_own_runtime(&self, url: &str, max_connections: u32) -> anyhow::Result<Self> {
        match self.backend {
            Backend::Sqlite => Ok(self.clone()),
            Backend::Postgres => {
                install_default_drivers();
                let bound = self.statement_timeout;
                let pool = any_options(Backend::Postgres, max_connections, Access::ReadOnly, bound)
                    .connect(url)
                    .await
                    .context("cannot connect to the Postgres database")?;
                Ok(Self {
                    pool,
                    backend: Backend::Postgres,
                    pg: None,
                    writer: None,
                    statement_timeout: bound,
                })
            }
        }
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        if self.backend == Backend::Postgres && self.statement_timeout.is_some() {
            // A migration may rewrite or index every row: it runs unbounded, on a
            // connection that is closed afterwards rather than returned unbounded.
            let mut conn = self.pool.acquire().await?;
            conn.close_on_drop();
            conn.execute("SET statement_timeout = 0").await?;
            return migrator
                .run(&mut *conn)
                .await
                .context("applying database migrations");
        }
        migrator
            .run(self.writes())
            .await
            .context("applying database migrations")
    }

    /// The pool, for reads. On SQLite its connections are `query_only`: every write
    /// goes through [`Db::writes`], [`Db::begin_write`] or [`Db::write`] instead, so
    /// that it queues for the one write connection rather than sleeping on the file
    /// lock.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The native PostgreSQL pool of the fast paths; `None` on SQLite.
    pub fn pg(&self) -> Option<&PgPool> {
        self.pg.as_ref()
    }

    /// The pool for autocommit writes: on SQLite the one write connection (so the
    /// write queues in this process instead of sleeping on the file lock), on
    /// PostgreSQL [`Db::pool`].
    pub fn writes(&self) -> &AnyPool {
        self.writer.as_ref().map_or(&self.pool, |w| &w.pool)
    }

    /// Begins a transaction that will write. On SQLite it runs on the one write
    /// connection and takes the write lock up front (`BEGIN IMMEDIATE`), so that a
    /// read-then-write transaction waits its turn instead of failing with
    /// `SQLITE_BUSY` when another process committed first. Never call it while
    /// holding another write transaction: on SQLite that waits for itself.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match &self.writer {
            Some(writer) => writer.pool.begin_with("BEGIN IMMEDIATE").await,
            None => self.pool.begin().await,
        }
    }

    /// Begins a purchase's transaction: [`Db::begin_write`], and on PostgreSQL with
    /// [`PURCHASE_BEGIN`]'s timeouts in the same round trip.
    pub async fn begin_purchase(&self) -> Result<Tx, sqlx::Error> {
        match &self.writer {
            Some(writer) => writer.pool.begin_with("BEGIN IMMEDIATE").await,
            None => self.pool.begin_with(PURCHASE_BEGIN).await,
        }
    }

    /// Runs `job` in a write transaction. On SQLite the jobs queued meanwhile share
    /// one transaction, each in a savepoint ([`writer`]); on PostgreSQL the job has a
    /// transaction of its own. `Ok` keeps the job's effects, `Err` rolls them back.
    /// The job must write only through the transaction it is given.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.write(job).await;
        }
        let Ok(mut tx) = self.begin_write().await else {
            return Err(WriteError::NotWritten);
        };
        match job(&mut tx).await {
            Ok(done) => match tx.commit().await {
                Ok(()) => Ok(done),
                Err(_) => Err(WriteError::Unknown),
            },
            Err(err) => {
                // Dropping the transaction rolls it back in any case.
                let _ = tx.rollback().await;
                Err(WriteError::Job(err))
            }
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(writer) = &self.writer {
            writer.pool.close().await;
        }
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }
}

/// What a SQLite pool's connections may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Only read (`PRAGMA query_only`): the read pool. A write sent to it fails at
    /// once, in the tests first, instead of sleeping on the file lock.
    ReadOnly,
    /// Read and write: the one write connection.
    ReadWrite,
}

/// The `Any` pool's options: on SQLite each connection in WAL mode with the busy
/// timeout (see [`Db::connect`]), and read-only unless `access` says otherwise; on
/// PostgreSQL each session's statements bounded by `statement_timeout`, if given.
fn any_options(
    backend: Backend,
    max: u32,
    access: Access,
    statement_timeout: Option<Duration>,
) -> AnyPoolOptions {
    pool_options::<sqlx::Any>(max).after_connect(move |conn, _meta| {
        Box::pin(async move {
            if let Some(bound) = statement_timeout.filter(|_| backend == Backend::Postgres) {
                // Whole milliseconds, at least one: `0` would mean unbounded.
                let ms = bound.as_millis().clamp(1, i64::MAX as u128);
                let set = format!("SET statement_timeout = {ms}");
                conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(set)))
                    .await?;
            }
            if backend == Backend::Sqlite {
                // WAL lets readers run beside the one writer; the busy timeout
                // makes writers from other processes queue instead of failing.
                // It comes first: switching to WAL takes the file's lock, and
                // another process (a second replica, a bench seeding the file)
                // may hold it at that moment.
                conn.execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .await?;
                if access == Access::ReadOnly {
                    conn.execute("PRAGMA query_only = ON").await?;
                }
            }
            Ok(())
        })
    })
}

/// SQLite's default pool for `cores` cores: two per core, from 4 to 32.
fn sqlite_connections(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(2)).map_or(32, |n| n.clamp(4, 32))
}

/// What both pools share: their size, a 10 s wait for a connection, and a ping only
/// for a connection that sat idle ([`ping_if_idle`]).
fn pool_options<DB: sqlx::Database>(max: u32) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
}

/// Splits the configured connections between the `Any` pool and, on PostgreSQL,
/// the native pool. Half go to the native pool: it carries every session lookup
/// and every instant purchase, and purchases of different listings commit in
/// parallel there (PostgreSQL then flushes their commits together). On SQLite one
/// connection is the writer and the rest read (at least one).
fn split_connections(backend: Backend, max: u32) -> (u32, u32) {
    let max = max.max(1);
    match backend {
        Backend::Sqlite => ((max - 1).max(1), 0),
        Backend::Postgres if max == 1 => (1, 1),
        Backend::Postgres => {
            let native = max / 2;
            (max - native, native)
        }
    }
}

/// `before_acquire` of both pools: pings a connection that sat idle for longer than
/// [`PING_IDLE_AFTER`] (an error drops it and sqlx takes another), hands out any other
/// as it is.
async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for > PING_IDLE_AFTER {
        conn.ping().await?;
    }
    Ok(true)
}

fn create_sqlite_parent(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the database folder {}", parent.display()))?;
    }
    Ok(())
}

/// True when `err` is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

#[cfg(test)]
mod checksums;

#[cfg(test)]
mod tests {
    use super::{
        Backend, PURCHASE_BEGIN, PURCHASE_TIMEOUTS, split_connections, sqlite_connections,
    };

    #[test]
    fn both_purchase_bounds_agree() {
        for (name, value) in PURCHASE_TIMEOUTS {
            let set = format!("SET LOCAL {name} = '{value}'");
            assert!(
                PURCHASE_BEGIN.contains(&set),
                "{PURCHASE_BEGIN} lacks {set}"
            );
        }
    }

    #[test]
    fn connections_are_split_never_added() {
        assert_eq!(split_connections(Backend::Sqlite, 8), (7, 0));
        assert_eq!(split_connections(Backend::Sqlite, 1), (1, 0));
        assert_eq!(split_connections(Backend::Postgres, 32), (16, 16));
        assert_eq!(split_connections(Backend::Postgres, 5), (3, 2));
        // One connection cannot be split; the native pool still needs one.
        assert_eq!(split_connections(Backend::Postgres, 1), (1, 1));
        assert_eq!(split_connections(Backend::Postgres, 0), (1, 1));
    }

    #[test]
    fn sqlite_pools_default_to_two_per_core() {
        assert_eq!(sqlite_connections(0), 4);
        assert_eq!(sqlite_connections(1), 4);
        assert_eq!(sqlite_connections(2), 4);
        assert_eq!(sqlite_connections(6), 12);
        assert_eq!(sqlite_connections(16), 32);
        assert_eq!(sqlite_connections(usize::MAX), 32);
        assert_eq!(Backend::Postgres.default_max_connections(), 32);
    }
}
