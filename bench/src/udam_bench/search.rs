//! Scenario (s): search and browse at scale (issue 19).
//!
//! Seeds a database migrated to the schema before search (0001) with listings of
//! realistic text in one set-based statement, then lets the server start on it,
//! which applies the search migration (the backfill of every listing is timed),
//! and measures the server's browse service itself (the query, highlighting and
//! the JSON body), one request at a time, bypassing the response cache, so every
//! figure is uncached: p50/p99 of search with and without matches, filtered
//! search and sorted browse. PostgreSQL gets 1,000,000 listings, SQLite 100,000.

use std::time::Instant;

use clap::Parser;
use udam::config::Config;
use udam::listings::{BrowseInput, BrowseParams};

/// Listings seeded per backend.
pub const PG_LISTINGS: i64 = 1_000_000;
/// Listings seeded on SQLite.
pub const SQLITE_LISTINGS: i64 = 100_000;
/// Samples per query class.
const SAMPLES: usize = 400;
/// Names an already seeded and migrated PostgreSQL database to measure instead.
const REUSE_PG_DB: &str = "UDAM_BENCH_SEARCH_PG_DB";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

// Words of realistic listings: topics and qualifiers for names; places (several
// with accents, two in other scripts); and a general vocabulary for descriptions,
// drawn with a skew so a few words are common and most are rare, as in real text.
const TOPICS: &str = "weather,traffic,stock,crypto,geocoding,postcode,flight,shipping,energy,\
air quality,census,election,football,news,recipe,movie,music,jobs,real estate,satellite,\
pollen,earthquake,tide,exchange rate,company,patent,court,health,hospital,school,transit,\
parking,charging,fuel,solar,wind,rainfall,river level,wildfire,crop";
const KINDS: &str = "API,feed,data,dataset,index,forecast,stream,archive,lookup,alerts,\
statistics,prices,tiles,webhooks,snapshots";
const PLACES: &str = "Berlin,München,Zürich,Köln,Paris,Lyon,Montréal,Québec,São Paulo,\
Kraków,Malmö,Reykjavík,Århus,Sevilla,Málaga,Lisboa,Dublin,London,Tokyo,Osaka,Αθήνα,\
東京,New York,Chicago,Toronto,Sydney,Auckland,Nairobi,Lagos,Mumbai,Delhi,Jakarta,Seoul,\
Bogotá,Lima,Santiago,Mexico,Madrid,Roma,Wien,Praha,Warszawa,Budapest,Oslo,Helsinki";
const WORDS: &str = "data,updated,every,hour,daily,minute,historical,real-time,coverage,\
global,national,regional,city,records,since,API,JSON,CSV,REST,endpoint,requests,latency,\
accurate,official,source,sources,licensed,commercial,use,free,trial,includes,including,\
with,for,and,the,of,in,by,from,per,over,all,each,detailed,quality,checked,cleaned,\
normalised,géocodage,données,prévisions,qualité,Wetter,Daten,Vorhersage,Straße,café,\
résumé,naïve,coördinates,latitude,longitude,timestamps,history,archive,backfill,years,\
million,thousand,points,stations,sensors,vessels,aircraft,companies,filings,quotes,\
intraday,end-of-day,tick,level,depth,order,book,volume,volatility,index,indices,\
benchmark,rates,central,bank,inflation,unemployment,population,households,income,\
boundaries,polygons,shapes,addresses,streets,buildings,parcels,zoning,permits,\
inspections,restaurants,hotels,reviews,ratings,schedules,timetables,delays,routes,\
stops,platforms,gates,departures,arrivals,cargo,containers,ports,berths,tides,waves,\
currents,temperature,humidity,pressure,precipitation,snow,ice,radar,lightning,storms,\
alerts,warnings,thresholds,webhook,push,batch,bulk,download,S3,parquet,SLA,uptime,\
support,documentation,examples,SDK,Python,JavaScript,Rust,Go,sandbox,keys,quota";

