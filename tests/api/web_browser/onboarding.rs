//! A seller's Stripe Connect onboarding in Chromium, against the fake Stripe: from
//! the payouts page to Stripe's hosted form (the fake's page on loopback), back with
//! payouts enabled by the signed `account.updated` the fake delivers; then a sale
//! paid through Stripe Checkout and, past the hold on the test clock, a payout run
//! that pays it by one Stripe Transfer, listed on the dashboard as a real payout.

use fantoccini::Locator;
use futures::FutureExt;
use serde_json::json;

use super::chrome::{ChromeDriver, Tab, screenshot_dir};
use crate::common::{Backend, TestApp, TestDb};
use crate::fake_stripe::FakeStripe;
use crate::payouts::stripe::{
    CONNECT_SECRET, account_of, buy_through_stripe, spawn, transfer_keys,
};
use crate::payouts::{PAST_HOLD, admin, listing, payouts_of, run_payouts};

crate::dual_backend_tests!(seller_onboards_at_stripe_sells_and_is_paid_by_a_transfer);

/// The seller's email: signed up through the API (to list a service), signed in
/// in the browser with the same password.
const SELLER: &str = "sally@example.com";

async fn seller_onboards_at_stripe_sells_and_is_paid_by_a_transfer(backend: Backend) {
    // The platform keeps 10 %, so the transfer's amount is the seller's share.
    let (app, stripe) = spawn(
        TestDb::new(backend).await,
        &["--dev-payout-test-clock", "--platform-fee-bps", "1000"],
    )
    .await;
    // What Stripe does when a seller completes its form: `account.updated`, signed
    // with the Connect endpoint's secret, to the production webhook endpoint.
    stripe.deliver_events_to(
        &format!("{}/api/v1/webhooks/stripe", app.base),
        CONNECT_SECRET,
    );
    let driver = ChromeDriver::start().await;
    let tab = Tab {
        c: driver.session().await,
        base: app.base.clone(),
        shots: screenshot_dir(),
    };
    // Close the browser even when an assertion fails, then report the failure.
    let outcome = std::panic::AssertUnwindSafe(onboard_sell_and_get_paid(&app, &stripe, &tab))
        .catch_unwind()
        .await;
    let _ = tab.c.clone().close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn onboard_sell_and_get_paid(app: &TestApp, stripe: &FakeStripe, tab: &Tab) {
    let seller = app.signup(SELLER).await;
    let service = listing(app, &seller, "Tide Tables API", 2000).await;
    tab.sign_in(SELLER).await;

    // No payout account yet: the page offers to set one up.
    tab.open("/dashboard").await;
    tab.click("a#payouts-account").await;
    tab.on("/dashboard/payouts").await;
    tab.css("#no-account").await;
    tab.all_labelled().await;
    tab.click("button#setup-payouts").await;

    // The hand-off page forwards the browser to Stripe's hosted form.
    tab.css("button#complete-onboarding").await;
    let at_stripe = tab.c.current_url().await.expect("url").to_string();
    assert!(
        at_stripe.starts_with(&format!("{}/connect/onboarding/", stripe.base_url())),
        "{at_stripe}"
    );
    // The account the button created is the one Stripe's form sets up.
    assert_eq!(stripe.account_count(), 1);
    let account = account_of(app, &seller).await["account"]["id"]
        .as_str()
        .expect("an account on record")
        .to_owned();
    let heading = format!("//h1[contains(., \"Set up payouts for {account}\")]");
    tab.wait(Locator::XPath(&heading)).await;
    tab.shot("stripe-onboarding").await;
    tab.click("button#complete-onboarding").await;

    // Back from Stripe, with Stripe's event already applied.
    tab.on("/dashboard/payouts?onboarding=return").await;
    let back = tab.c.current_url().await.expect("url").to_string();
    assert!(back.starts_with(&app.base), "{back}");
    tab.css("#onboarding-back").await;
    let facts = [
        ("#account-id", account.as_str()),
        ("#details-submitted", "Yes"),
        ("#payouts-enabled", "Enabled"),
        ("#charges-enabled", "Enabled"),
    ];
    for (css, shown) in facts {
        assert_eq!(tab.css(css).await.text().await.unwrap(), shown, "{css}");
    }
    assert!(
        tab.c.find(Locator::Css("#requirements-due")).await.is_err(),
        "Stripe needs nothing more"
    );
    tab.css("button#setup-payouts").await;
    assert_eq!(tab.accessibility_problems(false).await, json!([]));
    tab.doc_shot("payouts-onboarding").await;

    // A buyer buys through Stripe Checkout; the seller's share is held.
    let buyer = app.signup("bob@example.com").await;
    buy_through_stripe(app, stripe, &buyer, &service).await;
    tab.open("/dashboard").await;
    let held = tab.css("#earnings-usd dd.held").await.text().await.unwrap();
    assert_eq!(held, "$18.00");
    tab.css("#no-payouts").await;

    // Past the hold, the payout run pays it by one Stripe Transfer.
    app.state
        .config
        .payouts
        .advance_test_clock(PAST_HOLD)
        .expect("test clock on");
    let admin = admin(app).await;
    assert_eq!(run_payouts(app, &admin).await, (1, 1));
    let payouts = payouts_of(app, &seller).await;
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    let payout = payouts[0]["id"].as_str().expect("payout id").to_owned();
    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let transfer = &transfers[0];
    assert_eq!(
        (
            &transfer["amount"],
            &transfer["currency"],
            &transfer["destination"],
            &transfer["transfer_group"],
        ),
        (&json!(1800), &json!("usd"), &json!(account), &json!(payout))
    );
    assert_eq!(transfer_keys(stripe), [format!("udam-payout-{payout}")]);

    // The dashboard lists it as paid through Stripe, not as a simulation.
    tab.open("/dashboard").await;
    let row = tab
        .css(&format!("#payout-{payout}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("$18.00") && row.contains("Paid") && row.contains("Stripe"),
        "{row}"
    );
    assert!(!row.contains("Simulated"), "{row}");
    let paid = tab
        .css("#earnings-usd dd.paid-out")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(paid, "$18.00");
    tab.open("/dashboard/payouts").await;
    let history = tab.css("#payouts").await.text().await.unwrap();
    assert!(
        history.contains("$18.00") && !history.contains("simulated"),
        "{history}"
    );

    // On an older page of sales, "Back to the newest" keeps the revenue window.
    let before_all = udam::pagination::encode(i64::MAX, "ord_zzzz");
    tab.open(&format!("/dashboard?range=90&scursor={before_all}"))
        .await;
    tab.click("a#back-to-newest").await;
    assert_eq!(tab.on("/dashboard?").await, "/dashboard?range=90");
    let caption = tab
        .css("#revenue-usd figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(caption.contains("last 90 days"), "{caption}");
    app.assert_ledger_clean().await;
}
