//! Thousands of sales: the charts still add up, day by day and per currency.
//!
//! The 2,000 orders are written straight into `orders` (one transaction), as the
//! purchase path would leave them, so the test spends its time on what it checks:
//! the aggregation and the page. No money moves through the ledger here, so there is
//! no `assert_ledger_clean` (the ledger would rightly miss journal entries for
//! orders it never saw); the totals tests prove the figures on real purchases.

use std::time::Instant;

use super::{DAY_MS, chart, chart_rows, chart_total, listing_in, page, table_rows};
use crate::common::{Backend, TestApp, fixtures};

crate::dual_backend_tests!(thousands_of_sales_add_up_per_day_and_currency);

/// Orders written.
const SALES: i64 = 2_000;

/// The `i`-th order: (currency, days ago, units, total, counted?).
fn sale(i: i64) -> (&'static str, i64, i64, i64, bool) {
    let currency = if i % 3 == 0 { "eur" } else { "usd" };
    let units = 1 + i % 4;
    let counted = i % 10 != 7; // every tenth was refunded: it earned nothing
    (
        currency,
        i % 95,
        units,
        units * (100 + (i % 7) * 10),
        counted,
    )
}

async fn thousands_of_sales_add_up_per_day_and_currency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let usd = listing_in(&app, &seller, "Usd feed", 100, "usd").await;
    let eur = listing_in(&app, &seller, "Eur feed", 100, "eur").await;
    let buyers = fixtures::users(app.database(), "crowd", 12).await;
    let buyer_ids: Vec<String> = {
        let rows = sqlx::query("SELECT id FROM users WHERE email LIKE 'crowd%' ORDER BY email")
            .fetch_all(app.database().writes())
            .await
            .expect("buyers");
        rows.iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, "id").unwrap())
            .collect()
    };
    assert_eq!(buyers.len(), buyer_ids.len());
    let seller_id: String = app.get("/api/v1/me", Some(&seller)).await.body["id"]
        .as_str()
        .expect("my id")
        .to_owned();

    let now = udam::clock::now_ms();
    let started = Instant::now();
    let mut tx = app.database().writes().begin().await.expect("begin");
    for i in 0..SALES {
        let (currency, days, units, total, counted) = sale(i);
        let listing = if currency == "usd" { &usd } else { &eur };
        let status = if counted { "fulfilled" } else { "refunded" };
        let buyer = &buyer_ids[((i / 2) % buyer_ids.len() as i64) as usize];
        sqlx::query(
            "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
               unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
               created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'Feed', $5, $6, $7, $8, $9, 'paid', 0, $10, $10)",
        )
        .bind(udam::ids::new_id("ord"))
        .bind(buyer)
        .bind(listing)
        .bind(&seller_id)
        .bind(units)
        .bind(total / units)
        .bind(total)
        .bind(currency)
        .bind(status)
        .bind(now - days * DAY_MS - i % 1000)
        .execute(&mut *tx)
        .await
        .expect("insert a sale");
    }
    tx.commit().await.expect("commit");
    eprintln!("{SALES} sales written in {:?}", started.elapsed());

    for range in [30, 90] {
        let started = Instant::now();
        let html = page(&app, &format!("/dashboard?range={range}"), &seller)
            .await
            .html;
        eprintln!(
            "dashboard, {range} days over {SALES} sales: {:?}",
            started.elapsed()
        );
        for (currency, sign) in [("usd", "$"), ("eur", "€")] {
            let expected: i64 = (0..SALES)
                .map(sale)
                .filter(|s| s.0 == currency && s.1 < range && s.4)
                .map(|s| s.3)
                .sum();
            let figure = chart(&html, &format!("revenue-{currency}"));
            let want = udam::web::layout::money(expected, currency);
            assert!(want.starts_with(sign));
            assert_eq!(chart_total(figure), want, "{currency} over {range} days");
            // Every day of the window had sales, and each row is that day's sum.
            let rows = chart_rows(figure);
            assert_eq!(rows.len() as i64, range);
            let today = udam::clock::now_ms() / DAY_MS;
            for (label, value) in rows {
                let days_ago = (0..range)
                    .find(|d| udam::clock::rfc3339((today - d) * DAY_MS)[..10] == label)
                    .expect("a day of the window");
                let day_sum: i64 = (0..SALES)
                    .map(sale)
                    .filter(|s| s.0 == currency && s.1 == days_ago && s.4)
                    .map(|s| s.3)
                    .sum();
                assert_eq!(
                    value,
                    udam::web::layout::money(day_sum, currency),
                    "{label}"
                );
            }
        }
        let units = table_rows(&html, "units-sold");
        assert_eq!(units.len(), 2, "{units:?}");
        let buyers = table_rows(&html, "top-buyers");
        assert_eq!(buyers.len(), 10, "five per currency: {buyers:?}");
    }
}
