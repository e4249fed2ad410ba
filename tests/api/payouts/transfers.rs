//! Payouts through Stripe Connect against the fake: sales held then paid by one
//! Transfer per seller and currency, even with runs racing (in one server and as two
//! processes); Stripe failing then recovering, or losing its answer, still makes
//! one transfer; reversals; a refund after a payout; runs killed around the
//! transfer call. Every test ends with `udam ledger verify` clean.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::stripe::{
    WEBHOOK_SECRET, buy_through_stripe, deliver, deliver_with, onboard, process_args, spawn,
    start_onboarding, transfer_keys,
};
use super::{PAST_HOLD, admin, listing, payouts_of, run_payouts, usd_earnings};
use crate::common::{Backend, TestApp, TestDb, fixtures};
use crate::fake_stripe::{Failure, FakeStripe};

crate::dual_backend_tests!(
    held_sales_are_paid_once_by_one_transfer_when_runs_race,
    stripe_failing_then_recovering_makes_one_transfer,
    a_transfer_refused_for_good_fails_its_payout_and_the_money_is_paid_later,
    a_reversed_transfer_is_owed_again,
    a_refund_after_a_payout_is_recovered_from_the_next_transfer,
    two_processes_racing_make_one_transfer_per_seller,
    runs_killed_around_the_transfer_call_pay_once,
    a_run_killed_while_cancelling_a_refused_payout_cancels_it_once,
);

/// A server without a payout hold, its administrator, and an onboarded seller whose
/// 20.00 listing a buyer bought through Stripe.
struct OneSale {
    app: TestApp,
    stripe: FakeStripe,
    admin: String,
    seller: String,
    buyer: String,
    listing: String,
    /// The sale's payment intent.
    payment: String,
}

async fn one_sale(backend: Backend) -> OneSale {
    let (app, stripe) = spawn(TestDb::new(backend).await, &["--payout-hold-days", "0"]).await;
    let admin = admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    onboard(&app, &stripe, &seller).await;
    let listing = listing(&app, &seller, "svc", 2000).await;
    let payment = buy_through_stripe(&app, &stripe, &buyer, &listing).await;
    OneSale {
        app,
        stripe,
        admin,
        seller,
        buyer,
        listing,
        payment,
    }
}

/// The transfer the fake made to `account`.
fn transfers_to(stripe: &FakeStripe, account: &str) -> Vec<Value> {
    stripe
        .transfers()
        .into_iter()
        .filter(|t| t["destination"] == account)
        .collect()
}

