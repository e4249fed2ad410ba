//! Scenario (gw), `--gateway`: 64 connections calling one minimal upstream three
//! ways in one run, round after round: directly, through nginx `proxy_pass`, and
//! through UDAM's metered gateway with a buyer key. Reports throughput, the latency
//! each proxy adds, where the CPU went, and whether metering was exact (requests
//! served = requests taken from the allowance, and used + remaining = bought).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use super::gateway_parts as parts;
use super::load::{self, Load};
use super::{Args, report, seed};

/// Requests one unit buys; the buyer buys [`UNITS`], far more than a run serves.
const REQUESTS_PER_UNIT: i64 = 10_000_000;
const UNITS: i64 = 10;
const CLIENTS: usize = 64;

/// One measured run of one path.
#[derive(Clone, Copy)]
struct Measured {
    path: &'static str,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    ok_total: u64,
    /// CPU seconds per second: bench, udam, nginx, upstream, postgres.
    cpu: [f64; 5],
}

/// Runs scenario (gw) and prints (and unless `--no-write`, writes into
/// docs/BENCHMARKS.md between its markers) a Markdown section; false when a check
/// failed.
pub async fn run(args: &Args, admin: &str, binary: &Path) -> anyhow::Result<bool> {
    let (db_url, db_name) = seed::create_database(admin).await?;
    let dir = std::env::temp_dir().join(format!("{db_name}_gateway"));
    std::fs::create_dir_all(&dir)?;
    let result = measure(args, binary, &db_url, &dir).await;
    if let Err(err) = seed::drop_database(admin, &db_name).await {
        eprintln!("warning: could not drop {db_name}: {err:#}");
    }
    let (markdown, ok) = result?;
    println!("\n{markdown}");
    // A failed run writes nothing (its figures are printed above).
    if ok && !args.no_write {
        let path = args
            .out
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("docs/BENCHMARKS.md"));
        write_section(&path, &markdown)?;
        println!("wrote {}", path.display());
    }
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("logs kept in {}", dir.display());
    }
    Ok(ok)
}

async fn measure(
    args: &Args,
    binary: &Path,
    db_url: &str,
    dir: &Path,
) -> anyhow::Result<(String, bool)> {
    let (date, commit) = (report::date(), report::commit());
    let keys = udam::crypto::generate_key_spec("bench")?;
    let (upstream, upstream_addr) = parts::start_upstream().await?;
    let gateway_port = parts::free_port()?;
    let (udam, api) =
        parts::start_udam(binary, db_url, &keys, gateway_port, &dir.join("udam.log")).await?;
    let nginx_port = parts::free_port()?;
    let nginx = parts::start_nginx(dir, nginx_port, upstream_addr).await?;
    let (listing, key, buyer) = buy_key(api, upstream_addr).await?;
    let gateway: SocketAddr = ([127, 0, 0, 1], gateway_port).into();
    let nginx_addr: SocketAddr = ([127, 0, 0, 1], nginx_port).into();
    let pids = Pids {
        udam: udam.pid,
        nginx: nginx.pid,
        upstream: upstream.pid,
    };

    let mut runs: Vec<Measured> = Vec::new();
    for round in 0..args.rounds.max(1) {
        eprintln!("gateway scenario, round {}", round + 1);
        runs.push(
            one(
                args,
                "upstream directly",
                upstream_addr,
                "/forecast".into(),
                None,
                &pids,
            )
            .await?,
        );
        runs.push(
            one(
                args,
                "nginx proxy_pass",
                nginx_addr,
                "/forecast".into(),
                None,
                &pids,
            )
            .await?,
        );
        let path = format!("/{listing}/forecast");
        runs.push(one(args, "UDAM gateway", gateway, path, Some(&key), &pids).await?);
    }
    let served: u64 = runs
        .iter()
        .filter(|r| r.path == "UDAM gateway")
        .map(|r| r.ok_total)
        .sum();
    let metering = check_metering(db_url, api, &buyer, served).await;
    let upstream_total = upstream_count(upstream_addr).await.unwrap_or(0);

    nginx.stop().await;
    udam.stop().await;
    upstream.stop().await;
    let metering = metering?;
    let medians = medians(runs);
    let markdown = render(&date, &commit, args, &medians, &metering, upstream_total);
    let ok = metering.exact && medians.iter().all(|m| m.errors == 0);
    Ok((markdown, ok))
}

#[derive(Clone, Copy)]
struct Pids {
    udam: u32,
    nginx: u32,
    upstream: u32,
}

fn cpu_ticks(pids: &Pids) -> [u64; 5] {
    [
        parts::ticks(std::process::id()),
        parts::ticks(pids.udam),
        parts::tree_ticks(pids.nginx),
        parts::ticks(pids.upstream),
        parts::postgres_ticks(),
    ]
}

