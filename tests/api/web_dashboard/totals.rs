//! The figures equal the sales made: per currency, per day, per listing and per
//! buyer; zero, one and many days; the 30/90-day switch; payouts listed as
//! simulated; and nobody sees another party's figures.

use serde_json::json;

use super::{
    ROOMY, age, buy, chart, chart_rows, chart_total, day_label, element, listing_in, page,
    table_rows,
};
use crate::common::{Backend, TestApp, order};

crate::dual_backend_tests!(
    figures_equal_the_sales_in_each_currency,
    zero_one_and_many_days,
    payouts_are_listed_as_simulated,
    each_party_sees_only_their_own,
);

async fn figures_equal_the_sales_in_each_currency(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ROOMY).await;
    let seller = app.signup("seller@example.com").await;
    let ann = app.signup("ann@example.com").await;
    let ben = app.signup("ben@example.com").await;
    let tides = listing_in(&app, &seller, "Tides", 150, "usd").await;
    let winds = listing_in(&app, &seller, "Winds", 200, "eur").await;

    buy(&app, &ann, &tides, 2).await; // $3.00 today
    let old = buy(&app, &ben, &tides, 1).await; // $1.50, three days ago
    age(&app, &old, 3).await;
    let yesterday = buy(&app, &ann, &winds, 1).await; // €2.00 yesterday
    age(&app, &yesterday, 1).await;
    buy(&app, &ben, &winds, 2).await; // €4.00 today
    // An order waiting for payment earned nothing yet: not counted.
    let pending = order(&app, &ann, &tides, 4).await;
    assert_eq!(pending.body["order"]["status"], "pending_payment");

    let html = page(&app, "/dashboard", &seller).await.html;
    let usd = chart(&html, "revenue-usd");
    let eur = chart(&html, "revenue-eur");
    assert_eq!(chart_total(usd), "$4.50");
    assert_eq!(chart_total(eur), "€6.00");
    assert_eq!(
        chart_rows(usd),
        [
            (day_label(3), "$1.50".to_owned()),
            (day_label(0), "$3.00".to_owned())
        ]
    );
    assert_eq!(
        chart_rows(eur),
        [
            (day_label(1), "€2.00".to_owned()),
            (day_label(0), "€4.00".to_owned())
        ]
    );
    // Each chart is an SVG with an accessible name, and its numbers as a table.
    for figure in [usd, eur] {
        assert!(
            figure.contains("<svg") && figure.contains("role=\"img\""),
            "{figure}"
        );
        assert!(
            figure.contains("<details") && figure.contains("<table"),
            "{figure}"
        );
        assert_eq!(
            figure.matches("<rect class=\"bar\"").count(),
            30,
            "one bar a day"
        );
    }
    // Never a sum across currencies (450 + 600).
    assert!(!html.contains("10.50"), "{html}");

    // Units per listing, and the biggest buyers per currency, masked.
    let mut units = table_rows(&html, "units-sold");
    units.sort();
    assert_eq!(units, ["Tides|3|2|$4.50", "Winds|3|2|€6.00"]);
    let buyers = buyer_rows(&html);
    assert_eq!(
        buyers,
        [
            "b•••@•••.com|EUR|1|€4.00",
            "a•••@•••.com|EUR|1|€2.00",
            "a•••@•••.com|USD|1|$3.00",
            "b•••@•••.com|USD|1|$1.50"
        ]
    );
    assert!(!html.contains("ann@example.com") && !html.contains("ben@example.com"));

    // Earnings cards agree with the ledger's figures (10 % fee; sold on balances, so
    // pending).
    let api = app.get("/api/v1/earnings", Some(&seller)).await.body;
    for (code, pending, fee) in [("usd", "$4.05", "$0.45"), ("eur", "€5.40", "€0.60")] {
        let card = element(&html, "li", &format!("earnings-{code}")).expect("a card");
        assert!(
            card.contains(&format!("class=\"pending\">{pending}<")),
            "{card}"
        );
        assert!(card.contains(&format!("class=\"fee\">{fee}<")), "{card}");
        let item = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["currency"] == code)
            .unwrap();
        assert_eq!(
            udam::web::layout::money(item["pending_cents"].as_i64().unwrap(), code),
            pending
        );
    }
    assert!(
        html.contains("href=\"/dashboard/payouts\""),
        "the payouts account link"
    );
    app.assert_ledger_clean().await;
}

/// The top buyers' rows, each buyer's id (after their masked email) left out.
fn buyer_rows(html: &str) -> Vec<String> {
    table_rows(html, "top-buyers")
        .into_iter()
        .map(|row| {
            let (who, rest) = row.split_once('|').expect("cells");
            let (email, id) = who.split_once(' ').expect("email and id");
            assert!(id.starts_with("usr_"), "{row}");
            format!("{email}|{rest}")
        })
        .collect()
}

