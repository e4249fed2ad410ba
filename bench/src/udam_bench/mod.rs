//! The benchmark's parts and the order in which the runs happen.

mod cpu;
mod gateway;
mod gateway_parts;
mod graphql_page;
mod load;
mod login;
mod memline;
mod mixed;
mod raw;
mod report;
mod search;
mod seed;
mod server;
mod stats;
mod webhook_latency;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method as HttpMethod, Request, StatusCode};
use sqlx::postgres::PgPoolOptions;

use report::{Report, Row, System};

/// Command-line settings.
#[derive(clap::Parser, Debug)]
#[command(
    name = "udam-bench",
    about = "Benchmarks UDAM's HTTP API beside the seed's SQL"
)]
pub struct Args {
    /// An administrative PostgreSQL URL; a fresh database is created beside it.
    /// Default: UDAM_BENCH_PG_URL, then UDAM_TEST_PG_URL, then the local server.
    #[arg(long)]
    pg_url: Option<String>,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Rounds of every run; the report shows the median round of each.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Client counts for the hot-listing runs (ours and both raw ones).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 64])]
    clients: Vec<usize>,
    /// Scenarios to run: a (hot listing), b (10,000 listings), c (browse), d (tokens),
    /// e (logins), m (all of b, c, d and e at once, with a memory line), g (a page
    /// through one GraphQL query vs its REST calls); e, m and g are not in the
    /// default set (e and m hash passwords).
    #[arg(long, value_delimiter = ',', default_values_t = ['a', 'b', 'c', 'd'])]
    scenarios: Vec<char>,
    /// Leave out the raw SQL runs (for profiling the server alone).
    #[arg(long)]
    no_raw: bool,
    /// Where to write the results; only a full default run writes unless this is given.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Never write docs/BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
    /// Keep the bench database afterwards (it is dropped by default).
    #[arg(long)]
    keep_db: bool,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// The `udam` binary to run (default: the one beside this binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Seconds measured in the mixed run (m), after the warm-up.
    #[arg(long, default_value_t = 60.0)]
    mixed_duration: f64,
    /// Run only scenario (s), search at scale: 1,000,000 listings on PostgreSQL and
    /// 100,000 on SQLite (see `search.rs`); prints a Markdown section.
    #[arg(long)]
    search: bool,
    /// Listings for scenario (s) on PostgreSQL and SQLite (default 1000000,100000).
    #[arg(long, value_delimiter = ',')]
    search_listings: Vec<i64>,
    /// Run only scenario (gw), the metered gateway beside nginx and the upstream
    /// reached directly (see `gateway.rs`); writes its section of docs/BENCHMARKS.md
    /// unless `--no-write`.
    #[arg(long)]
    gateway: bool,
    /// Internal: serve the gateway scenario's minimal upstream on this address.
    #[arg(long, hide = true)]
    gateway_upstream: Option<String>,
    /// Run only the webhook latency comparison (`webhook_latency.rs`): purchases at one
    /// client with endpoints disabled vs enabled, in `--rounds` alternating rounds.
    #[arg(long)]
    webhook_latency: bool,
}

const HOT: &str = "(a) buy 1 unit, one hot listing";
const SPREAD: &str = "(b) buy 1 unit, 10,000 listings";
const BROWSE: &str = "(c) anonymous browse, first page";
const TOKENS: &str = "(d) GET /tokens, 50 tokens";
const SPREAD_LISTINGS: usize = 10_000;
const SPREAD_CLIENTS: usize = 64;
const HOT_UNITS: i64 = 1_000_000_000;
const SPREAD_UNITS: i64 = 1_000_000;