async fn held_sales_are_paid_once_by_one_transfer_when_runs_race(backend: Backend) {
    let (app, stripe) = spawn(
        TestDb::new(backend).await,
        &["--dev-payout-test-clock", "--platform-fee-bps", "1000"],
    )
    .await;
    let admin = admin(&app).await;
    let (a, b, c) = (
        app.signup("a@example.com").await,
        app.signup("b@example.com").await,
        app.signup("c@example.com").await,
    );
    let buyer = app.signup("buyer@example.com").await;
    let account_a = onboard(&app, &stripe, &a).await;
    let account_b = onboard(&app, &stripe, &b).await;
    // c starts onboarding but never finishes: Stripe does not pay out to them.
    start_onboarding(&app, &c).await;
    let (la, lb, lc) = (
        listing(&app, &a, "alpha", 2000).await,
        listing(&app, &b, "beta", 3000).await,
        listing(&app, &c, "gamma", 2500).await,
    );
    for l in [&la, &la, &lb, &lc] {
        buy_through_stripe(&app, &stripe, &buyer, l).await;
    }

    // Inside the hold nothing is paid.
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert!(stripe.transfers().is_empty());
    app.state
        .config
        .payouts
        .advance_test_clock(PAST_HOLD)
        .expect("test clock on");
    // Two runs at once: between them, each seller is paid once.
    let empty = json!({});
    let run = || app.post("/api/v1/admin/payouts/run", &empty, Some(&admin));
    let (r1, r2) = tokio::join!(run(), run());
    let (mut recorded, mut sent) = (0, 0);
    for r in [&r1, &r2] {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        recorded += r.body["recorded"].as_i64().unwrap();
        sent += r.body["sent"].as_i64().unwrap();
    }
    assert_eq!((recorded, sent), (2, 2), "{r1:?} {r2:?}");
    assert_eq!(stripe.transfers().len(), 2);
    for (seller, account, amount) in [(&a, &account_a, 3600), (&b, &account_b, 2700)] {
        let transfers = transfers_to(&stripe, account);
        assert_eq!(transfers.len(), 1, "{transfers:?}");
        let payouts = payouts_of(&app, seller).await;
        assert_eq!(payouts.len(), 1);
        let (payout, transfer) = (&payouts[0], &transfers[0]);
        assert_eq!(
            (
                &payout["status"],
                &payout["provider"],
                &payout["simulated"],
                &payout["amount_cents"],
                &payout["destination"],
                &payout["transfer_id"],
            ),
            (
                &json!("paid"),
                &json!("stripe"),
                &json!(false),
                &json!(amount),
                &json!(account),
                &transfer["id"],
            )
        );
        assert_eq!(
            (&transfer["amount"], &transfer["currency"]),
            (&json!(amount), &json!("usd"))
        );
        assert_eq!(transfer["transfer_group"], payout["id"]);
        let e = usd_earnings(&app, seller).await;
        assert_eq!(
            (&e["available_cents"], &e["paid_out_cents"]),
            (&json!(0), &json!(amount))
        );
    }
    let keys = transfer_keys(&stripe);
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|k| k.starts_with("udam-payout-po_")),
        "{keys:?}"
    );
    // c's money waits for a payouts-enabled account.
    assert!(payouts_of(&app, &c).await.is_empty());
    assert_eq!(usd_earnings(&app, &c).await["available_cents"], 2250);
    // A later run pays nothing again.
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert_eq!(stripe.transfers().len(), 2);
    app.assert_ledger_clean().await;
}

async fn stripe_failing_then_recovering_makes_one_transfer(backend: Backend) {
    let OneSale {
        app,
        stripe,
        admin,
        seller,
        ..
    } = one_sale(backend).await;

    // Stripe is down: the payout is recorded, stays pending, in transit.
    stripe.set_failure(Some(Failure::ServerError));
    assert_eq!(run_payouts(&app, &admin).await, (1, 0));
    // Stripe answers reads but fails to create: retried under the same key.
    stripe.set_failure(Some(Failure::WritesFail));
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    let pending = payouts_of(&app, &seller).await;
    assert_eq!(
        (&pending[0]["status"], &pending[0]["attempts"]),
        (&json!("pending"), &json!(2))
    );
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["in_transit_cents"]),
        (&json!(0), &json!(2000))
    );
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    // Stripe makes the transfer but its answer is lost: an unknown outcome, which
    // must not be taken for a failure.
    stripe.set_failure(Some(Failure::LostResponse));
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert_eq!(stripe.transfers().len(), 1);
    assert_eq!(payouts_of(&app, &seller).await[0]["status"], "pending");
    // Recovered: the next run finds that transfer instead of making another.
    stripe.set_failure(None);
    assert_eq!(run_payouts(&app, &admin).await, (0, 1));
    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 1, "one transfer: {transfers:?}");
    let paid = payouts_of(&app, &seller).await;
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["id"], pending[0]["id"]);
    assert_eq!(paid[0]["status"], "paid");
    assert_eq!(paid[0]["transfer_id"], transfers[0]["id"]);
    // Every attempt to create it carried the same key, derived from the payout.
    let keys = transfer_keys(&stripe);
    let expected = format!("udam-payout-{}", pending[0]["id"].as_str().unwrap());
    assert_eq!(keys.len(), 3, "two refused, one lost, none after: {keys:?}");
    assert!(keys.iter().all(|k| *k == expected), "{keys:?}");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (
            &e["available_cents"],
            &e["in_transit_cents"],
            &e["paid_out_cents"]
        ),
        (&json!(0), &json!(0), &json!(2000))
    );
    app.assert_ledger_clean().await;
}

