//! The order of a bench run: servers up, data seeded, then every run of every
//! round, interleaved, so that a burst of load from elsewhere on a shared machine
//! hits one round of each system rather than all of one.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use hyper::StatusCode;
use sqlx::postgres::PgPoolOptions;

use super::ctx::{Buys, Ctx, On};
use super::db::BenchDb;
use super::nginx_static::{BROWSE_PATH, StaticNginx};
use super::report::{self, Report, System};
use super::requests::{
    Target, body_of, buyer_load, get_load, give_tokens, order_body, sanity_check,
};
use super::{
    Args, BROWSE, HOT, HOT_SQLITE, HOT_UNITS, SPREAD, SPREAD_CLIENTS, SPREAD_LISTINGS,
    SPREAD_SQLITE, SPREAD_UNITS, TOKENS, graphql_page, load, login, memline, mixed, raw, seed,
    seed_sqlite, server,
};

/// One `udam serve` and the data seeded for it.
struct Side {
    server: server::ServerProcess,
    db: BenchDb,
    target: Arc<Target>,
    seller: String,
    buyers: Vec<String>,
    spread: Vec<String>,
}

impl Side {
    fn on(&self) -> On<'_> {
        On {
            addr: self.server.addr,
            pid: self.server.pid,
            db: Some(&self.db),
        }
    }

    /// Seeds a seller, `buyers` buyers with sessions and, when asked, the 10,000
    /// listings of the spread scenarios; then buys once through the API.
    async fn seed(
        server: server::ServerProcess,
        db: BenchDb,
        ring: &udam::crypto::KeyRing,
        buyers: usize,
        spread: bool,
    ) -> anyhow::Result<Self> {
        let (sellers, _) = db.users("seller", 1).await?;
        let (_, buyer_tokens) = db.users("buyer", buyers).await?;
        let spread = if spread {
            eprintln!("seeding {SPREAD_LISTINGS} listings…");
            db.listings(ring, &sellers[0], "Spread", SPREAD_LISTINGS, SPREAD_UNITS)
                .await?
        } else {
            Vec::new()
        };
        sanity_check(server.addr, &db, ring, &sellers[0], &buyer_tokens[0]).await?;
        Ok(Self {
            target: Target::new(server.addr)?,
            server,
            db,
            seller: sellers.into_iter().next().unwrap_or_default(),
            buyers: buyer_tokens,
            spread,
        })
    }

    /// Scenario (a) or (h) at `clients`: a fresh hot listing per run keeps each
    /// oversell check to its own run.
    async fn hot(
        &self,
        ctx: &mut Ctx<'_>,
        ring: &udam::crypto::KeyRing,
        scenario: &'static str,
        clients: usize,
    ) -> anyhow::Result<()> {
        let hot = self
            .db
            .listings(ring, &self.seller, "Hot", 1, HOT_UNITS)
            .await?;
        let make = buyer_load(
            &self.target,
            &self.buyers[..clients],
            vec![order_body(&hot[0])],
        )?;
        let check = Some((hot.as_slice(), HOT_UNITS));
        ctx.http(
            self.on(),
            scenario,
            clients,
            StatusCode::CREATED,
            make,
            check,
        )
        .await
    }

    /// Scenario (b) or (i) at `clients`, on the same 10,000 listings every run.
    async fn spread(
        &self,
        ctx: &mut Ctx<'_>,
        scenario: &'static str,
        clients: usize,
    ) -> anyhow::Result<()> {
        let bodies = self.spread.iter().map(|id| order_body(id)).collect();
        let make = buyer_load(&self.target, &self.buyers[..clients], bodies)?;
        let check = Some((self.spread.as_slice(), SPREAD_UNITS));
        ctx.http(
            self.on(),
            scenario,
            clients,
            StatusCode::CREATED,
            make,
            check,
        )
        .await
    }
}