/// Runs the benchmark; `Ok(false)` when a check failed.
pub async fn main(args: Args) -> anyhow::Result<bool> {
    if let Some(addr) = &args.gateway_upstream {
        return gateway_parts::serve_upstream(addr).await;
    }
    let admin = args
        .pg_url
        .clone()
        .or_else(|| std::env::var("UDAM_BENCH_PG_URL").ok())
        .or_else(|| std::env::var("UDAM_TEST_PG_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    // On loopback TLS only burns CPU on both ends; every connection (the server's
    // and the raw runs') goes without it unless the URL asks otherwise.
    let admin = if admin.contains("sslmode=") {
        admin
    } else if admin.contains('?') {
        format!("{admin}&sslmode=disable")
    } else {
        format!("{admin}?sslmode=disable")
    };
    if args.search {
        return run_search(&args, &admin).await;
    }
    let binary = match &args.server_bin {
        Some(p) => p.clone(),
        None => server::sibling_binary()?,
    };
    if args.gateway {
        return gateway::run(&args, &admin, &binary).await;
    }
    if args.webhook_latency {
        return webhook_latency::run(&binary, &admin, args.rounds).await;
    }
    let (db_url, db_name) = seed::create_database(&admin).await?;
    eprintln!("bench database: {}", seed::redact(&db_url));
    let dir = std::env::temp_dir().join(&db_name);
    std::fs::create_dir_all(&dir)?;
    let result = run_all(&args, &binary, &db_url, &dir).await;
    if args.keep_db {
        eprintln!("kept the database {db_name}");
    } else if let Err(err) = seed::drop_database(&admin, &db_name).await {
        eprintln!("warning: could not drop {db_name}: {err:#}");
    }
    let report = result?;
    // The server's log stays only when something went wrong, or when asked to keep.
    if !args.keep_db && !report.failed {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("server log kept in {}", dir.display());
    }
    let full = args.scenarios.len() == 4 && args.clients == [1, 16, 64] && !args.no_raw;
    println!("\n{}", report.terminal(HOT));
    if !args.no_write && (full || args.out.is_some()) {
        let path = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("docs/BENCHMARKS.md"));
        report::write_markdown(&path, &report.markdown(HOT))?;
        println!("wrote {}", path.display());
    }
    Ok(!report.failed)
}

/// Scenario (s): seeds and measures both backends, prints (and with `--out`
/// writes) the Markdown section.
async fn run_search(args: &Args, admin: &str) -> anyhow::Result<bool> {
    let (pg_n, sqlite_n) = match args.search_listings.as_slice() {
        [pg, sqlite] => (*pg, *sqlite),
        _ => (search::PG_LISTINGS, search::SQLITE_LISTINGS),
    };
    let (db_url, db_name) = seed::create_database(admin).await?;
    let pg = search::run(&db_url, pg_n, &format!("PostgreSQL, {pg_n} listings")).await;
    if !args.keep_db
        && let Err(err) = seed::drop_database(admin, &db_name).await
    {
        eprintln!("warning: could not drop {db_name}: {err:#}");
    }
    let dir = std::env::temp_dir().join(format!("{db_name}_sqlite"));
    std::fs::create_dir_all(&dir)?;
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let sqlite = search::run(
        &sqlite_url,
        sqlite_n,
        &format!("SQLite, {sqlite_n} listings"),
    )
    .await;
    if !args.keep_db {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let md = search::markdown(&[pg?, sqlite?], &commit);
    println!("{md}");
    if let Some(path) = &args.out {
        std::fs::write(path, &md)?;
        println!("wrote {}", path.display());
    }
    Ok(true)
}

/// Everything a request maker needs, prepared once so that generating load costs
/// the generator as little as possible.
struct Target {
    host: HeaderValue,
}

impl Target {
    fn request(&self, method: HttpMethod, path: &'static str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
    }
}

fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

fn order_body(listing: &str) -> Bytes {
    Bytes::from(format!(r#"{{"listing_id":"{listing}","units":1}}"#))
}

/// A request maker that buys one unit per request, by task `i`'s buyer, of the
/// listing `pick(task, seq)` chooses.
fn buyer_load(
    target: &Arc<Target>,
    tokens: &[String],
    bodies: Vec<Bytes>,
    spread: bool,
) -> anyhow::Result<load::MakeRequest> {
    let auth: Vec<HeaderValue> = tokens.iter().map(|t| bearer(t)).collect::<Result<_, _>>()?;
    let target = target.clone();
    let json = HeaderValue::from_static("application/json");
    Ok(Arc::new(move |task, seq| {
        let body = if spread {
            // A cheap, well-mixed index (SplitMix64) so tasks do not march in step.
            let mut z = (task as u64) << 40 ^ seq;
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            bodies[(z % bodies.len() as u64) as usize].clone()
        } else {
            bodies[0].clone()
        };
        target
            .request(HttpMethod::POST, "/api/v1/orders")
            .header(AUTHORIZATION, auth[task % auth.len()].clone())
            .header(CONTENT_TYPE, json.clone())
            .body(Full::new(body))
            .unwrap_or_default()
    }))
}

fn get_load(
    target: &Arc<Target>,
    path: &'static str,
    token: Option<&str>,
) -> anyhow::Result<load::MakeRequest> {
    let auth = token.map(bearer).transpose()?;
    let target = target.clone();
    Ok(Arc::new(move |_, _| {
        let mut r = target.request(HttpMethod::GET, path);
        if let Some(a) = &auth {
            r = r.header(AUTHORIZATION, a.clone());
        }
        r.body(Full::new(Bytes::new())).unwrap_or_default()
    }))
}

/// Samples where the CPU goes over the measured window of a run that starts now.
fn sample_cpu(
    server_pid: u32,
    warmup: Duration,
    duration: Duration,
) -> tokio::task::JoinHandle<cpu::Split> {
    let start = tokio::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep_until(start + warmup).await;
        let a = cpu::snapshot(server_pid);
        let t = Instant::now();
        tokio::time::sleep_until(start + warmup + duration).await;
        let b = cpu::snapshot(server_pid);
        cpu::split(&a, &b, t.elapsed().as_secs_f64())
    })
}

struct Ctx<'a> {
    args: &'a Args,
    warmup: Duration,
    duration: Duration,
    server: &'a server::ServerProcess,
    pool: &'a sqlx::PgPool,
    db_url: &'a str,
    failed: bool,
    rows: Vec<Row>,
    /// Purchases answered 201 and errors so far, per listing set (by first id).
    answered: std::collections::HashMap<String, (i64, i64)>,
}

impl Ctx<'_> {
    async fn http(
        &mut self,
        scenario: &'static str,
        clients: usize,
        expect: StatusCode,
        make: load::MakeRequest,
        check: Option<(&[String], i64)>,
    ) -> anyhow::Result<()> {
        let duration = self.duration;
        self.http_for(
            scenario,
            clients,
            (load::always(expect), |_| true),
            make,
            check,
            duration,
        )
        .await
    }

    /// [`Self::http`] with a status per task, which tasks buy (only their
    /// answers count in the oversell check), and a measured window of its own.
    async fn http_for(
        &mut self,
        scenario: &'static str,
        clients: usize,
        (expect, buys): (load::Expect, fn(usize) -> bool),
        make: load::MakeRequest,
        check: Option<(&[String], i64)>,
        duration: Duration,
    ) -> anyhow::Result<()> {
        eprintln!("running {scenario}, UDAM HTTP API, {clients} client(s)…");
        let sampler = sample_cpu(self.server.pid, self.warmup, duration);
        let outcome = load::run(&load::Load {
            addr: self.server.addr,
            clients,
            warmup: self.warmup,
            duration,
            expect,
            make,
        })
        .await?;
        let cpu = sampler.await?;
        for e in &outcome.error_examples {
            eprintln!("  error example: {e}");
        }
        let per_commit = match check {
            Some((ids, _)) => Some(seed::orders_per_commit(self.pool, ids).await?),
            None => None,
        };
        let check = match check {
            None => "–".to_owned(),
            Some((ids, listed)) => {
                let (sold, problem) = seed::check_listings(self.pool, ids, listed).await?;
                let mut text = match &problem {
                    None => format!(
                        "ok: {sold} sold + {} left = listed",
                        listed * ids.len() as i64 - sold
                    ),
                    Some(p) => format!("FAILED: {p}"),
                };
                // Every 201 is an order; an error may or may not have become one.
                // Listings reused across rounds are checked against every round so far.
                let (ok, errors) = outcome
                    .totals_by_task
                    .iter()
                    .enumerate()
                    .filter(|(task, _)| buys(*task))
                    .fold((0, 0), |(ok, err), (_, (o, e))| (ok + o, err + e));
                let seen = self.answered.entry(ids[0].clone()).or_default();
                seen.0 += i64::try_from(ok)?;
                seen.1 += i64::try_from(errors)?;
                let (answered, unsure) = *seen;
                if sold < answered || sold > answered + unsure {
                    text = format!("FAILED: {sold} sold but {answered} purchases answered 201");
                }
                if text.starts_with("FAILED") {
                    self.failed = true;
                }
                text
            }
        };
        if outcome.errors > 0 {
            self.failed = true;
        }
        self.rows.push(Row {
            scenario,
            system: System::Udam,
            clients,
            per_sec: outcome.samples.per_second(),
            p50_ms: outcome.samples.quantile_ms(0.5),
            p99_ms: outcome.samples.quantile_ms(0.99),
            errors: outcome.errors,
            check,
            per_commit,
            cpu,
        });
        Ok(())
    }

    async fn raw(&mut self, method: raw::Method, clients: usize) -> anyhow::Result<()> {
        eprintln!("running {HOT}, {}, {clients} client(s)…", method.label());
        let listing = udam::ids::new_id("raw");
        raw::create_listing(self.pool, &listing, HOT_UNITS).await?;
        let run = raw::run(
            self.db_url,
            method,
            &listing,
            clients,
            self.warmup,
            self.duration,
        );
        let sampler = sample_cpu(self.server.pid, self.warmup, self.duration);
        let outcome = run.await?;
        let cpu = sampler.await?;
        if let Some(e) = &outcome.error_example {
            eprintln!("  error example: {e}");
        }
        let (left, sold) = raw::tally(self.pool, &listing).await?;
        let ok = left >= 0 && left + sold == HOT_UNITS && sold == i64::try_from(outcome.ok_total)?;
        let check = if ok {
            format!("ok: {sold} sold + {left} left = listed")
        } else {
            self.failed = true;
            format!(
                "FAILED: {sold} sold + {left} left, {} answered",
                outcome.ok_total
            )
        };
        if outcome.errors > 0 {
            self.failed = true;
        }
        self.rows.push(Row {
            scenario: HOT,
            system: match method {
                raw::Method::SeedTxn => System::SeedTxn,
                raw::Method::SingleStatement => System::SingleStatement,
            },
            clients,
            per_sec: outcome.samples.per_second(),
            p50_ms: outcome.samples.quantile_ms(0.5),
            p99_ms: outcome.samples.quantile_ms(0.99),
            errors: outcome.errors,
            check,
            per_commit: Some(1.0),
            cpu,
        });
        Ok(())
    }
}

