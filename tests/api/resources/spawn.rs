//! A `udam serve` child whose settings are the defaults except where a test says,
//! optionally under a descriptor limit (`prlimit --nofile`, which execs `udam`, so
//! the pid is the server's own), with its pid for `/proc` readings.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{Backend, Client, RELAXED_RATE_LIMITS, TEST_MASTER_KEYS};

/// A running server; killed when dropped.
pub struct Udam {
    pub client: Client,
    /// `host:port` of the API listener.
    pub addr: String,
    child: Child,
}

/// Extra settings for [`Udam::start`].
#[derive(Default)]
pub struct Launch<'a> {
    /// Further `--flag value` arguments (before `serve`).
    pub args: &'a [&'a str],
    /// Soft and hard `RLIMIT_NOFILE` for the child.
    pub nofile: Option<u64>,
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
        let mut child = cmd.spawn().expect("udam starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = loop {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .expect("udam exited before listening");
            if let Some(url) = line.strip_prefix("udam listening on ") {
                break url.trim().to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = base.trim_start_matches("http://").to_owned();
        Self {
            client: Client::new(base),
            addr,
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
}
