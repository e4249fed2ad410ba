//! The server under test: `udam serve` as a child process on a free loopback port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `udam serve`. Killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
}

/// Settings handed to the server, shown in the report.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[
    // Every bench purchase is a small order fulfilled at once: no buyer reaches a cap.
    ("UDAM_UNPAID_CAP_CENTS", "1000000000000"),
    ("UDAM_INSTANT_LIMIT_CENTS", "500"),
    // Production-like logging: one JSON line per request, to a file.
    ("UDAM_LOG_FORMAT", "json"),
    // Every client comes from one address, and each buyer buys as fast as it can:
    // the default limits (per address, per sign-in, 60 orders a minute per user)
    // would answer most requests 429 instead of measuring them.
    ("UDAM_RATE_LIMIT_IP", "1000000/min"),
    ("UDAM_RATE_LIMIT_AUTH_IP", "1000000/min"),
    ("UDAM_RATE_LIMIT_AUTH_EMAIL", "1000000/min"),
    ("UDAM_RATE_LIMIT_ORDERS", "1000000/min"),
    // The bench runs on PostgreSQL without Stripe: the dev checkout must be asked for.
    ("UDAM_DEV_CHECKOUT", "true"),
];

/// The `udam` binary next to this one (both built by `cargo build --release`).
pub fn sibling_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("the bench binary has no folder")?;
    let udam = dir.join("udam");
    anyhow::ensure!(
        udam.exists(),
        "{} is missing: build it with `cargo build --release --bin udam` (scripts/bench.sh does)",
        udam.display()
    );
    let built = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(server), Some(bench)) = (built(&udam), built(&me))
        && server + Duration::from_secs(600) < bench
    {
        eprintln!(
            "warning: {} is older than the bench binary; it may not contain your changes",
            udam.display()
        );
    }
    Ok(udam)
}

impl ServerProcess {
    /// Starts the server against `db_url` and waits for its "listening" line.
    pub async fn start(
        binary: &Path,
        db_url: &str,
        master_keys: &str,
        log_file: &Path,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log_file)
            .with_context(|| format!("creating {}", log_file.display()))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--bind", "127.0.0.1:0"])
            .env("UDAM_DATABASE_URL", db_url)
            .env("UDAM_MASTER_KEYS", master_keys)
            // Free ports for the other listeners: the bench runs two servers at once.
            .env("UDAM_METRICS_BIND", "127.0.0.1:0")
            .env("UDAM_GATEWAY_BIND", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (k, v) in SERVER_SETTINGS {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let out = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(out).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("udam listening on http://") {
                    return Ok(url.trim().parse::<SocketAddr>()?);
                }
            }
            anyhow::bail!(
                "the server exited before listening; see {}",
                log_file.display()
            )
        };
        let addr = tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .context("the server did not start listening within 60 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, pid })
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }
}
