//! Test harness: a real server on a real port against a fresh database per test.

pub mod fixtures;
mod ids;
mod market;
pub mod process;

use std::path::PathBuf;

use clap::Parser;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;
use udam::config::Config;
use udam::db::Db;
use udam::server::Server;
use udam::state::AppState;

pub use ids::{ListingId, OrderId};
pub use market::{
    assert_invariant, create_listing, listing_body, order, place_gateway_order, place_order,
    race_orders, units_left,
};
pub use udam::db::Backend;

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)`,
/// as `sqlite::NAME` and `postgres::NAME`, so every behaviour is proven on both.
#[macro_export]
macro_rules! dual_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

#[derive(Parser)]
// Later flags win, so a test may override a harness default such as --metrics-bind.
#[command(args_override_self = true)]
struct TestCli {
    #[command(flatten)]
    config: Config,
}

/// The master key ring test servers use (a fixed, public test key).
pub const TEST_MASTER_KEYS: &str = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Rate limits far above anything a test sends: every test client comes from
/// 127.0.0.1, and the concurrency tests fire a thousand requests at once. The
/// edge-settings tests set the limits they prove; `(flag, variable, quota)`.
pub const RELAXED_RATE_LIMITS: [(&str, &str, &str); 4] = [
    ("--rate-limit-ip", "UDAM_RATE_LIMIT_IP", "1000000/min"),
    (
        "--rate-limit-auth-ip",
        "UDAM_RATE_LIMIT_AUTH_IP",
        "1000000/min",
    ),
    (
        "--rate-limit-auth-email",
        "UDAM_RATE_LIMIT_AUTH_EMAIL",
        "1000000/min",
    ),
    (
        "--rate-limit-orders",
        "UDAM_RATE_LIMIT_ORDERS",
        "1000000/min",
    ),
];

/// Settings for a test server; `extra` are further `--flag value` arguments.
pub fn test_config(db_url: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "udam",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        db_url,
        "--db-max-connections",
        "4",
        "--master-keys",
        TEST_MASTER_KEYS,
        // Many servers run at once; the default 9090 would collide.
        "--metrics-bind",
        "127.0.0.1:0",
        // Likewise the gateway's default 8081.
        "--gateway-bind",
        "127.0.0.1:0",
        // Tests without Stripe pay through the dev checkout, on PostgreSQL too; a test
        // of the refusal passes `--dev-checkout false`.
        "--dev-checkout",
        "true",
    ];
    args.extend(
        RELAXED_RATE_LIMITS
            .iter()
            .flat_map(|(flag, _, q)| [*flag, *q]),
    );
    args.extend_from_slice(extra);
    TestCli::try_parse_from(args)
        .expect("test settings parse")
        .config
}

/// A fresh, empty database for one test. SQLite: a file in a temporary folder
/// (removed on drop). PostgreSQL: a new database on the server named by
/// `UDAM_TEST_PG_URL` (dropped on drop); when that server does not answer, the test
/// fails loudly.
pub struct TestDb {
    /// The URL to hand to `udam`.
    pub url: String,
    dir: Option<PathBuf>,
    /// PostgreSQL: the database's name, dropped through the admin URL.
    pg_name: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs inside the test's runtime, which cannot be blocked on from
            // within; a short-lived thread with its own runtime does the DROP, so the
            // database is gone when the test ends, passed or failed. scripts/test.sh's
            // trap stays as the backstop for a killed test process.
            let dropped = std::thread::spawn(move || drop_pg_database(&pg_admin_url(), &name));
            if let Ok(Err(err)) = dropped.join() {
                eprintln!("warning: test database not dropped: {err}");
            }
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)`: also ends the connections a server under test
/// (or a child process) may still hold.
fn drop_pg_database(admin: &str, name: &str) -> Result<(), String> {
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut conn = sqlx::AnyConnection::connect(admin)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
        conn.close().await.map_err(|e| format!("{name}: {e}"))
    })
}

/// The PostgreSQL server tests use (an admin URL whose database may be replaced).
pub fn pg_admin_url() -> String {
    std::env::var("UDAM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn random_suffix() -> String {
    hex::encode(udam::ids::random_bytes::<8>())
}

impl TestDb {
    /// Creates a fresh database of the given backend.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("udam-test-{}", random_suffix()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("udam.db").display());
                Self {
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let admin = pg_admin_url();
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL does not answer at UDAM_TEST_PG_URL ({admin}): {e}. \
                         Run the tests through scripts/test.sh, which starts a throwaway server."
                        )
                    });
                let prefix =
                    std::env::var("UDAM_TEST_DB_PREFIX").unwrap_or_else(|_| "udam_t_".to_owned());
                let name = format!("{prefix}{}", random_suffix());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