async fn one(
    args: &Args,
    name: &'static str,
    addr: SocketAddr,
    path: String,
    key: Option<&str>,
    pids: &Pids,
) -> anyhow::Result<Measured> {
    let host = HeaderValue::from_str(&addr.to_string())?;
    let auth = key
        .map(|k| HeaderValue::from_str(&format!("Bearer {k}")))
        .transpose()?;
    let make: load::MakeRequest = Arc::new(move |_, _| {
        let mut request = Request::get(path.as_str())
            .body(Full::new(Bytes::new()))
            .unwrap_or_default();
        request.headers_mut().insert(HOST, host.clone());
        if let Some(auth) = &auth {
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        request
    });
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let spec = Load {
        addr,
        clients: CLIENTS,
        warmup,
        duration,
        expect: load::always(StatusCode::OK),
        make,
    };
    // CPU over the measured window only: the first reading after the warm-up.
    let before = tokio::spawn({
        let pids = *pids;
        async move {
            tokio::time::sleep(warmup).await;
            cpu_ticks(&pids)
        }
    });
    let outcome = load::run(&spec).await?;
    let after = cpu_ticks(pids);
    let before = before.await?;
    let secs = duration.as_secs_f64();
    let cpu = std::array::from_fn(|i| after[i].saturating_sub(before[i]) as f64 / 100.0 / secs);
    if let Some(example) = outcome.error_examples.first() {
        eprintln!("{name}: {} errors, e.g. {example}", outcome.errors_total);
    }
    Ok(Measured {
        path: name,
        per_second: outcome.samples.per_second(),
        p50_ms: outcome.samples.quantile_ms(0.5),
        p99_ms: outcome.samples.quantile_ms(0.99),
        errors: outcome.errors,
        ok_total: outcome.ok_total,
        cpu,
    })
}

/// A seller, a gateway listing over the upstream, and a buyer's key from the
/// order's answer; returns (listing, key, buyer's token).
async fn buy_key(
    api: SocketAddr,
    upstream: SocketAddr,
) -> anyhow::Result<(String, String, String)> {
    let http = reqwest::Client::new();
    let base = format!("http://{api}/api/v1");
    let mut tokens = Vec::new();
    for email in ["gw-seller@bench.example", "gw-buyer@bench.example"] {
        let creds = json!({"email": email, "password": "correct horse battery"});
        let r = http
            .post(format!("{base}/auth/register"))
            .json(&creds)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "register: {}", r.text().await?);
        let r: Value = http
            .post(format!("{base}/auth/login"))
            .json(&creds)
            .send()
            .await?
            .json()
            .await?;
        tokens.push(r["token"].as_str().context("login token")?.to_owned());
    }
    let listing = json!({
        "service_name": "Bench weather", "price_cents": 1, "available_units": 1000,
        "api_key": "sk_bench_seller_key", "delivery": "gateway",
        "gateway": {"upstream_base_url": format!("http://{upstream}"), "requests_per_unit": REQUESTS_PER_UNIT},
    });
    let r: Value = http
        .post(format!("{base}/listings"))
        .bearer_auth(&tokens[0])
        .json(&listing)
        .send()
        .await?
        .json()
        .await?;
    let id = r["id"]
        .as_str()
        .with_context(|| format!("listing: {r}"))?
        .to_owned();
    let order = json!({"listing_id": id, "units": UNITS});
    let r: Value = http
        .post(format!("{base}/orders"))
        .bearer_auth(&tokens[1])
        .json(&order)
        .send()
        .await?
        .json()
        .await?;
    let key = r["gateway"]["gateway_key"]
        .as_str()
        .with_context(|| format!("order: {r}"))?
        .to_owned();
    Ok((id, key, tokens[1].clone()))
}

struct Metering {
    served: u64,
    used: i64,
    allowed: i64,
    leases_left: i64,
    exact: bool,
}

/// Waits for the leases to settle back, then compares requests served with what
/// the allowance lost, in the database and through the API.
async fn check_metering(
    db_url: &str,
    api: SocketAddr,
    buyer: &str,
    served: u64,
) -> anyhow::Result<Metering> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let leases_left = loop {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM gateway_leases")
            .fetch_one(&pool)
            .await?
            .try_get("n")?;
        if n == 0 || tokio::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let used: i64 = sqlx::query("SELECT used_requests FROM gateway_keys")
        .fetch_one(&pool)
        .await?
        .try_get("used_requests")?;
    pool.close().await;
    let tokens: Value = reqwest::Client::new()
        .get(format!("http://{api}/api/v1/tokens"))
        .bearer_auth(buyer)
        .send()
        .await?
        .json()
        .await?;
    let allowed = tokens["items"][0]["requests_allowed"].as_i64().unwrap_or(0);
    let shown_used = tokens["items"][0]["requests_used"].as_i64().unwrap_or(-1);
    let exact = leases_left == 0
        && u64::try_from(used).ok() == Some(served)
        && shown_used == used
        && allowed == REQUESTS_PER_UNIT * UNITS;
    Ok(Metering {
        served,
        used,
        allowed,
        leases_left,
        exact,
    })
}

async fn upstream_count(addr: SocketAddr) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("http://{addr}{}", parts::COUNT_PATH))
        .await?
        .text()
        .await?;
    Ok(text.trim().parse()?)
}

