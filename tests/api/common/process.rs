//! Real `udam serve` processes, for multi-process and log-capture tests.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Client;

/// A running `udam` child process. Killed when dropped.
pub struct ServerProcess {
    /// Client for this process.
    pub client: Client,
    child: Child,
    stderr: Arc<Mutex<String>>,
    log_written: Arc<Notify>,
}

impl ServerProcess {
    /// `n` processes with default settings on one database, started one after
    /// another, and a client of each in the same order. Keep the processes bound
    /// while the clients are in use: dropping them kills them.
    pub async fn start_many(db_url: &str, n: usize) -> (Vec<Self>, Vec<Client>) {
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            servers.push(Self::start(db_url, &[], &[]).await);
        }
        let clients = servers.iter().map(|s| s.client.clone()).collect();
        (servers, clients)
    }

    /// Starts `udam serve` on a free port against `db_url`, with extra arguments and
    /// environment, and waits for its "listening" line.
    pub async fn start(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_udam"));
        cmd.args([
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            db_url,
            "--db-max-connections",
            "4",
            "--master-keys",
            super::TEST_MASTER_KEYS,
        ])
        .args(args)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        // Several processes run at once; the default metrics port 9090 would collide,
        // and the default rate limits would trip the concurrency tests. Set before
        // `env` and as variables, so a test's own flags and variables still win.
        cmd.env("UDAM_METRICS_BIND", "127.0.0.1:0");
        cmd.env("UDAM_GATEWAY_BIND", "127.0.0.1:0");
        // Without Stripe, PostgreSQL runs pay through the dev checkout, asked for here.
        cmd.env("UDAM_DEV_CHECKOUT", "true");
        for (_, var, quota) in super::RELAXED_RATE_LIMITS {
            cmd.env(var, quota);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("udam binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let log_written = Arc::new(Notify::new());
        let notify = log_written.clone();
        let err_pipe = child.stderr.take().expect("stderr");
        tokio::spawn(async move {
            let mut lines = BufReader::new(err_pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = sink.lock().expect("log sink");
                s.push_str(&line);
                s.push('\n');
                drop(s);
                notify.notify_waiters();
            }
        });
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let base = loop {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .unwrap_or_else(|| {
                    panic!(
                        "udam exited before listening; stderr:\n{}",
                        stderr.lock().unwrap()
                    )
                });
            if let Some(url) = line.strip_prefix("udam listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            client: Client::new(base),
            child,
            stderr,
            log_written,
        }
    }

    /// The process id, for `/proc/<pid>/status` readings.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("udam is running")
    }

    /// Everything the process wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().expect("log sink").clone()
    }

    /// Waits (up to 10 s) until the logs contain `needle`, woken by each new line.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let wait = async {
            loop {
                let notified = self.log_written.notified();
                let logs = self.logs();
                if logs.contains(needle) {
                    return logs;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("log line {needle:?} never appeared:\n{}", self.logs()))
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit success.
    pub async fn terminate(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        self.child
            .wait()
            .await
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl std::ops::Deref for ServerProcess {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}
