//! Search and discovery (issue 19): relevance, accents and non-English text,
//! highlights, filters with every sort, stable relevance pages, and the upgrade of
//! a database that had listings before search existed.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::create_listing;
use crate::common::{Backend, Resp, TestApp, TestDb, fixtures};

crate::dual_backend_tests!(
    name_matches_rank_above_description_matches,
    accents_and_other_scripts_are_found,
    query_syntax_phrases_exclusions_or,
    highlights_mark_matches_and_escape_the_rest,
    filters_combine_with_search_and_every_sort,
    relevance_pages_never_repeat_or_skip,
    rare_filtered_matches_page_through_in_order,
    few_old_filtered_matches_page_through_in_order,
    upgrade_makes_existing_listings_searchable,
);

fn body(name: &str, description: &str, price: i64, currency: &str, units: i64) -> Value {
    json!({
        "service_name": name,
        "description": description,
        "price_cents": price,
        "currency": currency,
        "available_units": units,
        "api_key": "sk_search_test_0123456789",
    })
}

fn names(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["service_name"].as_str().expect("name").to_owned())
        .collect()
}

/// A small realistic corpus: English, French, German, Greek and Japanese text.
async fn corpus(app: &TestApp) -> String {
    let seller = app.signup("corpus@example.com").await;
    for (name, description) in [
        (
            "Weather Forecast API",
            "Hourly forecasts for 40,000 cities, updated every ten minutes.",
        ),
        (
            "Marine traffic feed",
            "Ship positions and port calls. Includes weather at sea, weather warnings, \
             weather radar tiles and historical weather for every port.",
        ),
        (
            "Météo France — prévisions",
            "Données météorologiques officielles : température, vent et précipitations.",
        ),
        (
            "Zürich Stadtplan",
            "Gebäude, Straßenbahn-Haltestellen und Adressen der Stadt Zürich.",
        ),
        (
            "Αθήνα δεδομένα κυκλοφορίας",
            "Ζωντανά δεδομένα κυκλοφορίας για την Αθήνα.",
        ),
        ("東京 交通 データ", "東京 の 鉄道 と バス の 時刻表 。"),
        (
            "Stock quotes",
            "End-of-day prices for 8,000 listed companies; no forecast.",
        ),
    ] {
        create_listing(app, &seller, &body(name, description, 500, "usd", 10)).await;
    }
    seller
}

async fn name_matches_rank_above_description_matches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    corpus(&app).await;
    // The marine feed says "weather" four times in its description; the forecast
    // API says it once, in its name. The name wins.
    let r = app.get("/api/v1/listings?q=weather", None).await;
    assert_eq!(names(&r), ["Weather Forecast API", "Marine traffic feed"]);
    let r = app.get("/api/v1/listings?q=forecast", None).await;
    assert_eq!(names(&r), ["Weather Forecast API", "Stock quotes"]);
    // Another order on request, and nothing for a word no listing has.
    let r = app
        .get("/api/v1/listings?q=weather&sort=price_asc", None)
        .await;
    assert_eq!(names(&r).len(), 2);
    let r = app.get("/api/v1/listings?q=zebra", None).await;
    assert!(names(&r).is_empty());
    // Accented and non-English text, and newer listings: a name match still comes
    // first, newest first within the name matches, then description matches.
    let seller = app.signup("tiers@example.com").await;
    for (name, description) in [
        (
            "Wetterdaten Schweiz",
            "Prévisions horaires pour Zürich, Genève et Bâle ; données officielles.",
        ),
        ("Zürich Wetter-Radar", "Radarbilder alle fünf Minuten."),
    ] {
        create_listing(&app, &seller, &body(name, description, 500, "eur", 10)).await;
    }
    for (q, expected) in [
        (
            "zurich",
            &[
                "Zürich Wetter-Radar",
                "Zürich Stadtplan",
                "Wetterdaten Schweiz",
            ][..],
        ),
        (
            "PRÉVISIONS",
            &["Météo France — prévisions", "Wetterdaten Schweiz"][..],
        ),
        // One word in the name, the other in the description: not a name match.
        ("zürich wetterdaten", &["Wetterdaten Schweiz"][..]),
        ("geneve", &["Wetterdaten Schweiz"][..]),
    ] {
        let r = app
            .get(&format!("/api/v1/listings?q={}", urlencode(q)), None)
            .await;
        assert_eq!(names(&r), expected, "q={q}");
    }
}

