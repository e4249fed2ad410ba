//! A `udam serve` child whose settings are the defaults except where a test says,
//! optionally under a descriptor limit (`prlimit --nofile`, which execs `udam`, so
//! the pid is the server's own), with its pid for `/proc` readings.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{Backend, Client, RELAXED_RATE_LIMITS, TEST_MASTER_KEYS};

/// The memory budget of a server with the default settings (issue 18): base,
/// one hashing worker, the database driver's caches, a few connections.
pub const BUDGET_KIB: u64 = 64 * 1024;
/// What one request in flight may add, connection included (measured 24 to 37
/// KiB on the debug build; docs/OPERATIONS.md).
pub const PER_REQUEST_KIB: u64 = 48;

/// A running server; killed when dropped.
pub struct Udam {
    pub client: Client,
    /// `host:port` of the API listener.
    pub addr: String,
    /// A client of the metrics listener (`http://host:port`).
    metrics: Client,
    child: Child,
}

/// Extra settings for [`Udam::start`].
#[derive(Default)]
pub struct Launch<'a> {
    /// Further `--flag value` arguments (before `serve`).
    pub args: &'a [&'a str],
    /// Soft and hard `RLIMIT_NOFILE` for the child.
    pub nofile: Option<u64>,
    /// Environment variables, set after the relaxed rate limits (so they win).
    pub env: &'a [(&'a str, &'a str)],
}

impl Udam {
    /// Starts `udam serve` on a free port against `db_url` and waits for its
    /// "listening" line. PostgreSQL runs get a smaller pool so that parallel tests
    /// do not exhaust the shared server's connections.
    pub async fn start(backend: Backend, db_url: &str, launch: Launch<'_>) -> Self {
        let exe = env!("CARGO_BIN_EXE_udam");
        let mut cmd = match launch.nofile {
            Some(n) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={n}:{n}")).arg("--").arg(exe);
                cmd
            }
            None => Command::new(exe),
        };
        cmd.args([
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            db_url,
            "--master-keys",
            TEST_MASTER_KEYS,
            "--metrics-bind",
            "127.0.0.1:0",
            // Many servers run at once; the gateway's default port would collide.
            "--gateway-bind",
            "127.0.0.1:0",
            // No Stripe here: on PostgreSQL the dev checkout must be asked for.
            "--dev-checkout",
            "true",
        ]);
        if backend == Backend::Postgres {
            cmd.args(["--db-max-connections", "8"]);
        }
        cmd.args(launch.args)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (_, var, quota) in RELAXED_RATE_LIMITS {
            cmd.env(var, quota);
        }
        cmd.envs(launch.env.iter().copied());
        let mut child = cmd.spawn().expect("udam starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut base, mut metrics_url) = (None, None);
        // "listening" comes first, then the metrics line.
        while metrics_url.is_none() {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .expect("udam exited before listening");
            if let Some(url) = line.strip_prefix("udam listening on ") {
                base = Some(url.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("udam metrics on ") {
                metrics_url = Some(url.trim().to_owned());
            }
        }
        let base = base.expect("the listening line comes before the metrics line");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = base.trim_start_matches("http://").to_owned();
        Self {
            client: Client::new(base),
            addr,
            metrics: Client::new(
                metrics_url
                    .as_deref()
                    .and_then(|url| url.strip_suffix("/metrics"))
                    .unwrap_or_default()
                    .to_owned(),
            ),
            child,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("udam is running")
    }

    /// A `/proc/<pid>/status` field in KiB (e.g. `VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} not in /proc status"))
    }

    /// How many descriptors the server holds open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc fd")
            .count()
    }

    /// The value of one sample on the server's `/metrics` page: the line that
    /// starts with `series` (name and labels as Prometheus prints them, e.g.
    /// `udam_browse_cache_bytes{kind="pages"}`), or `None` while it has none.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics.metric(series).await
    }

    /// Polls `series` (every 50 ms, for at most 10 s) until it has a value that
    /// `ready` accepts; returns that value.
    pub async fn metric_when(&self, series: &str, ready: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.metric(series).await;
            if let Some(value) = value.filter(|v| ready(*v)) {
                return value;
            }
            assert!(Instant::now() < deadline, "{series} stayed at {value:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails unless the peak stayed under [`BUDGET_KIB`] plus `bound_kib` (what
    /// the flooded structure may hold when full) plus [`PER_REQUEST_KIB`] for each
    /// of `in_flight` requests sent at once; returns the peak.
    pub fn assert_peak_within(&self, bound_kib: u64, in_flight: usize, what: &str) -> u64 {
        let budget = BUDGET_KIB + bound_kib + PER_REQUEST_KIB * in_flight as u64;
        self.assert_peak_under(budget, what)
    }

    /// Fails unless the server's peak resident memory (VmHWM, which covers every
    /// moment since start), less its file-backed pages, is under `budget_kib`;
    /// returns that figure. File-backed pages are the binary's code and the shared
    /// libraries: they grow with the build (a debug binary with more crates maps more),
    /// not with load, so they are left out of a budget about what load makes the
    /// server hold.
    pub fn assert_peak_under(&self, budget_kib: u64, what: &str) -> u64 {
        let peak = self
            .status_kib("VmHWM")
            .saturating_sub(self.status_kib("RssFile"));
        eprintln!(
            "{what}: peak resident memory less file pages {peak} KiB (now {} KiB: {} anonymous, \
             {} file), budget {budget_kib} KiB",
            self.status_kib("VmRSS"),
            self.status_kib("RssAnon"),
            self.status_kib("RssFile"),
        );
        assert!(
            peak < budget_kib,
            "{what}: peak resident memory less file pages {peak} KiB over the {budget_kib} KiB budget"
        );
        peak
    }
}