async fn a_transfer_refused_for_good_fails_its_payout_and_the_money_is_paid_later(
    backend: Backend,
) {
    let OneSale {
        app,
        stripe,
        admin,
        seller,
        ..
    } = one_sale(backend).await;

    // Stripe refuses the transfer itself (400): nothing moved, so the payout fails
    // and its amount is available again instead of holding the seller's slot.
    stripe.set_failure(Some(Failure::WritesRefused));
    let r = app
        .post("/api/v1/admin/payouts/run", &json!({}), Some(&admin))
        .await;
    assert_eq!(
        (&r.body["recorded"], &r.body["sent"], &r.body["refused"]),
        (&json!(1), &json!(0), &json!(1)),
        "{:?}",
        r.body
    );
    let failed = payouts_of(&app, &seller).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], "failed");
    assert!(stripe.transfers().is_empty());
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["in_transit_cents"]),
        (&json!(2000), &json!(0))
    );
    app.assert_ledger_clean().await;

    // Stripe accepts again: the next run pays the same money under a new payout.
    stripe.set_failure(None);
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    let all = payouts_of(&app, &seller).await;
    assert_eq!(all.len(), 2);
    let paid: Vec<&Value> = all.iter().filter(|p| p["status"] == "paid").collect();
    assert_eq!(paid.len(), 1);
    assert_ne!(paid[0]["id"], failed[0]["id"]);
    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["amount"], 2000);
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(0), &json!(2000))
    );
    app.assert_ledger_clean().await;
}

async fn a_reversed_transfer_is_owed_again(backend: Backend) {
    let OneSale {
        app,
        stripe,
        admin,
        seller,
        ..
    } = one_sale(backend).await;
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    let transfer = stripe.transfers()[0]["id"].as_str().unwrap().to_owned();

    // Part reversed: that part is owed to the seller again, at once.
    stripe.reverse_transfer(&transfer, 500);
    let partial = stripe.transfer_reversed_event(&transfer);
    deliver(&app, &partial, "payout_reversed").await;
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(500), &json!(1500))
    );
    assert_eq!(payouts_of(&app, &seller).await[0]["status"], "paid");
    deliver(&app, &partial, "duplicate").await;
    // The rest: the payout is reversed in full.
    stripe.reverse_transfer(&transfer, 1500);
    deliver(
        &app,
        &stripe.transfer_reversed_event(&transfer),
        "payout_reversed",
    )
    .await;
    assert_eq!(payouts_of(&app, &seller).await[0]["status"], "reversed");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(2000), &json!(0))
    );
    // The older event arriving late (as a new delivery) changes nothing.
    let mut late: Value = serde_json::from_str(&partial).unwrap();
    late["id"] = json!("evt_late_partial");
    deliver(&app, &late.to_string(), "ignored").await;
    // A reversal of a transfer no payout made: stored, nothing changed.
    let mut stranger: Value = serde_json::from_str(&partial).unwrap();
    stranger["id"] = json!("evt_stranger");
    stranger["data"]["object"]["id"] = json!("tr_not_ours");
    stranger["data"]["object"]["transfer_group"] = json!("po_not_ours");
    deliver(&app, &stranger.to_string(), "mismatched").await;
    // The next run pays the money again, by a new transfer.
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    assert_eq!(stripe.transfers().len(), 2);
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(0), &json!(2000))
    );
    // Two reversals of that transfer delivered at once: together they bring back
    // exactly what was sent, whichever lands first.
    let second = stripe.transfers()[1]["id"].as_str().unwrap().to_owned();
    stripe.reverse_transfer(&second, 700);
    let first_part = stripe.transfer_reversed_event(&second);
    stripe.reverse_transfer(&second, 1300);
    let all = stripe.transfer_reversed_event(&second);
    let (r1, r2) = tokio::join!(
        deliver_with(&app, &first_part, WEBHOOK_SECRET),
        deliver_with(&app, &all, WEBHOOK_SECRET)
    );
    for r in [&r1, &r2] {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(
            r.body["outcome"] == "payout_reversed" || r.body["outcome"] == "ignored",
            "{:?}",
            r.body
        );
    }
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(2000), &json!(0))
    );
    app.assert_ledger_clean().await;
    // `udam ledger verify` would notice a reversed payout that is not.
    sqlx::query("UPDATE payouts SET status = 'paid' WHERE provider_transfer_id = $1")
        .bind(&second)
        .execute(app.database().writes())
        .await
        .unwrap();
    let report = udam::ledger::verify(app.database()).await.unwrap();
    assert_eq!(report.discrepancies.len(), 1, "{:?}", report.discrepancies);
    assert!(
        report.discrepancies[0]
            .problem
            .contains("posted back in full")
    );
}

