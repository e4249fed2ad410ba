//! The whole marketplace in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started here on a free port) against a real server.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `scripts/test.sh` installs them
//! when missing. Screenshots of key pages land in `target/e2e-screenshots/`; with
//! `UDAM_UPDATE_SCREENSHOTS=1` the README's dashboard screenshots are written to
//! `docs/screenshots/` as well.
//!
//! The journey here runs on the dev providers; [`onboarding`] runs a seller's Stripe
//! Connect onboarding and a transfer against the fake Stripe, on both backends.

mod chrome;
mod onboarding;

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use futures::FutureExt;
use serde_json::json;

use self::chrome::{ChromeDriver, Tab, screenshot_dir};
use crate::common::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_journey_sell_buy_pay_revoke_sign_out() {
    // The test clock lets the journey move past the payout hold without waiting a week.
    let app = TestApp::spawn_with(Backend::Sqlite, &["--dev-payout-test-clock"]).await;
    let driver = ChromeDriver::start().await;
    let tab = Tab {
        c: driver.session().await,
        base: app.base.clone(),
        shots: screenshot_dir(),
    };
    // Close the browser even when an assertion fails, then report the failure.
    let outcome = std::panic::AssertUnwindSafe(journey(&app, &tab))
        .catch_unwind()
        .await;
    let _ = tab.c.clone().close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn journey(app: &TestApp, tab: &Tab) {
    const KEY: &str = "sk_lighthouse_live_0123456789";

    // Keyboard users land on the skip link first.
    tab.open("/").await;
    tab.css("body")
        .await
        .send_keys("\u{E004}")
        .await
        .expect("Tab key");
    let focused = tab.c.active_element().await.expect("focus");
    assert_eq!(focused.text().await.expect("text"), "Skip to content");

    // A seller signs up and lists a service.
    tab.sign_up("sally@example.com", "Sally Seller").await;
    tab.click("nav a[href='/sell']").await;
    tab.all_labelled().await;
    tab.fill("#service_name", "Lighthouse Weather API").await;
    tab.fill("#description", "Wind and waves for every lighthouse.")
        .await;
    tab.fill("#price", "1.00").await;
    tab.css("#currency")
        .await
        .select_by_value("usd")
        .await
        .expect("currency");
    tab.fill("#units", "20").await;
    tab.fill("#api_key", KEY).await;
    tab.click("main form button[type=submit]").await;
    tab.notice("Your listing is live.").await;
    tab.text("$1.00 per 1,000 requests").await;
    assert_eq!(tab.css("#units-left").await.text().await.unwrap(), "20");
    tab.sign_out().await;

    // A buyer signs up and finds it by search.
    tab.sign_up("bob@example.com", "Bob Buyer").await;
    tab.fill("#q", "lighthouse").await;
    tab.click("form.search button[type=submit]").await;
    tab.on("/?q=lighthouse").await;
    let card = tab.css("li.card h2 a").await;
    assert_eq!(card.text().await.unwrap(), "Lighthouse Weather API");
    assert_eq!(
        tab.c.find_all(Locator::Css("li.card")).await.unwrap().len(),
        1
    );
    tab.text("20 units left").await;
    // The matched word is marked in the card, and the search page passes the checks.
    let marked = tab.css("li.card h2 a mark").await;
    assert_eq!(marked.text().await.unwrap(), "Lighthouse");
    assert_eq!(tab.accessibility_problems(true).await, json!([]));
    tab.shot("home-search").await;
    card.click().await.expect("open the listing");

    // A small order is fulfilled at once, and its token shows (masked, then revealed).
    tab.all_labelled().await;
    tab.fill("#units", "2").await;
    tab.click(".buy button[type=submit]").await;
    let landed = tab.on("/tokens?notice=order_fulfilled&order=").await;
    let small_order = landed.rsplit('=').next().unwrap().to_owned();
    tab.notice("Your order is fulfilled.").await;
    let token = tab
        .css(&format!("li.token[data-order='{small_order}']"))
        .await;
    let value = token.find(Locator::Css(".token-value")).await.unwrap();
    assert!(
        !value.is_displayed().await.unwrap(),
        "masked until revealed"
    );
    assert!(token.text().await.unwrap().contains("••••••••6789"));
    token
        .find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .expect("reveal");
    assert_eq!(value.text().await.unwrap(), KEY);
    // The page script (allowed by the CSP as 'self') added a copy button.
    let copy = token.find(Locator::Css("button.copy")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap(), "app.js ran");
    tab.shot("tokens").await;

    // A large order goes through the dev checkout; paying it issues the second token.
    tab.open("/?q=lighthouse").await;
    tab.click("li.card h2 a").await;
    assert_eq!(tab.css("#units-left").await.text().await.unwrap(), "18");
    tab.fill("#units", "10").await;
    tab.click(".buy button[type=submit]").await;
    tab.css(".banner-sim").await;
    tab.text("Simulation").await;
    let checkout = tab.on("/dev/checkout/dck_").await;
    // The checkout is reached by its token; the page names the order it pays.
    let large_order = tab.css("dl.summary code").await.text().await.unwrap();
    assert!(
        large_order.starts_with("ord_") && !checkout.contains(&large_order),
        "{checkout} {large_order}"
    );
    tab.text("$10.00").await;
    tab.shot("checkout").await;
    tab.click("form[action$='/pay'] button").await;
    tab.on(&format!("/orders/{large_order}/success")).await;
    tab.text("Thank you, your order is fulfilled").await;
    tab.click("a[href^='/tokens?order=']").await;
    tab.css(&format!("li.token.highlight[data-order='{large_order}']"))
        .await;
    assert_eq!(
        tab.c
            .find_all(Locator::Css("li.token"))
            .await
            .unwrap()
            .len(),
        2
    );
    tab.open("/orders").await;
    tab.css(&format!("#order-{large_order}")).await;
    let orders = tab.css("#orders").await.text().await.unwrap();
    assert!(
        orders.contains("$10.00") && orders.contains("$2.00"),
        "{orders}"
    );
    assert!(!orders.contains("Awaiting payment"), "{orders}");
    // The $2.00 owed for the small order is settled through the same checkout.
    tab.open("/balance").await;
    tab.click("#balance-usd button[type=submit]").await;
    tab.css(".banner-sim").await;
    tab.text("Settlement of your balance").await;
    tab.text("$2.00").await;
    tab.click("form[action$='/pay'] button").await;
    tab.on("/balance").await;
    tab.css("#nothing-owed").await;
    tab.sign_out().await;

    // The seller sees both sales and revokes the small order's token.
    tab.sign_in("sally@example.com").await;
    tab.open("/dashboard").await;
    tab.css(&format!("#sale-{small_order}")).await;
    tab.css(&format!("#sale-{large_order}")).await;
    let sales = tab.css("#sales").await.text().await.unwrap();
    assert!(
        sales.contains("$2.00") && sales.contains("$10.00"),
        "{sales}"
    );
    let listing = tab.css("li.managed").await.text().await.unwrap();
    assert!(listing.contains("8 units left"), "{listing}");
    tab.all_labelled().await;
    tab.shot("dashboard").await;
    seller_figures(app, tab).await;
    tab.click(&format!("#sale-{small_order} summary")).await;
    tab.click(&format!("#sale-{small_order} button.danger"))
        .await;
    tab.notice("The token was revoked.").await;
    let row = tab.css(&format!("#sale-{small_order}")).await;
    assert!(row.text().await.unwrap().contains("Revoked"));
    let other = tab.css(&format!("#sale-{large_order}")).await;
    assert!(!other.text().await.unwrap().contains("Revoked"));
    tab.sign_out().await;

    // The buyer sees it revoked; the other token still works.
    tab.sign_in("bob@example.com").await;
    tab.open("/tokens").await;
    let revoked = tab
        .css(&format!("li.token[data-order='{small_order}']"))
        .await;
    let text = revoked.text().await.unwrap();
    assert!(
        text.contains("Revoked") && text.contains("no longer works"),
        "{text}"
    );
    assert!(revoked.find(Locator::Css(".token-value")).await.is_err());
    let active = tab
        .css(&format!("li.token[data-order='{large_order}']"))
        .await;
    assert!(active.text().await.unwrap().contains("Active"));
    tab.shot("tokens-revoked").await;

    // Small screens: 360 px wide, nothing scrolls sideways.
    tab.c.set_window_size(360, 740).await.expect("resize");
    for path in ["/", "/tokens", "/orders", "/balance"] {
        tab.open(path).await;
        tab.css("main h1").await;
        assert!(tab.fits().await, "{path} scrolls sideways at 360 px");
    }
    tab.open("/").await;
    tab.css("li.card").await;
    tab.shot("home-360").await;
    tab.c.set_window_size(1100, 850).await.expect("resize");

    // Signed out, a protected page sends the buyer to sign in.
    tab.sign_out().await;
    tab.open("/tokens").await;
    assert_eq!(tab.on("/signin").await, "/signin?next=%2Ftokens");
    tab.text("Sign in").await;
    assert!(tab.c.find(Locator::Css("#signout")).await.is_err());
    let missing: Result<Element, CmdError> = tab.c.find(Locator::Css("li.token")).await;
    assert!(missing.is_err(), "no token is shown signed out");
}

/// The seller's figures: the revenue chart adds up the two sales, the earnings are
/// held, then a payout run (the administrator's, past the hold on the test clock)
/// pays them and the payout is listed as simulated. Leaves the dashboard open.
async fn seller_figures(app: &TestApp, tab: &Tab) {
    // $2.00 (settled from the balance) + $10.00 (paid at checkout), today.
    let caption = tab
        .css("#revenue-usd figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(caption.contains("Total $12.00"), "{caption}");
    let bars = tab
        .c
        .find_all(Locator::Css("#revenue-usd rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30, "one bar a day for 30 days");
    // The numbers behind the chart, as a table.
    tab.click("#revenue-usd details.chart-table summary").await;
    let table = tab.css("#revenue-usd table").await.text().await.unwrap();
    assert!(table.contains("$12.00"), "{table}");
    let held = tab.css("#earnings-usd dd.held").await.text().await.unwrap();
    assert_eq!(held, "$12.00");
    tab.css("#no-payouts").await;
    let units = tab.css("#units-sold").await.text().await.unwrap();
    assert!(
        units.contains("Lighthouse Weather API") && units.contains("12"),
        "{units}"
    );
    // The 90-day view shows the same sales.
    tab.click("nav.range a[href='/dashboard?range=90']").await;
    tab.on("/dashboard?range=90").await;
    let caption = tab
        .css("#revenue-usd figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        caption.contains("last 90 days") && caption.contains("$12.00"),
        "{caption}"
    );

    // A week and a day later, the administrator runs payouts (as `udam payouts run`
    // does); the dev provider records it as a simulation.
    app.state
        .config
        .payouts
        .advance_test_clock(Duration::from_secs(8 * 86_400))
        .expect("test clock on");
    let admin = crate::payouts::admin(app).await;
    assert_eq!(crate::payouts::run_payouts(app, &admin).await, (1, 1));
    tab.open("/dashboard").await;
    let payout = tab.css("#payouts tbody tr").await.text().await.unwrap();
    assert!(
        payout.contains("$12.00") && payout.contains("Paid") && payout.contains("Simulated"),
        "{payout}"
    );
    let paid = tab
        .css("#earnings-usd dd.paid-out")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(paid, "$12.00");
    tab.css("a#payouts-account[href='/dashboard/payouts']")
        .await;
    let problems = tab
        .c
        .execute(
            "const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);\
             return ids.filter((id, i) => ids.indexOf(id) !== i);",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(problems, json!([]), "duplicate ids on the dashboard");
    // The whole dashboard in one screenshot, for the README.
    tab.c.set_window_size(1100, 2300).await.expect("resize");
    tab.css("#revenue-usd").await;
    tab.doc_shot("dashboard").await;
    tab.c.set_window_size(360, 740).await.expect("resize");
    tab.open("/dashboard").await;
    tab.css("#revenue-usd").await;
    assert!(tab.fits().await, "the dashboard scrolls sideways at 360 px");
    tab.c
        .execute(
            "document.getElementById('revenue').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scroll to the chart");
    tab.doc_shot("dashboard-360").await;
    tab.c.set_window_size(1100, 850).await.expect("resize");
    tab.open("/dashboard").await;
}