/// The median round of each path, by throughput.
fn medians(runs: Vec<Measured>) -> Vec<Measured> {
    let mut out = Vec::new();
    for path in ["upstream directly", "nginx proxy_pass", "UDAM gateway"] {
        let mut of: Vec<Measured> = runs.iter().filter(|r| r.path == path).copied().collect();
        of.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
        if !of.is_empty() {
            let mid = of.len() / 2;
            out.push(of.swap_remove(mid));
        }
    }
    out
}

fn render(
    date: &str,
    commit: &str,
    args: &Args,
    m: &[Measured],
    metering: &Metering,
    upstream_total: u64,
) -> String {
    let mut s = format!(
        "## The metered gateway (scenario gw, issue 14)\n\n\
         Run: `scripts/bench.sh --gateway` (release build). {date}, commit `{commit}`, {}.\n\
         {CLIENTS} keep-alive connections, {}s warm-up + {}s measured per run, {} rounds \
         interleaved (direct, nginx, gateway), median round shown. The upstream is a minimal \
         hyper server in its own process answering a {}-byte JSON body. nginx: Debian's, \
         2 workers, access log on (buffered), keep-alive to the upstream, the seller key set \
         as a header. The gateway: a buyer key checked, metered through leases, the seller \
         key injected; it writes no log line per request (its `/metrics` counters count \
         each one), so nginx's access log is work the gateway does not do.\n\n\
         | path | req/s | p50 ms | p99 ms | errors | bench | udam | nginx | upstream | postgres |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        report::machine(),
        args.warmup,
        args.duration,
        args.rounds.max(1),
        parts::UPSTREAM_BODY.len(),
    );
    for r in m {
        s.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.path,
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.cpu[0],
            r.cpu[1],
            r.cpu[2],
            r.cpu[3],
            r.cpu[4]
        ));
    }
    let find = |p: &str| m.iter().find(|r| r.path == p);
    if let (Some(direct), Some(nginx), Some(gw)) = (
        find("upstream directly"),
        find("nginx proxy_pass"),
        find("UDAM gateway"),
    ) {
        s.push_str(&format!(
            "\nCPU columns: cores busy (of the machine's) during the measured window, from \
             /proc/PID/stat.\n\n\
             - Gateway throughput / nginx: **{:.2}×**; gateway / direct: {:.2}×; nginx / direct: {:.2}×.\n\
             - p99 added over direct: gateway **{:+.2} ms**, nginx {:+.2} ms (p50: {:+.2} / {:+.2} ms).\n",
            gw.per_second / nginx.per_second.max(1.0),
            gw.per_second / direct.per_second.max(1.0),
            nginx.per_second / direct.per_second.max(1.0),
            gw.p99_ms - direct.p99_ms,
            nginx.p99_ms - direct.p99_ms,
            gw.p50_ms - direct.p50_ms,
            nginx.p50_ms - direct.p50_ms,
        ));
        s.push_str(&cpu_bound(nginx, gw));
    }
    s.push_str(&format!(
        "- Metering: {} gateway requests answered 200 over every run (warm-ups included); \
         the key's counter holds {} used after the leases settled ({} leases left), the tokens \
         API shows {} used of {} bought, so served + remaining = bought: **{}**. The upstream \
         served {} requests over all paths.\n",
        metering.served,
        metering.used,
        metering.leases_left,
        metering.used,
        metering.allowed,
        if metering.exact { "exact" } else { "NOT exact" },
        upstream_total,
    ));
    s
}

/// Where the CPU went: how busy the machine was in the gateway run, and CPU per
/// request in each proxy, so a reader sees whether the run was CPU-bound or waited.
fn cpu_bound(nginx: &Measured, gw: &Measured) -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let busy: f64 = gw.cpu.iter().sum();
    let per_request_us = |cores_busy: f64, rate: f64| cores_busy / rate.max(1.0) * 1e6;
    format!(
        "- CPU: the gateway run kept {busy:.2} of {cores} cores busy (bench, udam, upstream, \
         PostgreSQL); udam spent {:.0} µs of CPU per request, nginx {:.0} µs in its run; \
         PostgreSQL {:.2} cores in the gateway run (lease flushes: one commit per window of \
         a lease, docs/GATEWAY.md \"Leases\").\n",
        per_request_us(gw.cpu[1], gw.per_second),
        per_request_us(nginx.cpu[2], nginx.per_second),
        gw.cpu[4],
    )
}

const BEGIN: &str = "<!-- udam-bench:gateway:begin -->";
const END: &str = "<!-- udam-bench:gateway:end -->";

/// Replaces the gateway section of `path` (between its markers), or appends it.
fn write_section(path: &Path, markdown: &str) -> anyhow::Result<()> {
    let block = format!("{BEGIN}\n{markdown}{END}\n");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!(
            "{}{block}{}",
            &old[..b],
            &old[e + END.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n\n{block}", old.trim_end()),
    };
    std::fs::write(path, text)?;
    Ok(())
}
