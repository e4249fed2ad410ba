//! `udam-bench --webhook-latency`: does an outbound webhook endpoint slow a purchase?
//! (issue 17: "a purchase's latency is unchanged by webhooks").
//!
//! One `udam serve` on a fresh PostgreSQL database, one client buying one unit at a
//! time (instant orders), in alternating runs: the buyer's and the seller's endpoints
//! (subscribed to every event a purchase emits) disabled, then enabled, and so on, so
//! that drift on a shared machine falls on both sides alike. With endpoints enabled
//! every purchase writes one `order.placed` outbox row in its transaction, which the
//! delivery worker expands into three events (seller's `order.created` and
//! `order.fulfilled`, buyer's `order.fulfilled`) and posts, meanwhile, to a local
//! receiver answering 200. Disabled endpoints make the triggers write nothing, as for
//! a user without endpoints.
//!
//! `--worker-idle` keeps the worker from polling during the runs (an hour's interval),
//! so the gap is the outbox row alone; the check then counts `order.placed` rows.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use super::server::SERVER_SETTINGS;
use super::stats::Samples;

/// Unmeasured purchases before each run's timed ones.
const WARMUP: usize = 40;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Runs {
    /// Alternating pairs of runs (endpoints disabled, then enabled).
    pub rounds: usize,
    /// Timed purchases per run, after [`WARMUP`] unmeasured ones.
    pub per_run: usize,
    /// Keep the delivery worker from polling during the runs.
    pub worker_idle: bool,
}

/// Runs the comparison on a fresh database beside `admin`; prints a Markdown table.
pub async fn run(binary: &Path, admin: &str, runs: Runs) -> anyhow::Result<bool> {
    let (db_url, db_name) = super::seed::create_database(admin).await?;
    let runs = Runs {
        rounds: runs.rounds.max(1),
        per_run: runs.per_run.max(1),
        ..runs
    };
    let result = measure(binary, &db_url, &db_name, runs).await;
    if let Err(err) = super::seed::drop_database(admin, &db_name).await {
        eprintln!("warning: could not drop {db_name}: {err:#}");
    }
    result
}

async fn measure(binary: &Path, db_url: &str, name: &str, runs: Runs) -> anyhow::Result<bool> {
    let Runs {
        rounds,
        per_run,
        worker_idle,
    } = runs;
    let received = Arc::new(AtomicU64::new(0));
    let receiver = receiver(received.clone()).await?;
    let log = std::env::temp_dir().join(format!("{name}-server.log"));
    let (_child, addr) = start_server(binary, db_url, &log, worker_idle).await?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()?;
    let api = Api {
        http: &http,
        base: &base,
    };
    let seller = api.signup("seller").await?;
    let buyer = api.signup("buyer").await?;
    let listing = api
        .call(
            "POST",
            "/api/v1/listings",
            &seller,
            json!({"service_name": "Webhook latency", "description": "bench",
                   "price_cents": 1, "currency": "usd", "available_units": 1_000_000_000,
                   "api_key": "sk_bench_upstream_key_0123456789"}),
        )
        .await?["id"]
        .as_str()
        .context("listing id")?
        .to_owned();
    let url = format!("http://{receiver}/hook");
    let mut endpoints = Vec::new();
    for (token, events) in [
        (&seller, json!(["order.created", "order.fulfilled"])),
        (&buyer, json!(["order.fulfilled"])),
    ] {
        let made = api
            .call(
                "POST",
                "/api/v1/webhook-endpoints",
                token,
                json!({"url": url, "events": events, "description": "bench receiver"}),
            )
            .await?;
        endpoints.push((token.clone(), made["id"].as_str().context("id")?.to_owned()));
    }

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut rows = Vec::new();
    let mut expected = 0u64;
    for round in 1..=rounds {
        for enabled in [false, true] {
            for (token, id) in &endpoints {
                api.call(
                    "PATCH",
                    &format!("/api/v1/webhook-endpoints/{id}"),
                    token,
                    json!({"enabled": enabled}),
                )
                .await?;
            }
            let before = received.load(Ordering::Relaxed);
            let run = buy_run(&api, &buyer, &listing, per_run).await?;
            let meanwhile = received.load(Ordering::Relaxed) - before;
            let mut drained = String::new();
            if enabled && !worker_idle {
                // Let the worker deliver what this run queued before the endpoints are
                // disabled (deliveries due to a disabled endpoint are not sent).
                expected += ((per_run + WARMUP) * 3) as u64;
                let ended = Instant::now();
                let deadline = ended + Duration::from_secs(120);
                while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                drained = format!("{} ms", ended.elapsed().as_millis());
            }
            let label = if enabled { "with" } else { "without" };
            let s = Samples::new(run.clone(), Duration::from_secs(1));
            rows.push(format!(
                "| {round} | {label} | {:.2} | {:.2} | {:.2} | {meanwhile} | {drained} |",
                s.quantile_ms(0.5),
                s.quantile_ms(0.9),
                s.quantile_ms(0.99),
            ));
            let side = if enabled { &mut with } else { &mut without };
            side.extend(run);
        }
    }
    let delivered = received.load(Ordering::Relaxed);

    println!(
        "\n| round | endpoints | p50 ms | p90 ms | p99 ms | webhooks received meanwhile | the rest received within |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!("\n| all rounds | purchases | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (side, all) in [("without", without), ("with", with)] {
        let n = all.len();
        let s = Samples::new(all, Duration::from_secs(1));
        println!(
            "| {side} | {n} | {:.2} | {:.2} | {:.2} |",
            s.quantile_ms(0.5),
            s.quantile_ms(0.9),
            s.quantile_ms(0.99)
        );
    }
    if worker_idle {
        // Nothing was delivered; every purchase with endpoints enabled wrote one row.
        let placed = placed_rows(db_url).await?;
        let want = (rounds * (per_run + WARMUP)) as i64;
        println!("\nworker idle: {placed} order.placed rows written (expected {want})");
        return Ok(placed == want);
    }
    println!("\nwebhooks delivered in all: {delivered} (expected {expected})");
    Ok(delivered == expected)
}

/// The `order.placed` outbox rows written so far.
async fn placed_rows(db_url: &str) -> anyhow::Result<i64> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox WHERE event_type = 'order.placed'")
            .fetch_one(&mut conn)
            .await?;
    Ok(n)
}

