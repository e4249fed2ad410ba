//! The benchmark's parts, its command line, and what a run writes.
//!
//! `plan.rs` orders the runs, `ctx.rs` measures and checks one run, `report.rs`
//! and `report_md.rs` draw the tables. A run writes its results only when it is
//! complete and honest: every check passed, no run had an error, and PostgreSQL
//! committed durably (fsync and synchronous_commit on).

mod cpu;
mod ctx;
mod db;
mod gateway;
mod gateway_parts;
mod graphql_page;
mod load;
mod login;
mod memline;
mod mixed;
mod nginx_static;
mod plan;
mod raw;
mod report;
mod report_md;
mod requests;
mod search;
mod seed;
mod seed_sqlite;
mod server;
mod stats;
mod webhook_latency;

use std::path::PathBuf;

use report::System;
pub use requests::Target;

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
    /// Client counts of the buying runs, (a), (b), (h) and (i), ours and the raw ones.
    #[arg(long, value_delimiter = ',', default_values_t = FULL_CLIENTS)]
    clients: Vec<usize>,
    /// Scenarios to run: a (hot listing), b (10,000 listings), c (browse, beside
    /// nginx), d (tokens), h and i ((a) and (b) on SQLite), e (logins), m (all of b,
    /// c, d and e at once, with a memory line), g (a page through one GraphQL query
    /// vs its REST calls); e, m and g are not in the default set (e and m hash
    /// passwords).
    #[arg(long, value_delimiter = ',', default_values_t = FULL_SCENARIOS)]
    scenarios: Vec<char>,
    /// Leave out the raw SQL runs (for profiling the server alone).
    #[arg(long)]
    no_raw: bool,
    /// Leave nginx out of scenario (c).
    #[arg(long)]
    no_nginx: bool,
    /// Run even when PostgreSQL's fsync or synchronous_commit is off (a smoke run):
    /// the report then carries a warning and nothing is written.
    #[arg(long)]
    allow_no_fsync: bool,
    /// Where to write the results; only a full default run writes unless this is
    /// given, and a run with an error, a failed check or a warning never writes.
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
    /// With `--webhook-latency`: keep the delivery worker idle (a poll interval of an
    /// hour), so the enabled runs measure only the `order.placed` row each purchase
    /// writes; it then checks that row count instead of deliveries.
    #[arg(long, requires = "webhook_latency")]
    worker_idle: bool,
    /// With `--webhook-latency`: timed purchases per run (400 by default, about half
    /// a second); longer runs show the worker under purchases that do not ease.
    #[arg(long, requires = "webhook_latency", default_value_t = 400)]
    purchases_per_run: usize,
}

const HOT: &str = "(a) buy 1 unit, one hot listing";
const SPREAD: &str = "(b) buy 1 unit, 10,000 listings";
const BROWSE: &str = "(c) anonymous browse, first page";
const TOKENS: &str = "(d) GET /tokens, 50 tokens";
const HOT_SQLITE: &str = "(h) SQLite: buy 1 unit, one hot listing";
const SPREAD_SQLITE: &str = "(i) SQLite: buy 1 unit, 10,000 listings";
const SPREAD_LISTINGS: usize = 10_000;
/// Buyers of the mixed run (m).
const SPREAD_CLIENTS: usize = 64;
const HOT_UNITS: i64 = 1_000_000_000;
const SPREAD_UNITS: i64 = 1_000_000;
/// The client counts of a full run.
const FULL_CLIENTS: [usize; 4] = [1, 4, 16, 64];
/// The scenarios of a full run.
const FULL_SCENARIOS: [char; 6] = ['a', 'b', 'c', 'd', 'h', 'i'];
/// The ratios the report gives: UDAM's rows of a scenario against a baseline.
const RATIOS: &[(&str, System)] = &[
    (HOT, System::SeedTxn),
    (HOT, System::SingleStatement),
    (SPREAD, System::SingleStatement),
    (BROWSE, System::NginxStatic),
];