/// A response, decoded for assertions.
#[derive(Debug)]
pub struct Resp {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (Null when empty or not JSON).
    pub body: Value,
}

impl Resp {
    /// The envelope's error code, if this is an error.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP client bound to one server's base URL.
#[derive(Clone)]
pub struct Client {
    /// e.g. `http://127.0.0.1:41234`
    pub base: String,
    /// The underlying client.
    pub http: reqwest::Client,
}

impl Client {
    /// A client for `base`.
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self { base, http }
    }

    /// Sends a request and decodes the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    fn with_auth(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(Self::with_auth(req, token)).await
    }

    /// POST a JSON body to `path`.
    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        let req = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(Self::with_auth(req, token)).await
    }

    /// The value of `series` (a metric name with its labels, as `/metrics` prints
    /// it) on this client's `/metrics` page; `None` until it is recorded.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics_page()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse().expect("a sample value"))
    }

    /// The sum of `series` on this client's `/metrics` page: a bare metric name sums
    /// all its label sets, a name with labels is that one sample; 0 while unrecorded.
    pub async fn metric_sum(&self, series: &str) -> f64 {
        self.metrics_page()
            .await
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(series)?;
                let value = match rest.strip_prefix(' ') {
                    Some(value) => value,
                    None if !series.contains('{') && rest.starts_with('{') => {
                        rest.rsplit_once("} ")?.1
                    }
                    None => return None,
                };
                Some(value.trim().parse::<f64>().expect("a sample value"))
            })
            .sum()
    }

    /// This client's `/metrics` page.
    async fn metrics_page(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("metrics page")
    }

    #[allow(dead_code)] // used by the listings tests
    /// PATCH a JSON body to `path`.
    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Resp {
        let req = self.http.patch(format!("{}{path}", self.base)).json(body);
        self.send(Self::with_auth(req, token)).await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        let req = self.http.delete(format!("{}{path}", self.base));
        self.send(Self::with_auth(req, token)).await
    }

    /// Registers an account and signs in; returns the bearer token.
    pub async fn signup(&self, email: &str) -> String {
        let password = "correct horse battery";
        let r = self
            .post(
                "/api/v1/auth/register",
                &serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "register {email}: {:?}",
            r.body
        );
        self.login(email, password).await
    }

    /// Signs in; returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {email}: {:?}", r.body);
        r.body["token"].as_str().expect("token").to_owned()
    }
}

/// A server running inside the test process, on a real port, with its own database.
pub struct TestApp {
    /// Client for this server.
    pub client: Client,
    /// The server's state (for inspecting the database).
    pub state: AppState,
    /// Client for the `/metrics` listener, unless the test turned it off.
    pub metrics: Option<Client>,
    /// Keeps the database alive (and removes SQLite's folder) for the test's duration.
    _db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl TestApp {
    /// Starts a server on a fresh database of `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server with extra settings (`--flag value` pairs).
    pub async fn spawn_with(backend: Backend, extra: &[&str]) -> Self {
        let db = TestDb::new(backend).await;
        Self::spawn_on(db, extra).await
    }

    /// Starts a server on an existing test database.
    pub async fn spawn_on(db: TestDb, extra: &[&str]) -> Self {
        let config = test_config(&db.url, extra);
        let server = Server::bind(config).await.expect("server starts");
        let addr = server.local_addr().expect("bound address");
        let metrics = server
            .metrics_addr()
            .map(|m| Client::new(format!("http://{m}")));
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            client: Client::new(format!("http://{addr}")),
            state,
            metrics,
            _db: db,
            shutdown: Some(tx),
        }
    }

    /// The database pool of the running server.
    pub fn database(&self) -> &Db {
        &self.state.db
    }

    /// One integer from a SQL query with one `$1` text parameter.
    pub async fn scalar(&self, sql: &'static str, arg: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .bind(arg)
            .fetch_one(self.database().pool())
            .await
            .expect("scalar query")
            .try_get::<i64, _>(0)
            .expect("integer")
    }

    /// Fails the test unless `udam ledger verify`'s check finds nothing: every journal
    /// transaction balanced and every account agreeing with orders, grants and
    /// settlements. Money tests end with it.
    pub async fn assert_ledger_clean(&self) {
        assert_ledger_clean(self.database()).await;
    }
}

/// [`TestApp::assert_ledger_clean`] for a database reached without a `TestApp`
/// (multi-process and crash tests).
pub async fn assert_ledger_clean(db: &Db) {
    let report = udam::ledger::verify(db).await.expect("ledger verify runs");
    assert!(
        report.discrepancies.is_empty(),
        "ledger verify found {} discrepancies: {:#?}",
        report.discrepancies.len(),
        report.discrepancies
    );
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