async fn accents_and_other_scripts_are_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    corpus(&app).await;
    for (q, expected) in [
        ("meteo", "Météo France — prévisions"),
        ("MÉTÉO", "Météo France — prévisions"),
        ("previsions", "Météo France — prévisions"),
        ("zurich", "Zürich Stadtplan"),
        ("gebaude", "Zürich Stadtplan"),
        // SQLite's tokenizer folds accents of Latin script only; case folds everywhere.
        ("αθήνα", "Αθήνα δεδομένα κυκλοφορίας"),
        ("ΑΘΉΝΑ", "Αθήνα δεδομένα κυκλοφορίας"),
        ("東京", "東京 交通 データ"),
        ("鉄道", "東京 交通 データ"),
    ] {
        let r = app
            .get(&format!("/api/v1/listings?q={}", urlencode(q)), None)
            .await;
        assert_eq!(names(&r), [expected], "q={q}");
    }
}

async fn query_syntax_phrases_exclusions_or(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    corpus(&app).await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let mut found = names(
                &app.get(&format!("/api/v1/listings?q={}", urlencode(q)), None)
                    .await,
            );
            found.sort();
            found
        }
    };
    assert_eq!(search("\"forecast api\"").await, ["Weather Forecast API"]);
    assert!(search("\"api forecast\"").await.is_empty(), "phrase order");
    assert_eq!(search("weather -ship").await, ["Weather Forecast API"]);
    assert_eq!(
        search("stadtplan or quotes").await,
        ["Stock quotes", "Zürich Stadtplan"]
    );
    // Only exclusions, only punctuation, or FTS syntax: no error, and no scan of everything.
    assert!(search("-weather").await.is_empty());
    assert!(search("!!! ???").await.is_empty());
    assert_eq!(search("forecast(api)").await, ["Weather Forecast API"]);
    assert_eq!(search("weather AND").await, ["Marine traffic feed"]);
    assert_eq!(search("api*").await, ["Weather Forecast API"]);
}