/// Runs the benchmark; `Ok(false)` when a check failed or a run had errors.
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
        let runs = webhook_latency::Runs {
            rounds: args.rounds,
            per_run: args.purchases_per_run,
            worker_idle: args.worker_idle,
        };
        return webhook_latency::run(&binary, &admin, runs).await;
    }
    let (fsync, synchronous_commit) = seed::durability(&admin).await?;
    let banner = durability_warning(&fsync, &synchronous_commit);
    if let Some(warning) = &banner {
        anyhow::ensure!(
            args.allow_no_fsync,
            "{warning}: refusing to run, the figures would not be those of a durable \
             database. Point --pg-url at a server with fsync=on and synchronous_commit \
             on, or pass --allow-no-fsync for a smoke run (which writes nothing)."
        );
    }
    let (db_url, db_name) = seed::create_database(&admin).await?;
    eprintln!("bench database: {}", seed::redact(&db_url));
    let dir = std::env::temp_dir().join(&db_name);
    std::fs::create_dir_all(&dir)?;
    let result = plan::run_all(&args, &binary, &db_url, &dir, banner).await;
    if args.keep_db {
        eprintln!("kept the database {db_name}");
    } else if let Err(err) = seed::drop_database(&admin, &db_name).await {
        eprintln!("warning: could not drop {db_name}: {err:#}");
    }
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            eprintln!("logs kept in {}", dir.display());
            return Err(err);
        }
    };
    // The logs (and the SQLite file) stay only when something went wrong, or when
    // asked to keep.
    if !args.keep_db && !report.failed {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("logs kept in {}", dir.display());
    }
    println!("\n{}", report.terminal(RATIOS));
    match write_target(&args, report.failed, report.banner.is_some()) {
        Ok(path) => {
            report::write_markdown(&path, &report.markdown(RATIOS))?;
            println!("wrote {}", path.display());
        }
        Err(why) => eprintln!("nothing written: {why}"),
    }
    Ok(!report.failed)
}

/// The warning a run carries when PostgreSQL does not commit durably.
fn durability_warning(fsync: &str, synchronous_commit: &str) -> Option<String> {
    (fsync != "on" || synchronous_commit == "off").then(|| {
        format!(
            "PostgreSQL runs with fsync={fsync}, synchronous_commit={synchronous_commit}: \
             commits are not durable, so these figures are not those of a real deployment"
        )
    })
}

/// Where a finished run writes its results, or why it writes nothing: never after
/// an error, a failed check or a durability warning; otherwise to `--out`, or to
/// docs/BENCHMARKS.md after a full default run.
fn write_target(args: &Args, failed: bool, warned: bool) -> Result<PathBuf, &'static str> {
    let full = args.scenarios == FULL_SCENARIOS
        && args.clients == FULL_CLIENTS
        && !args.no_raw
        && !args.no_nginx;
    if failed {
        Err("a check failed or a run had errors")
    } else if warned {
        Err("PostgreSQL did not commit durably")
    } else if args.no_write {
        Err("--no-write")
    } else if let Some(out) = &args.out {
        Ok(out.clone())
    } else if full {
        Ok(PathBuf::from("docs/BENCHMARKS.md"))
    } else {
        Err("not a full default run (pass --out FILE to write it)")
    }
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::parse_from(std::iter::once("udam-bench").chain(extra.iter().copied()))
    }

    #[test]
    fn a_full_run_writes_the_docs_only_when_it_passed_durably() {
        let full = args(&[]);
        assert_eq!(
            write_target(&full, false, false),
            Ok(PathBuf::from("docs/BENCHMARKS.md"))
        );
        assert!(write_target(&full, true, false).is_err());
        assert!(write_target(&full, false, true).is_err());
        assert!(write_target(&args(&["--no-write"]), false, false).is_err());
    }

    #[test]
    fn out_is_written_only_when_the_run_passed_durably() {
        let out = args(&["--scenarios", "a", "--out", "x.md"]);
        assert_eq!(write_target(&out, false, false), Ok(PathBuf::from("x.md")));
        assert!(write_target(&out, true, false).is_err());
        assert!(write_target(&out, false, true).is_err());
    }

    #[test]
    fn a_partial_run_writes_nothing_by_default() {
        for partial in [
            &["--scenarios", "a"][..],
            &["--clients", "64"],
            &["--no-raw"],
            &["--no-nginx"],
        ] {
            assert!(
                write_target(&args(partial), false, false).is_err(),
                "{partial:?}"
            );
        }
    }

    #[test]
    fn fsync_or_synchronous_commit_off_is_a_warning() {
        assert!(durability_warning("on", "on").is_none());
        assert!(durability_warning("on", "local").is_none());
        assert!(durability_warning("off", "on").is_some());
        assert!(durability_warning("on", "off").is_some());
    }
}