async fn run_all(
    args: &Args,
    binary: &std::path::Path,
    db_url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Report> {
    // What is measured is the code as it is when the run starts.
    let (date, commit) = (report::date(), report::commit());
    let keys = udam::crypto::generate_key_spec("bench")?;
    let ring = udam::crypto::KeyRing::parse(&keys)?;
    let log = dir.join("server.log");
    let server = server::ServerProcess::start(binary, db_url, &keys, &log).await?;
    eprintln!(
        "udam serve (pid {}) on {}; log: {}",
        server.pid,
        server.addr,
        log.display()
    );
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(db_url)
        .await
        .context("connecting to the bench database")?;
    let postgres = seed::server_facts(&pool).await?;
    raw::create_tables(&pool).await?;

    // Seed: one seller, one buyer per client for each buying scenario, one
    // token holder; listings with sealed keys.
    let max_clients = args
        .clients
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(SPREAD_CLIENTS);
    let (sellers, _) = seed::users(&pool, "seller", 1).await?;
    let seller = &sellers[0];
    let (_, buyer_tokens) = seed::users(&pool, "buyer", max_clients).await?;
    let (_, holder) = seed::users(&pool, "holder", 1).await?;
    let wants = |letters: &[char]| letters.iter().any(|l| args.scenarios.contains(l));
    let spread_ids = if wants(&['b', 'c', 'm']) {
        eprintln!("seeding {SPREAD_LISTINGS} listings…");
        seed::listings(
            &pool,
            &ring,
            seller,
            "Spread",
            SPREAD_LISTINGS,
            SPREAD_UNITS,
        )
        .await?
    } else {
        Vec::new()
    };
    let target = Arc::new(Target {
        host: HeaderValue::from_str(&server.addr.to_string())?,
    });
    let mut ctx = Ctx {
        args,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        server: &server,
        pool: &pool,
        db_url,
        failed: false,
        rows: Vec::new(),
        answered: std::collections::HashMap::new(),
    };
    sanity_check(&server, &pool, &ring, seller, &buyer_tokens[0]).await?;

    // Rounds interleave everything, so that a burst of load from elsewhere on a
    // shared machine hits one round of each system rather than all of one.
    if wants(&['d', 'm']) {
        give_tokens(&server, &pool, &ring, seller, &holder[0], 50).await?;
    }
    let login_bodies = if wants(&['e', 'm']) {
        eprintln!("registering {} users through the API…", login::LOGIN_USERS);
        login::register_users(server.addr).await?
    } else {
        Vec::new()
    };
    let memory = memline::start(server.pid);
    for round in 1..=args.rounds {
        eprintln!("round {round} of {}", args.rounds);
        if args.scenarios.contains(&'a') {
            for &clients in &args.clients {
                // A fresh hot listing per run keeps each oversell check to its own run.
                let hot = seed::listings(&pool, &ring, seller, "Hot", 1, HOT_UNITS).await?;
                let make = buyer_load(
                    &target,
                    &buyer_tokens[..clients],
                    vec![order_body(&hot[0])],
                    false,
                )?;
                ctx.http(
                    HOT,
                    clients,
                    StatusCode::CREATED,
                    make,
                    Some((&hot, HOT_UNITS)),
                )
                .await?;
                if !ctx.args.no_raw {
                    ctx.raw(raw::Method::SeedTxn, clients).await?;
                    ctx.raw(raw::Method::SingleStatement, clients).await?;
                }
            }
        }
        if args.scenarios.contains(&'b') {
            let bodies = spread_ids.iter().map(|id| order_body(id)).collect();
            let make = buyer_load(&target, &buyer_tokens[..SPREAD_CLIENTS], bodies, true)?;
            ctx.http(
                SPREAD,
                SPREAD_CLIENTS,
                StatusCode::CREATED,
                make,
                Some((&spread_ids, SPREAD_UNITS)),
            )
            .await?;
        }
        if args.scenarios.contains(&'c') {
            let make = get_load(&target, "/api/v1/listings", None)?;
            ctx.http(BROWSE, 64, StatusCode::OK, make, None).await?;
        }
        if args.scenarios.contains(&'e') {
            let make = login::login_load(&target, login_bodies.clone());
            ctx.http(login::LOGIN, 64, StatusCode::OK, make, None)
                .await?;
            eprintln!(
                "  server peak memory so far: {:?} KiB",
                server.peak_rss_kib()
            );
        }
        if args.scenarios.contains(&'d') {
            let make = get_load(&target, "/api/v1/tokens?limit=50", Some(&holder[0]))?;
            ctx.http(TOKENS, 64, StatusCode::OK, make, None).await?;
        }
        if args.scenarios.contains(&'g') {
            // The buyer of the sanity check has an order: the page shows it.
            let page = seed::listings(&pool, &ring, seller, "Page", 10, 1000).await?;
            eprintln!("running {}…", graphql_page::PAGE);
            let outcome = graphql_page::run(
                server.addr,
                &buyer_tokens[0],
                &page[0],
                seller,
                ctx.warmup,
                ctx.duration,
            )
            .await?;
            if outcome.errors > 0 {
                ctx.failed = true;
            }
            println!("{}", outcome.line());
        }
        if args.scenarios.contains(&'m') {
            let bodies = spread_ids.iter().map(|id| order_body(id)).collect();
            let (make, expect) = mixed::load(mixed::Kinds {
                login: login::login_load(&target, login_bodies.clone()),
                browse: get_load(&target, "/api/v1/listings", None)?,
                buy: buyer_load(&target, &buyer_tokens[..SPREAD_CLIENTS], bodies, true)?,
                tokens: get_load(&target, "/api/v1/tokens?limit=50", Some(&holder[0]))?,
            });
            let during = memline::start(server.pid);
            let window = Duration::from_secs_f64(args.mixed_duration);
            let check = Some((spread_ids.as_slice(), SPREAD_UNITS));
            let expect = (expect, mixed::buys as fn(usize) -> bool);
            ctx.http_for(mixed::MIXED, mixed::CLIENTS, expect, make, check, window)
                .await?;
            eprintln!(
                "mixed run: server resident memory every {} s (warm-up included): {}",
                memline::EVERY.as_secs(),
                memline::render(&during.finish().await)
            );
        }
    }
    let line = memory.finish().await;
    eprintln!(
        "server resident memory every {} s: {}",
        memline::EVERY.as_secs(),
        memline::render(&line)
    );
    let peak_rss_kib = server.peak_rss_kib();
    let failed = ctx.failed;
    let rows = std::mem::take(&mut ctx.rows);
    drop(ctx);
    pool.close().await;
    server.stop().await?;
    Ok(Report {
        date,
        commit,
        machine: report::machine(),
        postgres,
        warmup_secs: args.warmup,
        duration_secs: args.duration,
        rounds: args.rounds,
        server_settings: server::SERVER_SETTINGS
            .iter()
            .map(|(k, v)| format!("`{k}={v}`"))
            .chain(std::iter::once(
                "other settings at their defaults".to_owned(),
            ))
            .collect::<Vec<_>>()
            .join(", "),
        rows: report::medians(rows),
        peak_rss_kib,
        failed,
    })
}

/// One purchase through the API before anything is measured, so that a broken
/// set-up fails with the server's own answer instead of a table of errors.
async fn sanity_check(
    server: &server::ServerProcess,
    pool: &sqlx::PgPool,
    ring: &udam::crypto::KeyRing,
    seller: &str,
    token: &str,
) -> anyhow::Result<()> {
    let listing = seed::listings(pool, ring, seller, "Sanity", 1, 10).await?;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{}/api/v1/orders", server.addr))
        .bearer_auth(token)
        .json(&serde_json::json!({"listing_id": listing[0], "units": 1}))
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    anyhow::ensure!(
        status.as_u16() == 201 && body.contains("\"fulfilled\""),
        "a test purchase did not succeed: {status} {body}"
    );
    Ok(())
}

/// Gives `token`'s user `n` access tokens by buying through the API.
async fn give_tokens(
    server: &server::ServerProcess,
    pool: &sqlx::PgPool,
    ring: &udam::crypto::KeyRing,
    seller: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let listing = seed::listings(pool, ring, seller, "Tokens", 1, 1000).await?;
    let client = reqwest::Client::new();
    for _ in 0..n {
        let r = client
            .post(format!("http://{}/api/v1/orders", server.addr))
            .bearer_auth(token)
            .json(&serde_json::json!({"listing_id": listing[0], "units": 1}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().as_u16() == 201,
            "buying a token failed: {}",
            r.status()
        );
    }
    Ok(())
}