async fn zero_one_and_many_days(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ROOMY).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;

    // Zero: empty states, no chart.
    let html = page(&app, "/dashboard", &seller).await.html;
    assert!(html.contains("id=\"no-revenue\"") && html.contains("id=\"no-payouts\""));
    assert!(html.contains("No earnings yet"));
    assert!(!html.contains("<figure"), "{html}");
    let orders = page(&app, "/orders", &buyer).await.html;
    assert!(
        !orders.contains("<figure"),
        "no spending chart without orders"
    );

    // One day.
    let list = listing_in(&app, &seller, "Gauges", 125, "usd").await;
    buy(&app, &buyer, &list, 1).await;
    let html = page(&app, "/dashboard", &seller).await.html;
    let usd = chart(&html, "revenue-usd");
    assert_eq!(chart_rows(usd), [(day_label(0), "$1.25".to_owned())]);
    assert_eq!(chart_total(usd), "$1.25");

    // Many days, some outside the 30-day window but inside 90.
    for days in [5, 29, 30, 45, 89, 90] {
        let id = buy(&app, &buyer, &list, 1).await;
        age(&app, &id, days).await;
    }
    let html = page(&app, "/dashboard", &seller).await.html;
    assert_eq!(
        chart_total(chart(&html, "revenue-usd")),
        "$3.75",
        "today, 5 and 29 days ago"
    );
    let html = page(&app, "/dashboard?range=90", &seller).await.html;
    let usd = chart(&html, "revenue-usd");
    assert_eq!(chart_total(usd), "$7.50", "all but the one 90 days ago");
    assert_eq!(chart_rows(usd).len(), 6);
    assert_eq!(usd.matches("<rect class=\"bar\"").count(), 90);
    assert!(html.contains("href=\"/dashboard?range=90\" aria-current=\"page\""));
    assert_eq!(table_rows(&html, "units-sold"), ["Gauges|6|6|$7.50"]);

    // The buyer's spending per month counts every order of the last 12 months.
    let orders = page(&app, "/orders", &buyer).await.html;
    assert_eq!(chart_total(chart(&orders, "spending-usd")), "$8.75");
    app.assert_ledger_clean().await;
}

async fn payouts_are_listed_as_simulated(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--dev-payout-test-clock"]).await;
    let admin = crate::payouts::admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let big = crate::payouts::listing(&app, &seller, "Big data", 2000).await;
    crate::payouts::buy_and_pay(&app, &buyer, &big).await;
    let html = page(&app, "/dashboard", &seller).await.html;
    let card = element(&html, "li", "earnings-usd").expect("a card");
    assert!(card.contains("class=\"held\">$20.00<"), "{card}");

    app.state
        .config
        .payouts
        .advance_test_clock(crate::payouts::PAST_HOLD)
        .expect("test clock on");
    assert_eq!(crate::payouts::run_payouts(&app, &admin).await, (1, 1));
    let payout = crate::payouts::payouts_of(&app, &seller).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = page(&app, "/dashboard", &seller).await.html;
    let row = element(&html, "tr", &format!("payout-{payout}")).expect("the payout row");
    assert!(
        row.contains("$20.00") && row.contains("Simulated") && row.contains("Paid"),
        "{row}"
    );
    let card = element(&html, "li", "earnings-usd").expect("a card");
    assert!(card.contains("class=\"paid-out\">$20.00<"), "{card}");
    assert!(card.contains("class=\"available\">$0.00<"), "{card}");
    // The buyer has no payouts and sees none of the seller's.
    let theirs = page(&app, "/dashboard", &buyer).await.html;
    assert!(!theirs.contains(&payout) && theirs.contains("id=\"no-payouts\""));
    assert_eq!(
        json!(crate::payouts::payouts_of(&app, &buyer).await),
        json!([])
    );
    app.assert_ledger_clean().await;
}

async fn each_party_sees_only_their_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ROOMY).await;
    let alice = app.signup("alice@example.com").await;
    let bruno = app.signup("bruno@example.com").await;
    let xena = app.signup("xena@example.com").await;
    let yuri = app.signup("yuri@example.com").await;
    let alpha = listing_in(&app, &alice, "Alpha feed", 170, "usd").await;
    let bravo = listing_in(&app, &bruno, "Bravo feed", 230, "usd").await;
    buy(&app, &xena, &alpha, 1).await;
    buy(&app, &yuri, &bravo, 2).await;

    let a = page(&app, "/dashboard", &alice).await.html;
    assert_eq!(chart_total(chart(&a, "revenue-usd")), "$1.70");
    assert_eq!(table_rows(&a, "units-sold"), ["Alpha feed|1|1|$1.70"]);
    assert_eq!(buyer_rows(&a), ["x•••@•••.com|USD|1|$1.70"]);
    assert!(!a.contains("Bravo") && !a.contains("$4.60") && !a.contains("y•••"));
    let b = page(&app, "/dashboard", &bruno).await.html;
    assert_eq!(chart_total(chart(&b, "revenue-usd")), "$4.60");
    assert!(!b.contains("Alpha") && !b.contains("$1.70") && !b.contains("x•••"));

    let x = page(&app, "/orders", &xena).await.html;
    assert_eq!(chart_total(chart(&x, "spending-usd")), "$1.70");
    assert!(!x.contains("$4.60") && !x.contains("Bravo"));
    let y = page(&app, "/orders", &yuri).await.html;
    assert_eq!(chart_total(chart(&y, "spending-usd")), "$4.60");
    assert!(!y.contains("$1.70") && !y.contains("Alpha"));
    // A seller who bought nothing has no spending; a buyer who sold nothing, no revenue.
    assert!(!page(&app, "/orders", &alice).await.html.contains("<figure"));
    assert!(
        page(&app, "/dashboard", &xena)
            .await
            .html
            .contains("id=\"no-revenue\"")
    );
    app.assert_ledger_clean().await;
}