async fn a_refund_after_a_payout_is_recovered_from_the_next_transfer(backend: Backend) {
    let OneSale {
        app,
        stripe,
        admin,
        seller,
        buyer,
        listing: l,
        payment: first,
    } = one_sale(backend).await;
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));

    // The buyer is refunded 1500 after the seller was paid.
    stripe.refund_in_dashboard(&first, 1500);
    deliver(
        &app,
        &stripe.charge_refunded_event(&first),
        "partially_refunded",
    )
    .await;
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(-1500), &json!(2000))
    );
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    // The next sale covers the debt first: only 500 is transferred.
    buy_through_stripe(&app, &stripe, &buyer, &l).await;
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    let amounts: Vec<Value> = stripe
        .transfers()
        .iter()
        .map(|t| t["amount"].clone())
        .collect();
    assert_eq!(amounts, vec![json!(2000), json!(500)]);
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(0), &json!(2500))
    );
    app.assert_ledger_clean().await;
}

/// A `udam payouts run` child process against the same database and fake Stripe.
async fn run_process(url: &str, stripe: &FakeStripe, failpoints: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
        .args(["--database-url", url, "--payout-hold-days", "0"])
        .args(["--payout-lease-ttl", "1s"])
        .args(["--master-keys", crate::common::TEST_MASTER_KEYS])
        .args(process_args(stripe))
        .args(["payouts", "run"])
        .env("UDAM_METRICS_BIND", "off")
        .env("FAILPOINTS", failpoints)
        .output()
        .await
        .expect("udam runs")
}

async fn two_processes_racing_make_one_transfer_per_seller(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let (app, stripe) = spawn(db, &["--payout-hold-days", "0"]).await;
    let buyer = app.signup("buyer@example.com").await;
    let sellers = fixtures::users(app.database(), "seller", 4).await;
    let mut accounts = Vec::new();
    for (i, seller) in sellers.iter().enumerate() {
        accounts.push(onboard(&app, &stripe, seller).await);
        let price = 2000 + 100 * i64::try_from(i).unwrap();
        let l = listing(&app, seller, &format!("svc{i}"), price).await;
        buy_through_stripe(&app, &stripe, &buyer, &l).await;
    }
    let (a, b) = tokio::join!(
        run_process(&url, &stripe, ""),
        run_process(&url, &stripe, "")
    );
    let said = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(a.status.success() && b.status.success(), "{said}");
    assert_eq!(stripe.transfers().len(), 4, "{said}");
    for (i, account) in accounts.iter().enumerate() {
        let transfers = transfers_to(&stripe, account);
        assert_eq!(transfers.len(), 1, "seller {i}: {said}");
        assert_eq!(transfers[0]["amount"], 2000 + 100 * i as i64);
        let payouts = payouts_of(&app, &sellers[i]).await;
        assert_eq!(payouts.len(), 1);
        assert_eq!(payouts[0]["status"], "paid");
    }
    app.assert_ledger_clean().await;
}

