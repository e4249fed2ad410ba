//! Typed configuration: every setting is a flag with a `UDAM_*` environment fallback.
//!
//! Values are validated by clap while parsing, so a malformed setting stops the start
//! with one line naming the flag (and thus the variable), never a backtrace. Secrets
//! are wrapped in [`Secret`], whose `Debug` is redacted, and their environment values
//! are hidden from `--help`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::ledger::FeeRate;

pub mod cors;
pub mod edge;
pub mod gateway;
pub mod metrics_bind;
pub mod payouts;
pub mod webhooks;
pub use cors::CorsOrigins;
pub use edge::EdgeConfig;
pub use gateway::{GatewayBind, GatewayConfig};
pub use metrics_bind::MetricsBind;
pub use payouts::PayoutConfig;
pub use webhooks::WebhookConfig;

/// Where the embedded SQLite database lives when no `--database-url` is given.
pub const DEFAULT_DATA_DIR: &str = "udam-data";

/// A secret string (key, token, URL with a password). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is really used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secrets of a comma-separated list (the old and the new signing secret
    /// during a rotation), trimmed, empty entries dropped; none when unset.
    pub fn list(secret: Option<&Self>) -> Vec<String> {
        secret.map_or_else(Vec::new, |s| {
            s.expose()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

/// A duration written as a number and a unit: `90s`, `30m`, `12h`, `7d` (or bare seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 12h or 7d"))?;
        let unit_secs = match unit.trim() {
            "" | "s" => 1,
            "ms" => return Ok(Self(Duration::from_millis(n))),
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("`{s}` has an unknown unit (use ms, s, m, h or d)")),
        };
        let secs = n
            .checked_mul(unit_secs)
            .ok_or_else(|| format!("`{s}` is too long"))?;
        Ok(Self(Duration::from_secs(secs)))
    }
}