/// The SQL that seeds `n` listings on PostgreSQL (one statement).
fn pg_seed_sql() -> String {
    format!(
        "WITH v AS (SELECT string_to_array('{TOPICS}', ',') AS t, \
           string_to_array('{KINDS}', ',') AS k, string_to_array('{PLACES}', ',') AS p, \
           string_to_array('{WORDS}', ',') AS w) \
         INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
           price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
           api_key_hint, created_at, updated_at) \
         SELECT 'lst_s' || lpad(n::text, 9, '0'), $1, \
           initcap(v.t[1 + (power(random(), 1.5) * array_length(v.t, 1))::int % array_length(v.t, 1)]) \
             || ' ' || v.k[1 + (random() * (array_length(v.k, 1) - 1))::int] \
             || ' ' || v.p[1 + (power(random(), 2) * (array_length(v.p, 1) - 1))::int], \
           (SELECT string_agg(v.w[1 + (power(random(), 2) * (array_length(v.w, 1) - 1))::int] \
              || CASE WHEN j = 6 THEN ' ' || v.t[1 + (random() * (array_length(v.t, 1) - 1))::int] \
                      ELSE '' END, ' ') \
              FROM generate_series(1, 20 + n % 30) AS j), \
           'per 1000 requests', (random() * 10000)::bigint, \
           CASE WHEN n % 5 = 0 THEN 'eur' ELSE 'usd' END, \
           CASE WHEN n % 7 = 0 THEN 0 ELSE 1000 END, \
           CASE WHEN n % 50 = 0 THEN 'archived' ELSE 'active' END, \
           '\\x00'::bytea, 'bench', 'abcd', 1700000000000 + n * 1000, 1700000000000 + n * 1000 \
         FROM v, generate_series(1, $2) AS n"
    )
}

/// The SQL that seeds listings on SQLite (one statement; `?1` seller, `?2` count).
fn sqlite_seed_sql() -> String {
    // SQLite has no arrays: each list becomes a JSON array read with json_extract.
    let json = |list: &str| {
        let items: Vec<String> = list.split(',').map(|w| format!("\"{w}\"")).collect();
        format!("'[{}]'", items.join(","))
    };
    let pick = |list: &str, skew: &str| {
        let len = list.split(',').count();
        format!(
            "json_extract({}, '$[' || CAST(({skew}) * {} AS INTEGER) || ']')",
            json(list),
            len - 1
        )
    };
    let r = "(abs(random()) % 1000000) / 1000000.0";
    let skewed = format!("({r} * {r})");
    format!(
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $2) \
         INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
           price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
           api_key_hint, created_at, updated_at) \
         SELECT 'lst_s' || substr('000000000' || n, -9), $1, \
           {topic} || ' ' || {kind} || ' ' || {place}, \
           (WITH RECURSIVE j(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM j WHERE i < 20 + n % 30) \
            SELECT group_concat({word} || CASE WHEN i = 6 THEN ' ' || {topic2} ELSE '' END, ' ') \
            FROM j), \
           'per 1000 requests', abs(random()) % 10000, \
           CASE WHEN n % 5 = 0 THEN 'eur' ELSE 'usd' END, \
           CASE WHEN n % 7 = 0 THEN 0 ELSE 1000 END, \
           CASE WHEN n % 50 = 0 THEN 'archived' ELSE 'active' END, \
           x'00', 'bench', 'abcd', 1700000000000 + n * 1000, 1700000000000 + n * 1000 \
         FROM s",
        topic = pick(TOPICS, r),
        kind = pick(KINDS, r),
        place = pick(PLACES, &skewed),
        word = pick(WORDS, &skewed),
        topic2 = pick(TOPICS, r),
    )
}