/// Runs every scenario asked for; `banner` is carried into the report.
pub async fn run_all(
    args: &Args,
    binary: &Path,
    db_url: &str,
    dir: &Path,
    banner: Option<String>,
) -> anyhow::Result<Report> {
    // What is measured is the code as it is when the run starts.
    let (date, commit) = (report::date(), report::commit());
    let keys = udam::crypto::generate_key_spec("bench")?;
    let ring = udam::crypto::KeyRing::parse(&keys)?;
    let wants = |letters: &[char]| letters.iter().any(|l| args.scenarios.contains(l));
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);

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
    let pg = Side::seed(
        server,
        BenchDb::Pg(pool.clone()),
        &ring,
        max_clients.max(SPREAD_CLIENTS),
        wants(&['b', 'c', 'm']),
    )
    .await?;
    let raw_spread = Arc::new(pg.spread.clone());
    if wants(&['b']) && !args.no_raw {
        raw::copy_listings(&pool, &raw_spread).await?;
    }
    let (_, holder) = pg.db.users("holder", 1).await?;

    // The SQLite scenarios: a second server on a file of its own, seeded through SQLite.
    let (sqlite, sqlite_facts) = if wants(&['h', 'i']) {
        let sqlite_dir = dir.join("sqlite");
        std::fs::create_dir_all(&sqlite_dir)?;
        let url = seed_sqlite::url(&sqlite_dir);
        let log = dir.join("server-sqlite.log");
        let server = server::ServerProcess::start(binary, &url, &keys, &log).await?;
        eprintln!(
            "udam serve on SQLite (pid {}) on {}; log: {}",
            server.pid,
            server.addr,
            log.display()
        );
        let pool = seed_sqlite::connect(&url).await?;
        let facts = seed_sqlite::facts(&pool, &sqlite_dir).await?;
        let side = Side::seed(
            server,
            BenchDb::Sqlite(pool),
            &ring,
            max_clients,
            wants(&['i']),
        )
        .await?;
        (Some(side), Some(facts))
    } else {
        (None, None)
    };
    let nginx = if wants(&['c']) && !args.no_nginx {
        Some(StaticNginx::start(dir).await?)
    } else {
        None
    };

    let mut ctx = Ctx::new(args, &pool, db_url);
    if wants(&['d', 'm']) {
        give_tokens(pg.server.addr, &pg.db, &ring, &pg.seller, &holder[0], 50).await?;
    }
    let login_bodies = if wants(&['e', 'm']) {
        eprintln!("registering {} users through the API…", login::LOGIN_USERS);
        login::register_users(pg.server.addr).await?
    } else {
        Vec::new()
    };
    let memory = memline::start(pg.server.pid);
    for round in 1..=args.rounds {
        eprintln!("round {round} of {}", args.rounds);
        if args.scenarios.contains(&'a') {
            for &clients in &args.clients {
                pg.hot(&mut ctx, &ring, HOT, clients).await?;
                if !args.no_raw {
                    for method in [raw::Method::SeedTxn, raw::Method::SingleStatement] {
                        ctx.raw((HOT, method), clients, None, HOT_UNITS, pg.server.pid)
                            .await?;
                    }
                }
            }
        }
        if args.scenarios.contains(&'b') {
            for &clients in &args.clients {
                pg.spread(&mut ctx, SPREAD, clients).await?;
                if !args.no_raw {
                    let method = raw::Method::SingleStatement;
                    ctx.raw(
                        (SPREAD, method),
                        clients,
                        Some(&raw_spread),
                        SPREAD_UNITS,
                        pg.server.pid,
                    )
                    .await?;
                }
            }
        }
        if args.scenarios.contains(&'c') {
            let make = get_load(&pg.target, BROWSE_PATH, None)?;
            ctx.http(pg.on(), BROWSE, 64, StatusCode::OK, make, None)
                .await?;
            if let Some(nginx) = &nginx {
                // The bytes UDAM answers now (sales since the last round changed them).
                nginx
                    .serve(&body_of(pg.server.addr, BROWSE_PATH).await?)
                    .await?;
                let on = On {
                    addr: nginx.addr,
                    pid: nginx.pid(),
                    db: None,
                };
                let make = get_load(&Target::new(nginx.addr)?, BROWSE_PATH, None)?;
                let expect = (load::always(StatusCode::OK), (|_| true) as Buys);
                let duration = ctx.duration;
                ctx.http_for(
                    on,
                    (BROWSE, System::NginxStatic),
                    64,
                    expect,
                    make,
                    None,
                    duration,
                )
                .await?;
            }
        }
        if args.scenarios.contains(&'e') {
            let make = login::login_load(&pg.target, login_bodies.clone());
            ctx.http(pg.on(), login::LOGIN, 64, StatusCode::OK, make, None)
                .await?;
            eprintln!(
                "  server peak memory so far: {:?} KiB",
                pg.server.peak_rss_kib()
            );
        }
        if args.scenarios.contains(&'d') {
            let make = get_load(&pg.target, "/api/v1/tokens?limit=50", Some(&holder[0]))?;
            ctx.http(pg.on(), TOKENS, 64, StatusCode::OK, make, None)
                .await?;
        }
        if let Some(sqlite) = &sqlite {
            for &clients in &args.clients {
                if args.scenarios.contains(&'h') {
                    sqlite.hot(&mut ctx, &ring, HOT_SQLITE, clients).await?;
                }
            }
            for &clients in &args.clients {
                if args.scenarios.contains(&'i') {
                    sqlite.spread(&mut ctx, SPREAD_SQLITE, clients).await?;
                }
            }
        }
        if args.scenarios.contains(&'g') {
            // The buyer of the sanity check has an order: the page shows it.
            let page = pg.db.listings(&ring, &pg.seller, "Page", 10, 1000).await?;
            eprintln!("running {}…", graphql_page::PAGE);
            let outcome = graphql_page::run(
                pg.server.addr,
                &pg.buyers[0],
                &page[0],
                &pg.seller,
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
            let bodies = pg.spread.iter().map(|id| order_body(id)).collect();
            let (make, expect) = mixed::load(mixed::Kinds {
                login: login::login_load(&pg.target, login_bodies.clone()),
                browse: get_load(&pg.target, BROWSE_PATH, None)?,
                buy: buyer_load(&pg.target, &pg.buyers[..SPREAD_CLIENTS], bodies)?,
                tokens: get_load(&pg.target, "/api/v1/tokens?limit=50", Some(&holder[0]))?,
            });
            let during = memline::start(pg.server.pid);
            let window = std::time::Duration::from_secs_f64(args.mixed_duration);
            let check = Some((pg.spread.as_slice(), SPREAD_UNITS));
            let expect = (expect, mixed::buys as Buys);
            ctx.http_for(
                pg.on(),
                (mixed::MIXED, System::Udam),
                mixed::CLIENTS,
                expect,
                make,
                check,
                window,
            )
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
    let mut peaks = vec![("PostgreSQL server", pg.server.peak_rss_kib())];
    let failed = ctx.failed;
    let rows = std::mem::take(&mut ctx.rows);
    drop(ctx);
    if let Some(nginx) = nginx {
        nginx.stop().await;
    }
    if let Some(sqlite) = sqlite {
        peaks.push(("SQLite server", sqlite.server.peak_rss_kib()));
        sqlite.db.close().await;
        sqlite.server.stop().await?;
    }
    pool.close().await;
    pg.server.stop().await?;
    Ok(Report {
        date,
        commit,
        machine: report::machine(),
        postgres,
        sqlite: sqlite_facts,
        banner,
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
        peaks,
        failed,
    })
}
