//! The seller dashboard's and buyer pages' figures, read from the rendered HTML:
//! earnings cards, revenue per day (one chart per currency, with its table),
//! units sold per listing, top buyers (masked), payout history, a buyer's spending
//! per month and gateway usage; zero, one and many days; thousands of sales; each
//! party sees only their own.

mod bulk;
mod totals;
mod usage;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Client, TestApp, create_listing, listing_body, order};
use crate::web::{Page, get, session};

/// A UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Flags of a server where buyers may owe a lot on their balance (many instant
/// orders) and the platform keeps 10 %.
pub const ROOMY: [&str; 4] = [
    "--unpaid-cap-cents",
    "100000000",
    "--platform-fee-bps",
    "1000",
];

/// A listing of `seller` priced `price` minor units of `currency`, 100,000 units.
pub async fn listing_in(
    app: &Client,
    seller: &str,
    name: &str,
    price: i64,
    currency: &str,
) -> String {
    let mut body = listing_body(name, price, 100_000);
    body["currency"] = Value::from(currency);
    create_listing(app, seller, &body).await.as_str().to_owned()
}

/// Buys `units` instantly (fulfilled at once, on the balance); returns the order id.
pub async fn buy(app: &Client, buyer: &str, listing: &str, units: i64) -> String {
    let r = order(app, buyer, listing, units).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["order"]["status"], "fulfilled", "{:?}", r.body);
    r.body["order"]["id"].as_str().expect("order id").to_owned()
}

/// Moves an order `days` back in time (as if it were placed then).
pub async fn age(app: &TestApp, order: &str, days: i64) {
    sqlx::query("UPDATE orders SET created_at = created_at - $1 WHERE id = $2")
        .bind(days * DAY_MS)
        .bind(order)
        .execute(app.database().writes())
        .await
        .expect("age the order");
}

/// `YYYY-MM-DD`, `days` before today (UTC).
pub fn day_label(days: i64) -> String {
    let ms = udam::clock::now_ms() - days * DAY_MS;
    udam::clock::rfc3339(ms)[..10].to_owned()
}

/// A page as `token` sees it (asserting 200).
pub async fn page(app: &Client, path: &str, token: &str) -> Page {
    let page = get(app, path, Some(&session(token))).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
    page
}

/// The element that opens with `<{tag} ` and has `id="{id}"`, up to its closing tag
/// (elements of these kinds are not nested in themselves on our pages).
pub fn element<'a>(html: &'a str, tag: &str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = html[..at].rfind(&format!("<{tag}"))?;
    let end = html[start..].find(&format!("</{tag}>"))? + start;
    Some(&html[start..end])
}

/// A chart's figure by id, failing the test when it is absent.
pub fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    element(html, "figure", id).unwrap_or_else(|| panic!("no chart {id} in {html}"))
}

/// The total a chart states in its caption.
pub fn chart_total(figure: &str) -> String {
    let start = figure.find("Total <strong>").expect("a total") + "Total <strong>".len();
    let end = figure[start..].find("</strong>").expect("closed") + start;
    figure[start..end].to_owned()
}

/// The rows of a chart's table fallback: (label, value).
pub fn chart_rows(figure: &str) -> Vec<(String, String)> {
    let (Some(start), Some(end)) = (figure.find("<tbody>"), figure.find("</tbody>")) else {
        return Vec::new();
    };
    figure[start..end]
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("<td")
                .skip(1)
                .map(|c| strip_tags(&c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()]))
                .collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect()
}

/// The text of a table's rows by id, each row's cells joined with `|`, tags left
/// out.
pub fn table_rows(html: &str, id: &str) -> Vec<String> {
    let table = element(html, "table", id).unwrap_or_else(|| panic!("no table {id}"));
    let body = &table[table.find("<tbody>").expect("tbody")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|c| strip_tags(&c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()]))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}