/// Polls `udam payouts run` until a run gets the lease (the dead run's lapses
/// after 1 s); returns what it printed.
async fn run_until_it_runs(url: &str, stripe: &FakeStripe) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let next = run_process(url, stripe, "").await;
        let said = String::from_utf8_lossy(&next.stdout).into_owned();
        assert!(
            next.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&next.stderr)
        );
        if !said.contains("skipped") {
            return said;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never lapsed"
        );
    }
}

async fn runs_killed_around_the_transfer_call_pay_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let (app, stripe) = spawn(db, &["--payout-hold-days", "0"]).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    onboard(&app, &stripe, &seller).await;
    let l = listing(&app, &seller, "svc", 2000).await;
    // Killed after recording, before the transfer call; then right after the
    // transfer was made, before it was recorded as sent.
    for (round, point) in ["payouts::recorded", "payouts::after_transfer"]
        .iter()
        .enumerate()
    {
        buy_through_stripe(&app, &stripe, &buyer, &l).await;
        let crashed = run_process(&url, &stripe, &format!("{point}=return")).await;
        assert!(!crashed.status.success(), "{point} aborts the run");
        let pending = payouts_of(&app, &seller).await;
        assert_eq!(pending.len(), round + 1);
        assert_eq!(pending[0]["status"], "pending", "{point}");
        let e = usd_earnings(&app, &seller).await;
        assert_eq!(e["in_transit_cents"], 2000, "{point}");
        app.assert_ledger_clean().await;

        let said = run_until_it_runs(&url, &stripe).await;
        assert!(said.contains("0 recorded, 1 sent"), "{point}: {said}");
        let transfers = stripe.transfers();
        assert_eq!(transfers.len(), round + 1, "{point}: one transfer each");
        let paid = payouts_of(&app, &seller).await;
        assert_eq!(paid[0]["id"], pending[0]["id"]);
        assert_eq!(paid[0]["status"], "paid");
        assert_eq!(paid[0]["transfer_id"], transfers[round]["id"]);
        app.assert_ledger_clean().await;
    }
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["in_transit_cents"], &e["paid_out_cents"]),
        (&json!(0), &json!(4000))
    );
}

/// A run killed after Stripe refused a transfer, before the cancellation committed:
/// the payout is still pending and in transit, the next run cancels it, and the
/// money is paid once Stripe accepts.
async fn a_run_killed_while_cancelling_a_refused_payout_cancels_it_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let (app, stripe) = spawn(db, &["--payout-hold-days", "0"]).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    onboard(&app, &stripe, &seller).await;
    let l = listing(&app, &seller, "svc", 2000).await;
    buy_through_stripe(&app, &stripe, &buyer, &l).await;
    stripe.set_failure(Some(Failure::WritesRefused));
    let crashed = run_process(&url, &stripe, "payouts::cancel_before_commit=return").await;
    assert!(!crashed.status.success(), "the crash point aborts the run");
    let pending = payouts_of(&app, &seller).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(usd_earnings(&app, &seller).await["in_transit_cents"], 2000);
    app.assert_ledger_clean().await;

    let said = run_until_it_runs(&url, &stripe).await;
    assert!(said.contains("1 refused for good"), "{said}");
    let failed = payouts_of(&app, &seller).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], "failed");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["in_transit_cents"]),
        (&json!(2000), &json!(0))
    );
    app.assert_ledger_clean().await;

    stripe.set_failure(None);
    let said = run_until_it_runs(&url, &stripe).await;
    assert!(said.contains("1 recorded, 1 sent"), "{said}");
    assert_eq!(stripe.transfers().len(), 1);
    assert_eq!(usd_earnings(&app, &seller).await["paid_out_cents"], 2000);
    app.assert_ledger_clean().await;
}