async fn highlights_mark_matches_and_escape_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("hl@example.com").await;
    let long = format!(
        "{} The <b>tide</b> tables & currents. {}",
        "Harbour data. ".repeat(30),
        "More text. ".repeat(30)
    );
    create_listing(&app, &seller, &body("Tide <Tables>", &long, 100, "usd", 1)).await;
    let r = app.get("/api/v1/listings?q=tide", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let h = &r.body["items"][0]["highlight"];
    assert_eq!(h["service_name"], "<mark>Tide</mark> &lt;Tables&gt;");
    let snippet = h["snippet"].as_str().expect("snippet");
    assert!(
        snippet.contains("&lt;b&gt;<mark>tide</mark>&lt;/b&gt; tables &amp; currents"),
        "{snippet}"
    );
    assert!(
        snippet.starts_with('…') && snippet.ends_with('…'),
        "{snippet}"
    );
    assert!(snippet.chars().count() < 260, "{snippet}");
    // Without a search there is nothing to highlight.
    let r = app.get("/api/v1/listings", None).await;
    assert!(r.body["items"][0].get("highlight").is_none());
    // The web page marks the word and escapes the text around it.
    let html = app
        .http
        .get(format!("{}/?q=tide", app.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("<mark>Tide</mark> &#60;Tables&#62;")
            || html.contains("<mark>Tide</mark> &lt;Tables&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>tide</b>") && !html.contains("<Tables>"));
}

/// (name, price, currency, units, sold by seller b?)
type Row = (&'static str, i64, &'static str, i64, bool);
/// Whether a row passes a filter.
type Keep = fn(&Row) -> bool;

async fn filters_combine_with_search_and_every_sort(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.signup("fa@example.com").await;
    let b = app.signup("fb@example.com").await;
    let seller_b = app.get("/api/v1/me", Some(&b)).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rows: [Row; 6] = [
        ("Rain radar", 100, "usd", 5, false),
        ("Rain gauges", 250, "eur", 5, true),
        ("Rain history", 400, "usd", 0, true),
        ("Rain alerts", 700, "usd", 3, true),
        ("Wind map", 300, "usd", 5, false),
        ("Rain forecast", 900, "eur", 0, false),
    ];
    for (name, price, currency, units, by_b) in rows {
        let token = if by_b { &b } else { &a };
        let description = format!("{name}, measured daily");
        create_listing(
            &app,
            token,
            &body(name, &description, price, currency, units),
        )
        .await;
    }
    let cases: [(&str, Keep); 6] = [
        ("currency=EUR", |r| r.2 == "eur"),
        ("min_price_cents=250&max_price_cents=700", |r| {
            (250..=700).contains(&r.1)
        }),
        ("in_stock=true", |r| r.3 > 0),
        ("seller_id=B", |r| r.4),
        ("currency=usd&in_stock=true&max_price_cents=700", |r| {
            r.2 == "usd" && r.3 > 0 && r.1 <= 700
        }),
        ("seller_id=B&min_price_cents=300", |r| r.4 && r.1 >= 300),
    ];
    for sort in ["relevance", "newest", "price_asc", "price_desc"] {
        for (filter, keep) in &cases {
            let filter = filter.replace("seller_id=B", &format!("seller_id={seller_b}"));
            let mut expected: Vec<(String, i64)> = rows
                .iter()
                .filter(|r| keep(r) && r.0.starts_with("Rain"))
                .map(|r| (r.0.to_owned(), r.1))
                .collect();
            // Walk every page (two per page) to prove cursors carry the filters too.
            let mut got: Vec<String> = Vec::new();
            let mut cursor = String::new();
            loop {
                let r = app
                    .get(
                        &format!("/api/v1/listings?q=rain&sort={sort}&{filter}&limit=2{cursor}"),
                        None,
                    )
                    .await;
                got.extend(names(&r));
                match r.body["next_cursor"].as_str() {
                    Some(c) => cursor = format!("&cursor={c}"),
                    None => break,
                }
            }
            match sort {
                "price_asc" => expected.sort_by_key(|e| e.1),
                "price_desc" => expected.sort_by_key(|e| -e.1),
                _ => {
                    expected.sort();
                    got.sort();
                }
            }
            let expected: Vec<String> = expected.into_iter().map(|e| e.0).collect();
            assert_eq!(got, expected, "sort={sort} {filter}");
        }
    }
    // The filters also work without a search.
    let r = app
        .get("/api/v1/listings?currency=eur&sort=price_desc", None)
        .await;
    assert_eq!(names(&r), ["Rain forecast", "Rain gauges"]);
    for bad in [
        "min_price_cents=500&max_price_cents=100",
        "min_price_cents=-1",
        "currency=xyz",
        "in_stock=maybe",
        "sort=relevance",
        "q=rain&sort=best",
    ] {
        let r = app.get(&format!("/api/v1/listings?{bad}"), None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {:?}",
            r.body
        );
        assert_eq!(r.error_code(), "validation_failed", "{bad}");
    }
}

async fn relevance_pages_never_repeat_or_skip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("pages@example.com").await;
    let mut expected = HashSet::new();
    for i in 0..9 {
        // Name hits, description hits of varying length (so varying rank), and ties.
        let (name, description) = match i % 3 {
            0 => (
                format!("Solar panel output {i}"),
                "Hourly output.".to_owned(),
            ),
            1 => (
                format!("Grid feed {i}"),
                format!("Includes solar{}", " and more".repeat(i)),
            ),
            _ => (format!("Grid feed {i}"), "Includes solar.".to_owned()),
        };
        let id = create_listing(&app, &seller, &body(&name, &description, 10, "usd", 1)).await;
        expected.insert(id.as_str().to_owned());
    }
    create_listing(
        &app,
        &seller,
        &body("Unrelated", "Nothing here.", 10, "usd", 1),
    )
    .await;
    let mut seen: Vec<String> = Vec::new();
    let mut name_hits_done = false;
    let mut cursor = String::new();
    loop {
        let r = app
            .get(&format!("/api/v1/listings?q=solar&limit=2{cursor}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        for item in r.body["items"].as_array().expect("items") {
            let name_hit = item["highlight"]["service_name"]
                .as_str()
                .expect("highlight")
                .contains("<mark>");
            assert!(!(name_hits_done && name_hit), "name hits come first");
            name_hits_done |= !name_hit;
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        // A new, better match arriving between pages must not shift later pages.
        if seen.len() == 2 {
            create_listing(&app, &seller, &body("Solar", "solar solar", 10, "usd", 1)).await;
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no listing twice: {seen:?}");
    assert_eq!(unique, expected, "every match exactly once");
    // A cursor of one order is refused by another.
    let first = app.get("/api/v1/listings?q=solar&limit=1", None).await;
    let c = first.body["next_cursor"].as_str().expect("cursor");
    let r = app
        .get(
            &format!("/api/v1/listings?q=solar&sort=newest&cursor={c}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A filter that keeps only the oldest few matches of a common word: every page
/// still lists the next ones in relevance order (name tier first, newest first in
/// each), whichever way the engine bounds its reading, and nothing is skipped.
async fn rare_filtered_matches_page_through_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("rare@example.com").await;
    // Oldest first: the few cheap ones, then many dear ones that match too.
    let groups: [(&str, &str, i64, usize); 4] = [
        ("Kestrel cheap", "Nest cameras.", 10, 3),
        ("Grid cheap", "Includes kestrel sightings.", 10, 2),
        ("Kestrel dear", "Nest cameras.", 1000, 25),
        ("Grid dear", "Includes kestrel sightings.", 1000, 5),
    ];
    for (name, description, price, count) in groups {
        for i in 0..count {
            let name = format!("{name} {i}");
            create_listing(&app, &seller, &body(&name, description, price, "usd", 1)).await;
        }
    }
    // Newest first over both tiers, from an order that has no tiers.
    let newest = names(
        &app.get(
            "/api/v1/listings?q=kestrel&sort=newest&max_price_cents=50",
            None,
        )
        .await,
    );
    assert_eq!(newest.len(), 5, "{newest:?}");
    let (mut expected, rest): (Vec<String>, Vec<String>) =
        newest.into_iter().partition(|n| n.starts_with("Kestrel"));
    expected.extend(rest);
    for limit in [1, 2, 3, 5] {
        let got = page_through(&app, "q=kestrel&max_price_cents=50", limit, expected.len()).await;
        assert_eq!(got, expected, "limit {limit}");
    }
}

/// Few matches, all older than the newest thousand listings that pass the filter:
/// the walk finds none of them, and PostgreSQL then reads each tier through
/// `created_at` ranges sized for a rare word, reaching back past the oldest. Every
/// page still lists the next matches that pass, name tier first, newest first in
/// each.
async fn few_old_filtered_matches_page_through_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pool = app.state.db.writes();
    fixtures::insert_users(pool, &["usr_seed"]).await;
    // The oldest twelve match, in both tiers, cheap and dear; 1,200 newer ones do not.
    let listing = |n: i64| -> (String, &'static str, i64) {
        match (n < 12, n % 4) {
            (true, 0) => (format!("Ocelot feed {n}"), "Camera traps.", 10),
            (true, 1) => (format!("Ocelot feed {n}"), "Camera traps.", 1000),
            (true, 2) => (format!("Grid {n}"), "Includes ocelot sightings.", 10),
            (true, _) => (format!("Grid {n}"), "Includes ocelot sightings.", 1000),
            (false, _) => (format!("Weather feed {n}"), "Hourly readings.", 10),
        }
    };
    let mut tx = pool.begin().await.expect("begin");
    for n in 0..1_212 {
        let (name, description, price) = listing(n);
        sqlx::query(
            "INSERT INTO listings (id, seller_id, service_name, description, \
               unit_description, price_cents, currency, available_units, status, \
               api_key_sealed, api_key_key_id, api_key_hint, created_at, updated_at) \
             VALUES ($1, 'usr_seed', $2, $3, 'call', $4, 'eur', 5, 'active', $5, 'k', 'h', \
               $6, $6)",
        )
        .bind(format!("lst_seed{n:05}"))
        .bind(name)
        .bind(description)
        .bind(price)
        .bind(vec![0u8])
        .bind(1_000 + n)
        .execute(&mut *tx)
        .await
        .expect("listing");
    }
    tx.commit().await.expect("commit");
    // Statistics, as a table this size has once autovacuum has seen it.
    sqlx::query("ANALYZE listings")
        .execute(pool)
        .await
        .expect("analyze");
    let expected = [
        "Ocelot feed 8",
        "Ocelot feed 4",
        "Ocelot feed 0",
        "Grid 10",
        "Grid 6",
        "Grid 2",
    ];
    for limit in [1, 2, 3, 5, 20] {
        let query = "q=ocelot&currency=eur&max_price_cents=50";
        let got = page_through(&app, query, limit, expected.len()).await;
        assert_eq!(got, expected, "limit {limit}");
    }
}

/// The names on every page of the listings `query` at `limit` a page, in order,
/// following `next_cursor` to the end; fails past `at_most` names (a cursor that
/// repeats a page would otherwise never end).
async fn page_through(app: &TestApp, query: &str, limit: usize, at_most: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("/api/v1/listings?{query}&limit={limit}{cursor}");
        let r = app.get(&url, None).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {:?}", r.body);
        got.extend(names(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return got,
        }
        assert!(got.len() <= at_most, "limit {limit}: {got:?}");
    }
}

/// A database migrated to the schema before search, with listings in it, then the
/// server (which applies the new migrations): every listing is searchable.
async fn upgrade_makes_existing_listings_searchable(backend: Backend) {
    let db = TestDb::new(backend).await;
    {
        // The schema before search.
        let old = fixtures::connect_migrated_to(&db.url, 1).await;
        let pool = old.writes();
        fixtures::insert_users(pool, &["usr_old"]).await;
        for (i, (name, description)) in [
            ("Café prices", "Espresso prices in 300 cities"),
            ("Legacy geocoder", "Addresses to coordinates, café included"),
            ("Old archive", "Not for sale"),
        ]
        .iter()
        .enumerate()
        {
            sqlx::query(
                "INSERT INTO listings (id, seller_id, service_name, description, \
                 unit_description, price_cents, currency, available_units, status, \
                 api_key_sealed, api_key_key_id, api_key_hint, created_at, updated_at) \
                 VALUES ($1, 'usr_old', $2, $3, 'per unit', 100, 'usd', 5, $4, $5, 'test1', \
                 'abcd', $6, $6)",
            )
            .bind(format!("lst_old{i}"))
            .bind(*name)
            .bind(*description)
            .bind(if i == 2 { "archived" } else { "active" })
            .bind(vec![0u8; 16])
            .bind(1_000 + i as i64)
            .execute(pool)
            .await
            .expect("listing");
        }
        old.close().await;
    }
    let app = TestApp::spawn_on(db, &[]).await;
    let r = app.get("/api/v1/listings?q=cafe", None).await;
    assert_eq!(names(&r), ["Café prices", "Legacy geocoder"]);
    let r = app.get("/api/v1/listings?q=archive", None).await;
    assert!(names(&r).is_empty(), "archived listings stay out");
    // New writes keep the index in step: a renamed description is found by its new words.
    let seller = app.signup("new@example.com").await;
    let id = create_listing(&app, &seller, &body("Fresh feed", "Kiwi data", 1, "usd", 1)).await;
    let r = app
        .patch(
            &format!("/api/v1/listings/{id}"),
            &json!({"description": "Mango data"}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        names(&app.get("/api/v1/listings?q=mango", None).await),
        ["Fresh feed"]
    );
    assert!(names(&app.get("/api/v1/listings?q=kiwi", None).await).is_empty());
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)])
        .expect("encode")
        .trim_start_matches("q=")
        .to_owned()
}