/// Every setting of the server. Flags are global, so they may follow any subcommand.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address the HTTP server listens on (`127.0.0.1:0` picks a free port).
    #[arg(
        long,
        env = "UDAM_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://PATH` or `postgres://...`. Default: an SQLite file in ./udam-data/.
    #[arg(long, env = "UDAM_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<Secret>,

    /// Maximum connections in the database pool. Default: 32 on PostgreSQL; on
    /// SQLite two per core, from 4 to 32.
    #[arg(long, env = "UDAM_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// Longest a statement of the server may run on PostgreSQL before it is ended
    /// (`statement_timeout`): twice the request timeout, so it stops what a timed-out
    /// request left running. `0s` disables. Migrations and commands such as
    /// `udam ledger verify` run unbounded; purchases keep their own 5 s.
    #[arg(
        long,
        env = "UDAM_DB_STATEMENT_TIMEOUT",
        default_value = "60s",
        global = true
    )]
    pub db_statement_timeout: HumanDuration,

    /// How long a session lives after login (e.g. 7d, 12h).
    #[arg(long, env = "UDAM_SESSION_TTL", default_value = "7d", global = true)]
    pub session_ttl: HumanDuration,

    /// Log format.
    #[arg(
        long,
        env = "UDAM_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,

    /// Master keys that seal seller API keys: `k2:BASE64,k1:BASE64`; the first one seals.
    #[arg(long, env = "UDAM_MASTER_KEYS", hide_env_values = true, global = true)]
    pub master_keys: Option<Secret>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "UDAM_BODY_LIMIT", default_value_t = 64 * 1024, global = true)]
    pub body_limit: usize,

    /// Longest time one request may take before it gets 503.
    #[arg(
        long,
        env = "UDAM_REQUEST_TIMEOUT",
        default_value = "30s",
        global = true
    )]
    pub request_timeout: HumanDuration,

    /// How often each process asks the database which listings changed (cache invalidation).
    #[arg(
        long,
        env = "UDAM_CACHE_POLL_INTERVAL",
        default_value = "250ms",
        global = true
    )]
    pub cache_poll_interval: HumanDuration,

    /// Longest any browse-cache entry lives (a backstop; invalidation is by polling).
    #[arg(long, env = "UDAM_CACHE_MAX_AGE", default_value = "60s", global = true)]
    pub cache_max_age: HumanDuration,

    /// Orders whose total is at most this (minor units) are fulfilled at once, paid later.
    #[arg(
        long,
        env = "UDAM_INSTANT_LIMIT_CENTS",
        default_value_t = 500,
        global = true
    )]
    pub instant_limit_cents: i64,

    /// Most a buyer may owe for instantly fulfilled orders, per currency (minor units).
    #[arg(
        long,
        env = "UDAM_UNPAID_CAP_CENTS",
        default_value_t = 2000,
        global = true
    )]
    pub unpaid_cap_cents: i64,

    /// The platform's fee on each sale, in basis points (0 to 10000; 250 = 2.5 %).
    /// Rounded down per sale, so the seller gets the fractional cent (docs/LEDGER.md).
    #[arg(
        long,
        env = "UDAM_PLATFORM_FEE_BPS",
        default_value = "0",
        value_parser = parse_fee_rate,
        global = true
    )]
    pub platform_fee_bps: FeeRate,

    /// Most units one order may buy.
    #[arg(
        long,
        env = "UDAM_MAX_UNITS_PER_ORDER",
        default_value_t = 10_000,
        global = true
    )]
    pub max_units_per_order: i64,

    /// How long units stay reserved for an order awaiting payment (30m to 24h).
    #[arg(
        long,
        env = "UDAM_RESERVATION_TTL",
        default_value = "30m",
        global = true
    )]
    pub reservation_ttl: HumanDuration,

    /// How often each process looks for reservations past their expiry.
    #[arg(
        long,
        env = "UDAM_SWEEP_INTERVAL",
        default_value = "30s",
        global = true
    )]
    pub sweep_interval: HumanDuration,

    /// Public base URL of this server, used in checkout and return links
    /// (default: http:// plus the bind address).
    #[arg(long, env = "UDAM_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Stripe secret key (`sk_live_…`/`sk_test_…`). Setting it replaces the dev checkout.
    #[arg(
        long,
        env = "UDAM_STRIPE_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub stripe_secret_key: Option<Secret>,

    /// Stripe webhook signing secrets (`whsec_…`), comma-separated to allow rotation.
    #[arg(
        long,
        env = "UDAM_STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub stripe_webhook_secret: Option<Secret>,

    /// Stripe API base URL (tests point it at a fake Stripe).
    #[arg(
        long,
        env = "UDAM_STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_api_base: String,

    /// Where Stripe sends the payer after paying; `{ORDER_ID}` is replaced
    /// (default: the UI's order success page).
    #[arg(long, env = "UDAM_STRIPE_SUCCESS_URL", global = true)]
    pub stripe_success_url: Option<String>,

    /// Where Stripe sends the payer who gives up; `{ORDER_ID}` is replaced
    /// (default: the UI's order cancelled page).
    #[arg(long, env = "UDAM_STRIPE_CANCEL_URL", global = true)]
    pub stripe_cancel_url: Option<String>,

    /// Allows the built-in dev checkout (a simulated payment page: buyers "pay" without
    /// paying) where it would otherwise refuse to start: on PostgreSQL or behind an
    /// https public URL. Without Stripe on SQLite and plain http (the embedded default
    /// included) it is on anyway.
    /// Whenever it is on, every start logs a warning. Ignored (with a warning) when
    /// Stripe is configured.
    #[arg(
        long,
        env = "UDAM_DEV_CHECKOUT",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        global = true
    )]
    pub dev_checkout: bool,

    /// How old a webhook signature's timestamp may be.
    #[arg(
        long,
        env = "UDAM_STRIPE_WEBHOOK_TOLERANCE",
        default_value = "300s",
        global = true
    )]
    pub stripe_webhook_tolerance: HumanDuration,

    /// How many password hashes run at once: one worker thread each, owning a 19 MiB block
    /// (the default of one keeps a small replica within 64 MiB; raise it for login throughput).
    #[arg(
        long,
        env = "UDAM_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 1,
        global = true
    )]
    pub password_hash_concurrency: usize,

    /// How many sign-ins may wait for a hashing worker; beyond it they get 503 with
    /// `Retry-After` (each waiting one holds only its request, not a memory block).
    #[arg(
        long,
        env = "UDAM_PASSWORD_HASH_QUEUE",
        default_value_t = 256,
        global = true
    )]
    pub password_hash_queue: usize,

    /// Longest wait for a complete request head; also closes keep-alive connections
    /// idle that long between requests.
    #[arg(
        long,
        env = "UDAM_HEADER_READ_TIMEOUT",
        default_value = "10s",
        global = true
    )]
    pub header_read_timeout: HumanDuration,

    /// Closes a connection whose answer made no progress for this long: a client that
    /// stops reading would otherwise keep its connection, and its slot under
    /// `--max-connections`, for ever. A reader so slow that less than about a third
    /// of the socket's send buffer frees up in that time is closed too.
    #[arg(
        long,
        env = "UDAM_WRITE_STALL_TIMEOUT",
        default_value = "30s",
        global = true
    )]
    pub write_stall_timeout: HumanDuration,

    /// Most client connections open at once (lowered at start to fit the descriptor
    /// limit). At the cap, a connection that never sent a request is closed to make
    /// room; if none, the new connection is closed at once.
    #[arg(
        long,
        env = "UDAM_MAX_CONNECTIONS",
        default_value_t = 4096,
        global = true
    )]
    pub max_connections: usize,

    /// The edge: rate limits, metrics, CORS, header limit and the purge task.
    #[command(flatten)]
    pub edge: EdgeConfig,

    /// The metered gateway: its listener, upstream rules and timeouts.
    #[command(flatten)]
    pub gateway: GatewayConfig,

    /// Seller payouts: hold, minimum, periodic run, test clock.
    #[command(flatten)]
    pub payouts: PayoutConfig,

    /// Outbound webhooks: the delivery worker's poll, timeout and retry scale.
    #[command(flatten)]
    pub webhooks: WebhookConfig,
}

