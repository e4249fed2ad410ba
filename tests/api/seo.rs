//! Discovery by search engines (issue 19): a listing page's meta tags and
//! schema.org JSON-LD, `/sitemap.xml` (with its index past 50,000 URLs) and
//! `/robots.txt`.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::create_listing;
use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(
    listing_page_has_meta_tags_and_valid_json_ld,
    sitemap_lists_exactly_the_public_active_listings,
    sitemap_splits_into_an_index_past_50000,
);

const BASE: &str = "https://market.example";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &["--public-url", BASE]).await
}

async fn html(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("page");
    (r.status(), r.text().await.expect("body"))
}

/// The `content` of the first `<meta {attr}="{name}" content="…">`.
fn meta(html: &str, attr: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("<meta {attr}=\"{name}\" content=\""))?;
    let rest = &html[start..];
    let value = rest.split_once("content=\"")?.1.split_once('"')?.0;
    Some(value.to_owned())
}

fn json_ld(html: &str) -> Value {
    let open = "<script type=\"application/ld+json\">";
    let start = html.find(open).expect("a JSON-LD script") + open.len();
    let end = start + html[start..].find("</script>").expect("script closes");
    serde_json::from_str(&html[start..end]).expect("JSON-LD parses as JSON")
}

fn body(name: &str, description: &str, units: i64) -> Value {
    json!({
        "service_name": name,
        "description": description,
        "price_cents": 250,
        "currency": "eur",
        "available_units": units,
        "unit_description": "per 1000 calls",
        "api_key": "sk_seo_test_0123456789",
    })
}