/// Query classes: (label, query strings cycled through the samples).
fn classes() -> Vec<(&'static str, Vec<BrowseOwned>)> {
    let q = |q: &str| BrowseOwned {
        q: q.to_owned(),
        ..BrowseOwned::default()
    };
    let matching = [
        "weather berlin",
        "traffic",
        "stock prices",
        "\"air quality\" paris",
        "zurich",
        "munchen wetter",
        "flight delays",
        "geocoding addresses",
        "solar forecast",
        "earthquake alerts",
        "tide",
        "crypto tick",
        "census households",
        "sao paulo",
        "東京",
        "exchange rate -archive",
        "parking or charging",
        "river level sensors",
        "wildfire",
        "hospital",
    ];
    let filtered = |s: &str| BrowseOwned {
        q: s.to_owned(),
        currency: Some("eur".to_owned()),
        max_price_cents: Some(5000),
        in_stock: true,
        sort: None,
    };
    let sorted = |sort: &str, currency: Option<&str>| BrowseOwned {
        q: String::new(),
        currency: currency.map(str::to_owned),
        max_price_cents: None,
        in_stock: false,
        sort: Some(sort.to_owned()),
    };
    vec![
        ("search, matching", matching.iter().map(|s| q(s)).collect()),
        (
            "search, no match",
            (0..20).map(|i| q(&format!("zebra{i} quokka"))).collect(),
        ),
        (
            "filtered search (eur, ≤ 50.00, in stock)",
            matching.iter().map(|s| filtered(s)).collect(),
        ),
        (
            "sorted browse (price, newest; ± currency)",
            vec![
                sorted("price_asc", None),
                sorted("price_desc", None),
                sorted("newest", Some("eur")),
                sorted("price_asc", Some("eur")),
            ],
        ),
    ]
}

#[derive(Clone, Default)]
struct BrowseOwned {
    q: String,
    currency: Option<String>,
    max_price_cents: Option<i64>,
    in_stock: bool,
    sort: Option<String>,
}

/// One backend's figures: (label, p50 ms, p99 ms, matches on the first page).
pub struct Figures {
    /// Backend and listing count.
    pub title: String,
    /// Seconds to seed, and to migrate (build the search index over the rows).
    pub seed_s: f64,
    /// Seconds the search migration took over the seeded rows.
    pub migrate_s: f64,
    /// Per class.
    pub rows: Vec<(String, f64, f64, f64)>,
}

/// Seeds and measures one backend; `db_url` names an empty database.
pub async fn run(db_url: &str, listings: i64, title: &str) -> anyhow::Result<Figures> {
    sqlx::any::install_default_drivers();
    let sqlite = db_url.starts_with("sqlite:");
    // A PostgreSQL database seeded and migrated by an earlier run (`--keep-db`) is
    // measured again as it is: seeding a million listings takes minutes.
    let reuse = std::env::var(REUSE_PG_DB).ok().filter(|_| !sqlite);
    let (db_url, seed_s) = match &reuse {
        Some(url) => {
            eprintln!("{title}: measuring the seeded database of {REUSE_PG_DB}");
            (url.as_str(), 0.0)
        }
        None => (db_url, seed(db_url, sqlite, listings, title).await?),
    };
    let started = Instant::now();
    eprintln!("{title}: seeded in {seed_s:.0} s; migrating…");
    let cli = Cli::try_parse_from([
        "udam",
        "--bind",
        "127.0.0.1:0",
        "--metrics-bind",
        "127.0.0.1:0",
        "--database-url",
        db_url,
        "--master-keys",
        "bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "--dev-checkout",
    ])?;
    let server = udam::server::Server::bind(cli.config).await?;
    let migrate_s = started.elapsed().as_secs_f64();
    let state = server.state().clone();
    // The table as autovacuum leaves it a minute after a bulk load (statistics and
    // visibility map), done here so that autovacuum does not start on it while the
    // samples are taken.
    let settle = if sqlite {
        "ANALYZE"
    } else {
        "VACUUM (ANALYZE) listings"
    };
    sqlx::query(settle).execute(state.db.writes()).await?;
    // Seeding and migrating a million rows writes gigabytes of WAL, and the last
    // checkpoint it triggers spreads its writes over the next minute, which is
    // when the samples are taken (the server log showed one running through
    // them). A server is past that within checkpoint_timeout; this one is brought
    // past it now. It needs superuser or pg_checkpoint; without, the figures may
    // carry that flush.
    if !sqlite && let Err(err) = sqlx::query("CHECKPOINT").execute(state.db.pool()).await {
        eprintln!("{title}: CHECKPOINT refused ({err}); figures include the load's flush");
    }
    eprintln!("{title}: migrated in {migrate_s:.0} s; measuring…");

    let mut rows = Vec::new();
    for (label, queries) in classes() {
        // One pass to warm the database's caches, as a running server's would be.
        for query in &queries {
            browse_once(&state, query).await?;
        }
        let mut times = Vec::with_capacity(SAMPLES);
        let mut slowest = vec![0f64; queries.len()];
        let mut found = 0usize;
        for i in 0..SAMPLES {
            let query = &queries[i % queries.len()];
            let started = Instant::now();
            found += browse_once(&state, query).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            slowest[i % queries.len()] = slowest[i % queries.len()].max(ms);
            times.push(ms);
        }
        // Which queries make the tail, for whoever tunes the plans.
        let mut worst: Vec<(f64, &str)> = slowest
            .iter()
            .zip(&queries)
            .map(|(ms, q)| (*ms, q.q.as_str()))
            .collect();
        worst.sort_by(|a, b| b.0.total_cmp(&a.0));
        let worst: Vec<String> = worst
            .iter()
            .take(3)
            .map(|(ms, q)| format!("{q:?} {ms:.1} ms"))
            .collect();
        eprintln!("{title}, {label}: slowest {}", worst.join(", "));
        times.sort_by(f64::total_cmp);
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        rows.push((
            label.to_owned(),
            at(0.50),
            at(0.99),
            found as f64 / SAMPLES as f64,
        ));
    }
    drop(server);
    Ok(Figures {
        title: title.to_owned(),
        seed_s,
        migrate_s,
        rows,
    })
}