/// Parses `--platform-fee-bps`: a whole number of basis points, 0 to 10 000.
fn parse_fee_rate(s: &str) -> Result<FeeRate, String> {
    let bps: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of basis points (0 to 10000)"))?;
    FeeRate::from_bps(bps).map_err(|e| e.to_string())
}

impl Config {
    /// The database URL to use, falling back to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                default_sqlite_path().to_string_lossy()
            ),
        }
    }

    /// The webhook signing secrets, trimmed, empty entries dropped.
    pub fn stripe_webhook_secrets(&self) -> Vec<String> {
        Secret::list(self.stripe_webhook_secret.as_ref())
    }

    /// True when running on the embedded default database (no URL given).
    pub fn uses_default_database(&self) -> bool {
        self.database_url.is_none()
    }
}

/// Path of the master key file used with the embedded default database.
pub fn default_master_key_path() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR).join("master.key")
}

/// Path of the embedded default SQLite database.
pub fn default_sqlite_path() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR).join("udam.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            "7d".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(604_800)
        );
        assert_eq!(
            "90".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert!("7 weeks".parse::<HumanDuration>().is_err());
        assert!("".parse::<HumanDuration>().is_err());
        assert!("99999999999999999999d".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn fee_rates_are_basis_points_up_to_all_of_it() {
        assert_eq!(parse_fee_rate("0").unwrap(), FeeRate::ZERO);
        assert_eq!(parse_fee_rate("250").unwrap().bps(), 250);
        assert_eq!(parse_fee_rate("10000").unwrap().bps(), 10_000);
        assert!(parse_fee_rate("10001").unwrap_err().contains("above 100 %"));
        assert!(parse_fee_rate("-1").is_err());
        assert!(parse_fee_rate("2.5").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Secret::new("sk_live_abc");
        assert!(!format!("{s:?}").contains("sk_live"));
    }

    #[test]
    fn secret_lists_split_on_commas() {
        let old_and_new = Secret::new(" whsec_old , ,whsec_new");
        assert_eq!(Secret::list(Some(&old_and_new)), ["whsec_old", "whsec_new"]);
        assert!(Secret::list(None).is_empty());
        assert!(Secret::list(Some(&Secret::new(" , "))).is_empty());
    }
}