async fn listing_page_has_meta_tags_and_valid_json_ld(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seo@example.com").await;
    // Text that would break out of a <script> or an attribute if not escaped.
    let description = format!(
        "Prévisions \"météo\" </script><script>alert(1)</script> & more. {}",
        "Long text. ".repeat(40)
    );
    let id = create_listing(&app, &seller, &body("Météo <Pro>", &description, 5)).await;
    let (status, page) = html(&app, &format!("/listings/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let url = format!("{BASE}/listings/{id}");
    assert!(page.contains(&format!("<link rel=\"canonical\" href=\"{url}\">")));
    assert!(!page.contains("<script>alert(1)"), "description is escaped");
    let description_meta = meta(&page, "name", "description").expect("meta description");
    assert!(
        description_meta.starts_with("Prévisions &#34;météo&#34;")
            || description_meta.starts_with("Prévisions &quot;météo&quot;"),
        "{description_meta}"
    );
    assert!(description_meta.chars().count() < 220 && description_meta.ends_with('…'));
    assert_eq!(
        meta(&page, "property", "og:url").as_deref(),
        Some(url.as_str())
    );
    assert_eq!(
        meta(&page, "property", "og:type").as_deref(),
        Some("product")
    );
    assert!(
        meta(&page, "property", "og:title")
            .expect("og:title")
            .contains("Météo")
    );
    assert!(
        meta(&page, "name", "robots").is_none(),
        "an active listing is indexable"
    );

    let ld = json_ld(&page);
    assert_eq!(ld["@context"], "https://schema.org");
    assert_eq!(ld["@type"], "Product");
    assert_eq!(ld["name"], "Météo <Pro>");
    assert_eq!(ld["url"], url);
    assert_eq!(ld["sku"], id);
    assert!(
        ld["description"]
            .as_str()
            .expect("description")
            .starts_with("Prévisions \"météo\" </script>")
    );
    let offer = &ld["offers"];
    assert_eq!(offer["@type"], "Offer");
    assert_eq!(offer["price"], "2.50");
    assert_eq!(offer["priceCurrency"], "EUR");
    assert_eq!(offer["availability"], "https://schema.org/InStock");
    assert_eq!(offer["eligibleQuantity"]["unitText"], "per 1000 calls");

    // Sold out, then paused: the offer says so, and a paused page is not indexed.
    let path = format!("/api/v1/listings/{id}");
    app.patch(&path, &json!({"available_units": 0}), Some(&seller))
        .await;
    let (_, page) = html(&app, &format!("/listings/{id}")).await;
    assert_eq!(
        json_ld(&page)["offers"]["availability"],
        "https://schema.org/SoldOut"
    );
    app.patch(&path, &json!({"status": "paused"}), Some(&seller))
        .await;
    let (_, page) = html(&app, &format!("/listings/{id}")).await;
    assert_eq!(meta(&page, "name", "robots").as_deref(), Some("noindex"));
    // Archived: gone for crawlers.
    app.delete(&path, Some(&seller)).await;
    let (status, _) = html(&app, &format!("/listings/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn locs(xml: &str) -> Vec<String> {
    xml.split("<loc>")
        .skip(1)
        .map(|s| s.split_once("</loc>").expect("loc closes").0.to_owned())
        .collect()
}

async fn sitemap_lists_exactly_the_public_active_listings(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("map@example.com").await;
    let mut public = HashSet::from([format!("{BASE}/")]);
    for i in 0..3 {
        let id = create_listing(&app, &seller, &body(&format!("Feed {i}"), "Data.", i)).await;
        // Sold out (0 units) is still an active, public listing.
        public.insert(format!("{BASE}/listings/{id}"));
    }
    let paused = create_listing(&app, &seller, &body("Paused", "Data.", 1)).await;
    app.patch(
        &format!("/api/v1/listings/{paused}"),
        &json!({"status": "paused"}),
        Some(&seller),
    )
    .await;
    let archived = create_listing(&app, &seller, &body("Archived", "Data.", 1)).await;
    app.delete(&format!("/api/v1/listings/{archived}"), Some(&seller))
        .await;

    let r = app
        .http
        .get(format!("{}/sitemap.xml", app.base))
        .send()
        .await
        .expect("sitemap");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/xml")
    );
    let xml = r.text().await.expect("xml");
    assert!(
        xml.starts_with("<?xml")
            && xml.contains("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">")
    );
    let found: HashSet<String> = locs(&xml).into_iter().collect();
    assert_eq!(found, public);
    // Every listing URL carries a lastmod in W3C datetime form.
    assert_eq!(xml.matches("<lastmod>").count(), 3);
    for lastmod in xml.split("<lastmod>").skip(1) {
        let value = lastmod.split_once("</lastmod>").expect("closes").0;
        assert!(
            value.len() >= 20 && value.ends_with('Z') && value.as_bytes()[10] == b'T',
            "{value}"
        );
    }

    let (status, robots) = html(&app, "/robots.txt").await;
    assert_eq!(status, StatusCode::OK);
    for private in [
        "/api/",
        "/dashboard",
        "/orders",
        "/tokens",
        "/balance",
        "/sell",
        "/signin",
    ] {
        assert!(
            robots.contains(&format!("Disallow: {private}\n")),
            "{private}: {robots}"
        );
    }
    assert!(
        !robots.contains("Disallow: /\n"),
        "public pages stay crawlable"
    );
    assert!(robots.contains(&format!("Sitemap: {BASE}/sitemap.xml")));
    let r = app.get("/sitemaps/7.xml", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
}

async fn sitemap_splits_into_an_index_past_50000(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("big@example.com").await;
    let seller_id = app.get("/api/v1/me", Some(&seller)).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // 50,001 listings, inserted in one statement per backend.
    let sql = match backend {
        Backend::Postgres => {
            "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
             price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
             api_key_hint, created_at, updated_at) \
             SELECT 'lst_big' || lpad(n::text, 6, '0'), $1, 'Feed ' || n, 'Data', 'per unit', \
             100, 'usd', 1, 'active', '\\x00'::bytea, 'test1', 'abcd', n, n \
             FROM generate_series(1, 50001) AS n"
        }
        Backend::Sqlite => {
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 50001) \
             INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
             price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
             api_key_hint, created_at, updated_at) \
             SELECT 'lst_big' || substr('000000' || n, -6), $1, 'Feed ' || n, 'Data', \
             'per unit', 100, 'usd', 1, 'active', x'00', 'test1', 'abcd', n, n FROM s"
        }
    };
    sqlx::query(sql)
        .bind(&seller_id)
        .execute(app.database().writes())
        .await
        .expect("bulk insert");
    let (status, index) = html(&app, "/sitemap.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(index.contains("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"));
    // The second file is named by its first listing, and read from there.
    assert_eq!(
        locs(&index),
        [
            format!("{BASE}/sitemaps/0.xml"),
            format!("{BASE}/sitemaps/lst_big050001.xml")
        ]
    );
    let (_, first) = html(&app, "/sitemaps/0.xml").await;
    let (_, second) = html(&app, "/sitemaps/lst_big050001.xml").await;
    let mut all: Vec<String> = locs(&first);
    assert_eq!(all.len(), 50_001, "the home page and 50,000 listings");
    all.extend(locs(&second));
    assert_eq!(locs(&second), [format!("{BASE}/listings/lst_big050001")]);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 50_002, "every listing once");
    // Past the last listing there is no file.
    let r = app.get("/sitemaps/lst_zzz.xml", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