/// Migrates `db_url` to the schema before search and seeds `listings` into it;
/// returns the seconds the seeding took.
async fn seed(db_url: &str, sqlite: bool, listings: i64, title: &str) -> anyhow::Result<f64> {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await?;
    let mut before: sqlx::migrate::Migrator = if sqlite {
        sqlx::migrate!("../migrations/sqlite")
    } else {
        sqlx::migrate!("../migrations/postgres")
    };
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await?;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) \
         VALUES ('usr_bench_seller', 'seller@bench.example', 'x', NULL, 0, 0)",
    )
    .execute(&pool)
    .await?;
    eprintln!("{title}: seeding {listings} listings…");
    let started = Instant::now();
    let sql = if sqlite {
        sqlite_seed_sql()
    } else {
        pg_seed_sql()
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind("usr_bench_seller")
        .bind(listings)
        .execute(&pool)
        .await?;
    let seed_s = started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(seed_s)
}

/// One page through the service the HTTP handler calls (not its response cache),
/// serialized as the handler would; returns the number of listings on it.
async fn browse_once(state: &udam::state::AppState, q: &BrowseOwned) -> anyhow::Result<usize> {
    let params = BrowseParams::parse(BrowseInput {
        q: Some(&q.q),
        sort: q.sort.as_deref(),
        currency: q.currency.as_deref(),
        max_price_cents: q.max_price_cents,
        in_stock: Some(q.in_stock),
        ..BrowseInput::default()
    })
    .map_err(|e| anyhow::anyhow!("bad bench query: {e:?}"))?;
    let page = udam::listings::browse(state, &params)
        .await
        .map_err(|e| anyhow::anyhow!("browse failed: {e:?}"))?;
    let body = serde_json::to_vec(&page)?;
    std::hint::black_box(body);
    Ok(page.items.len())
}

/// The figures as a Markdown section.
pub fn markdown(figures: &[Figures], commit: &str) -> String {
    let mut md = format!(
        "## Search at scale (scenario s, issue 19)\n\n\
         Commit `{commit}`. The browse service the HTTP handler calls (query, highlights, \
         JSON), one request at a time, {SAMPLES} samples per class, the response cache \
         bypassed (every figure uncached), after one warm-up pass. Listings seeded into \
         the pre-search schema, then the search migration run over them (the upgrade \
         path), then vacuumed and analyzed (PostgreSQL) or analyzed (SQLite), as \
         autovacuum leaves a table after a bulk load. 2% of the listings are archived, \
         1 in 7 sold out, 1 in 5 priced in eur.\n\n"
    );
    for f in figures {
        md.push_str(&format!(
            "### {}\n\nSeeded in {:.0} s; the search migration (index build over every \
             row) took {:.0} s.\n\n| class | p50 ms | p99 ms | listings per page |\n\
             |---|---:|---:|---:|\n",
            f.title, f.seed_s, f.migrate_s
        ));
        for (label, p50, p99, found) in &f.rows {
            md.push_str(&format!("| {label} | {p50:.2} | {p99:.2} | {found:.1} |\n"));
        }
        md.push('\n');
    }
    md
}