/// One run: [`WARMUP`] purchases, then `per_run` timed ones (microseconds).
async fn buy_run(
    api: &Api<'_>,
    buyer: &str,
    listing: &str,
    per_run: usize,
) -> anyhow::Result<Vec<u32>> {
    let mut out = Vec::with_capacity(per_run);
    for i in 0..WARMUP + per_run {
        let started = Instant::now();
        api.call(
            "POST",
            "/api/v1/orders",
            buyer,
            json!({"listing_id": listing, "units": 1}),
        )
        .await?;
        if i >= WARMUP {
            out.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    Ok(out)
}

struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
}

impl Api<'_> {
    /// Sends a JSON request as `token`; fails on a non-2xx answer.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let value: Value = r.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {value}");
        Ok(value)
    }

    /// Registers and signs in a user; returns the session token.
    async fn signup(&self, who: &str) -> anyhow::Result<String> {
        let email = format!("{who}@bench.example");
        let password = "correct horse battery";
        let creds = json!({"email": email, "password": password});
        let r = self
            .http
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(&creds)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "register: {}", r.status());
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&creds)
            .send()
            .await?;
        let value: Value = r.json().await?;
        Ok(value["token"].as_str().context("session token")?.to_owned())
    }
}

/// `udam serve` allowing webhooks to a loopback http receiver (the dev flags).
async fn start_server(
    binary: &Path,
    db_url: &str,
    log: &Path,
    worker_idle: bool,
) -> anyhow::Result<(Child, SocketAddr)> {
    let mut cmd = Command::new(binary);
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("UDAM_DATABASE_URL", db_url)
        .env(
            "UDAM_MASTER_KEYS",
            udam::crypto::generate_key_spec("bench")?,
        )
        .env("UDAM_GATEWAY_ALLOW_HTTP", "true")
        .env("UDAM_GATEWAY_ALLOW_PRIVATE", "true")
        .env("UDAM_METRICS_BIND", "127.0.0.1:0")
        .env("UDAM_GATEWAY_BIND", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log)?))
        .kill_on_drop(true);
    for (k, v) in SERVER_SETTINGS {
        cmd.env(k, v);
    }
    if worker_idle {
        cmd.env("UDAM_WEBHOOK_POLL_INTERVAL", "1h");
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let out = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(out).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("udam listening on http://") {
                return Ok(url.trim().parse::<SocketAddr>()?);
            }
        }
        anyhow::bail!("the server exited before listening; see {}", log.display())
    };
    let addr = tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .context("the server did not start listening within 60 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, addr))
}

/// A minimal HTTP/1.1 receiver on loopback: counts requests, answers 200 to each,
/// keeps connections alive.
/// Starts the receiver: a thread of its own, with its own runtime, at the lowest CPU
/// priority. It stands for the endpoint's machine, which in production is not the
/// server's: on the bench's 2 cores it would otherwise compete with the purchases it
/// is meant to watch (on the load generator's own runtime, too). At nice 19 it takes
/// only the CPU nothing else wants, as closely as one machine can play two.
async fn receiver(count: Arc<AtomicU64>) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("webhook-receiver".to_owned())
        .spawn(move || {
            let thread = rustix::thread::gettid();
            if let Err(err) = rustix::process::setpriority_process(Some(thread), 19) {
                eprintln!("warning: the webhook receiver keeps the usual CPU priority: {err}");
            }
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    let count = count.clone();
                    tokio::spawn(async move {
                        let _ = serve_connection(stream, &count).await;
                    });
                }
            });
        })?;
    Ok(addr)
}

async fn serve_connection(stream: TcpStream, count: &AtomicU64) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        count.fetch_add(1, Ordering::Relaxed);
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}
