//! The real Stripe client against the fake Stripe server: what goes over the
//! wire, idempotency, failures, and webhook events that parse and verify.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use udam::payments::stripe::webhook::verify_signature;
use udam::payments::stripe::{CheckoutSessionRequest, Event, StripeClient, StripeError};

use crate::fake_stripe::{Failure, FakeStripe};

const SECRET_KEY: &str = "sk_test_51UdamFakeSecretKey0000";
const WEBHOOK_SECRET: &str = "whsec_udam_fake_webhook_secret";

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit i64")
}

fn order_request(order_id: &str) -> CheckoutSessionRequest {
    CheckoutSessionRequest {
        currency: "usd".into(),
        unit_amount: 2_500,
        quantity: 4,
        product_name: "Geocoding API & maps, 10k calls".into(),
        client_reference_id: order_id.into(),
        metadata: vec![
            ("listing_id".into(), "lst_9".into()),
            ("buyer".into(), "a b&c=d ü".into()),
        ],
        success_url: format!(
            "https://udam.test/orders/{order_id}/paid?session={{CHECKOUT_SESSION_ID}}"
        ),
        cancel_url: format!("https://udam.test/orders/{order_id}"),
        expires_at: now() + 3_600,
    }
}

async fn setup() -> (FakeStripe, StripeClient) {
    let fake = FakeStripe::start(SECRET_KEY).await;
    let client = StripeClient::new(&fake.base_url(), SECRET_KEY);
    (fake, client)
}

fn assert_no_secret(err: &StripeError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET_KEY), "secret key leaked: {text}");
}

#[tokio::test]
async fn create_checkout_session_sends_stripes_form_and_reads_the_session() {
    let (fake, client) = setup().await;
    let req = order_request("ord_100");

    let session = client
        .create_checkout_session(&req, "checkout-ord_100-1")
        .await
        .expect("session created");

    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    assert!(
        session
            .url
            .as_deref()
            .is_some_and(|u| u.ends_with(&session.id))
    );
    assert_eq!(session.status.as_deref(), Some("open"));
    assert_eq!(session.payment_status, "unpaid");
    assert_eq!(session.payment_intent, None);
    assert_eq!(session.amount_total, Some(10_000));
    assert_eq!(session.currency.as_deref(), Some("usd"));
    assert_eq!(session.client_reference_id.as_deref(), Some("ord_100"));
    assert_eq!(session.expires_at, Some(req.expires_at));
    assert_eq!(
        session.metadata.get("order_id").map(String::as_str),
        Some("ord_100")
    );
    assert_eq!(
        session.metadata.get("buyer").map(String::as_str),
        Some("a b&c=d ü")
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(sent.idempotency_key.as_deref(), Some("checkout-ord_100-1"));
    assert!(
        sent.content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    );
    let field = |k: &str| sent.form_value(k);
    assert_eq!(field("mode"), Some("payment"));
    assert_eq!(field("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(
        field("line_items[0][price_data][unit_amount]"),
        Some("2500")
    );
    assert_eq!(
        field("line_items[0][price_data][product_data][name]"),
        Some("Geocoding API & maps, 10k calls")
    );
    assert_eq!(field("line_items[0][quantity]"), Some("4"));
    assert_eq!(field("client_reference_id"), Some("ord_100"));
    assert_eq!(field("metadata[order_id]"), Some("ord_100"));
    assert_eq!(field("metadata[listing_id]"), Some("lst_9"));
    assert_eq!(field("metadata[buyer]"), Some("a b&c=d ü"));
    assert_eq!(field("success_url"), Some(req.success_url.as_str()));
    assert_eq!(field("cancel_url"), Some(req.cancel_url.as_str()));
    assert_eq!(
        field("expires_at"),
        Some(req.expires_at.to_string().as_str())
    );
}

#[tokio::test]
async fn repeating_an_idempotency_key_returns_the_same_session() {
    let (fake, client) = setup().await;
    let req = order_request("ord_200");

    let first = client
        .create_checkout_session(&req, "checkout-ord_200")
        .await
        .expect("first");
    let again = client
        .create_checkout_session(&req, "checkout-ord_200")
        .await
        .expect("retry");
    assert_eq!(again, first);
    assert_eq!(
        fake.session_count(),
        1,
        "a retry must not create a second session"
    );

    let other = client
        .create_checkout_session(&req, "checkout-ord_200-b")
        .await
        .expect("new key");
    assert_ne!(other.id, first.id);
    assert_eq!(fake.session_count(), 2);
}

#[tokio::test]
async fn reusing_an_idempotency_key_with_other_parameters_is_refused() {
    let (fake, client) = setup().await;
    client
        .create_checkout_session(&order_request("ord_300"), "key-300")
        .await
        .expect("first");

    let err = client
        .create_checkout_session(&order_request("ord_301"), "key-300")
        .await
        .expect_err("same key, different order");
    match &err {
        StripeError::Api {
            status: 400,
            message,
            ..
        } => assert!(message.contains("idempotent"), "{message}"),
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(fake.session_count(), 1);
}

#[tokio::test]
async fn get_reflects_payment_and_expire_closes_an_open_session() {
    let (fake, client) = setup().await;
    let paid = client
        .create_checkout_session(&order_request("ord_400"), "k-400")
        .await
        .expect("created");
    let open = client
        .create_checkout_session(&order_request("ord_401"), "k-401")
        .await
        .expect("created");

    let completed = fake.complete_session(&paid.id);
    let fetched = client
        .get_checkout_session(&paid.id)
        .await
        .expect("retrieved");
    assert_eq!(fetched, completed);
    assert_eq!(fetched.status.as_deref(), Some("complete"));
    assert!(fetched.is_paid());
    assert!(
        fetched
            .payment_intent
            .as_deref()
            .is_some_and(|pi| pi.starts_with("pi_"))
    );

    let expired = client
        .expire_checkout_session(&open.id, "expire-401")
        .await
        .expect("expired");
    assert_eq!(expired.id, open.id);
    assert_eq!(expired.status.as_deref(), Some("expired"));
    assert_eq!(expired.url, None);
    let last = fake.requests().pop().expect("recorded");
    assert_eq!(
        last.path,
        format!("/v1/checkout/sessions/{}/expire", open.id)
    );
    assert_eq!(last.idempotency_key.as_deref(), Some("expire-401"));

    // Same key: the saved answer. New key: Stripe refuses a non-open session.
    let replay = client
        .expire_checkout_session(&open.id, "expire-401")
        .await
        .expect("replayed");
    assert_eq!(replay, expired);
    for (id, key) in [(&open.id, "expire-401-b"), (&paid.id, "expire-400")] {
        let err = client
            .expire_checkout_session(id, key)
            .await
            .expect_err("not open");
        assert!(
            matches!(err, StripeError::Api { status: 400, .. }),
            "{err:?}"
        );
    }

    let err = client
        .get_checkout_session("cs_test_missing")
        .await
        .expect_err("unknown");
    assert_eq!(
        err,
        StripeError::Api {
            status: 404,
            code: Some("resource_missing".into()),
            message: "No such checkout.session: 'cs_test_missing'".into(),
        }
    );
}

#[tokio::test]
async fn refund_a_paid_session_once() {
    let (fake, client) = setup().await;
    let session = client
        .create_checkout_session(&order_request("ord_500"), "k-500")
        .await
        .expect("created");
    let payment_intent = fake
        .complete_session(&session.id)
        .payment_intent
        .expect("paid session has a PI");

    let refund = client
        .create_refund(&payment_intent, "refund-ord_500")
        .await
        .expect("refunded");
    assert!(refund.id.starts_with("re_"), "{}", refund.id);
    assert_eq!(refund.status.as_deref(), Some("succeeded"));
    assert_eq!(
        refund.payment_intent.as_deref(),
        Some(payment_intent.as_str())
    );
    assert_eq!(refund.amount, Some(10_000));
    let sent = fake.requests().pop().expect("recorded");
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/refunds")
    );
    assert_eq!(
        sent.form,
        vec![("payment_intent".to_owned(), payment_intent.clone())]
    );
    assert_eq!(sent.idempotency_key.as_deref(), Some("refund-ord_500"));

    let retry = client
        .create_refund(&payment_intent, "refund-ord_500")
        .await
        .expect("replayed");
    assert_eq!(retry, refund, "a retried refund is the same refund");

    let err = client
        .create_refund(&payment_intent, "refund-ord_500-again")
        .await
        .expect_err("twice");
    assert!(
        matches!(&err, StripeError::Api { status: 400, code: Some(c), .. } if c == "charge_already_refunded"),
        "{err:?}"
    );
}

#[tokio::test]
async fn stripe_validation_errors_map_to_api_errors() {
    let (fake, client) = setup().await;

    let mut empty_name = order_request("ord_600");
    empty_name.product_name.clear();
    let err = client
        .create_checkout_session(&empty_name, "k-600")
        .await
        .expect_err("empty name");
    assert!(
        matches!(&err, StripeError::Api { status: 400, code: Some(c), .. } if c == "parameter_invalid_empty"),
        "{err:?}"
    );

    for expires_at in [now() + 10 * 60, now() + 25 * 3_600] {
        let mut req = order_request("ord_601");
        req.expires_at = expires_at;
        let err = client
            .create_checkout_session(&req, &format!("k-601-{expires_at}"))
            .await
            .expect_err("bad expiry");
        match &err {
            StripeError::Api {
                status: 400,
                message,
                ..
            } => assert!(message.contains("expires_at"), "{message}"),
            other => panic!("expected a 400, got {other:?}"),
        }
        assert_no_secret(&err);
    }

    // Validation failures are not saved under the key: fixing the request
    // and retrying with the same key goes through, as on Stripe.
    let fixed = client
        .create_checkout_session(&order_request("ord_600"), "k-600")
        .await
        .expect("retry after fixing the request");
    assert_eq!(fixed.client_reference_id.as_deref(), Some("ord_600"));
    assert_eq!(fake.session_count(), 1);
}

#[tokio::test]
async fn fake_rejects_requests_missing_stripe_parameters() {
    // Guards the fake itself: a client that forgot a field must fail here
    // the way it would fail against Stripe.
    let fake = FakeStripe::start(SECRET_KEY).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/checkout/sessions", fake.base_url()))
        .bearer_auth(SECRET_KEY)
        .form(&[("mode", "payment"), ("line_items[0][quantity]", "1")])
        .send()
        .await
        .expect("fake answers");
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json error body");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(
        body["error"]["param"],
        "line_items[0][price_data][currency]"
    );
    assert_eq!(fake.session_count(), 0);
}

#[tokio::test]
async fn wrong_api_key_is_a_401_without_the_key_in_the_error() {
    let fake = FakeStripe::start(SECRET_KEY).await;
    let wrong = "sk_test_51SomebodyElsesKey9999";
    let client = StripeClient::new(&fake.base_url(), wrong);

    let err = client
        .create_checkout_session(&order_request("ord_700"), "k-700")
        .await
        .expect_err("unauthorised");
    assert!(
        matches!(err, StripeError::Api { status: 401, .. }),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(wrong) && !text.contains(SECRET_KEY),
        "{text}"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.session_count(), 0);
}

#[tokio::test]
async fn stripe_500_is_a_retryable_api_error_and_the_retry_succeeds() {
    let (fake, client) = setup().await;
    let req = order_request("ord_800");
    fake.set_failure(Some(Failure::ServerError));

    let err = client
        .create_checkout_session(&req, "k-800")
        .await
        .expect_err("down");
    assert!(
        matches!(err, StripeError::Api { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_no_secret(&err);
    assert_eq!(fake.session_count(), 0);

    fake.set_failure(None);
    let session = client
        .create_checkout_session(&req, "k-800")
        .await
        .expect("recovered");
    assert_eq!(session.client_reference_id.as_deref(), Some("ord_800"));
    assert_eq!(fake.session_count(), 1);
}

#[tokio::test]
async fn stripe_400_is_a_non_retryable_api_error() {
    let (fake, client) = setup().await;
    fake.set_failure(Some(Failure::BadRequest));

    let err = client
        .create_refund("pi_123", "k-900")
        .await
        .expect_err("rejected");
    assert!(
        matches!(err, StripeError::Api { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_no_secret(&err);
}

#[tokio::test]
async fn closed_port_is_a_network_error() {
    // Bind, note the port, close it: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = StripeClient::new(&format!("http://127.0.0.1:{port}"), SECRET_KEY);

    let err = client
        .create_checkout_session(&order_request("ord_1000"), "k-1000")
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, StripeError::Network(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_no_secret(&err);
}

#[tokio::test]
async fn hanging_stripe_times_out_as_a_network_error() {
    let fake = FakeStripe::start(SECRET_KEY).await;
    let client = StripeClient::with_timeouts(
        &fake.base_url(),
        SECRET_KEY,
        Duration::from_millis(500),
        Duration::from_millis(300),
    );
    fake.set_failure(Some(Failure::Hang));

    let err = client
        .expire_checkout_session("cs_test_x", "k-1100")
        .await
        .expect_err("hangs");
    match &err {
        StripeError::Network(message) => assert!(message.contains("timed out"), "{message}"),
        other => panic!("expected a network error, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 1, "the request did reach the server");
    assert_no_secret(&err);
}

#[tokio::test]
async fn ids_that_are_not_stripe_ids_are_refused_before_sending() {
    let (fake, client) = setup().await;
    let err = client
        .expire_checkout_session("../refunds", "k-1200")
        .await
        .expect_err("bad id");
    assert!(matches!(err, StripeError::Invalid(_)), "{err:?}");
    let err = client
        .create_refund("pi_1", "key with spaces")
        .await
        .expect_err("bad key");
    assert!(matches!(err, StripeError::Invalid(_)), "{err:?}");
    assert!(fake.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Webhook events built by the fake verify and parse with the crate's code.
// ---------------------------------------------------------------------------

fn receive(body: &str) -> Event {
    let header = FakeStripe::signed_header(body, WEBHOOK_SECRET);
    verify_signature(
        &header,
        body.as_bytes(),
        &["whsec_previous".to_owned(), WEBHOOK_SECRET.to_owned()],
        Duration::from_secs(300),
        now(),
    )
    .expect("fake's signature verifies");
    Event::parse(body.as_bytes()).expect("fake's event parses")
}

async fn open_session(client: &StripeClient, order_id: &str) -> String {
    client
        .create_checkout_session(&order_request(order_id), &format!("checkout-{order_id}"))
        .await
        .expect("created")
        .id
}

#[tokio::test]
async fn completed_event_carries_the_paid_session() {
    let (fake, client) = setup().await;
    let id = open_session(&client, "ord_1300").await;
    let paid = fake.complete_session(&id);

    let event = receive(&fake.checkout_completed_event(&id));
    assert!(event.id.starts_with("evt_"));
    assert_eq!(event.event_type, "checkout.session.completed");
    assert!(!event.livemode);
    assert!((event.created - now()).abs() < 60);
    let session = event.checkout_session().expect("a checkout session");
    assert_eq!(session, paid);
    assert!(session.is_paid());
    assert_eq!(session.client_reference_id.as_deref(), Some("ord_1300"));
    assert_eq!(
        session.metadata.get("order_id").map(String::as_str),
        Some("ord_1300")
    );
    assert_eq!(event.charge_payment_intent(), None);
}

#[tokio::test]
async fn delayed_payment_events_follow_the_session() {
    let (fake, client) = setup().await;
    let ok = open_session(&client, "ord_1400").await;
    let bad = open_session(&client, "ord_1401").await;
    fake.complete_session_unpaid(&ok);
    fake.complete_session_unpaid(&bad);

    let event = receive(&fake.checkout_completed_event(&ok));
    let session = event.checkout_session().expect("session");
    assert_eq!(session.status.as_deref(), Some("complete"));
    assert_eq!(session.payment_status, "unpaid");
    assert!(session.payment_intent.is_some());

    fake.settle_async_payment(&ok, true);
    let event = receive(&fake.async_payment_succeeded_event(&ok));
    assert_eq!(event.event_type, "checkout.session.async_payment_succeeded");
    assert!(event.checkout_session().expect("session").is_paid());

    fake.settle_async_payment(&bad, false);
    let event = receive(&fake.async_payment_failed_event(&bad));
    assert_eq!(event.event_type, "checkout.session.async_payment_failed");
    assert_eq!(
        event.checkout_session().expect("session").payment_status,
        "unpaid"
    );

    assert_ne!(
        receive(&fake.checkout_completed_event(&ok)).id,
        receive(&fake.checkout_completed_event(&ok)).id,
        "every event has its own id"
    );
}

#[tokio::test]
async fn expired_event_carries_the_expired_session() {
    let (fake, client) = setup().await;
    let id = open_session(&client, "ord_1500").await;
    fake.expire_session(&id);

    let event = receive(&fake.session_expired_event(&id));
    assert_eq!(event.event_type, "checkout.session.expired");
    let session = event.checkout_session().expect("session");
    assert_eq!(Some(&session), fake.session(&id).as_ref());
    assert_eq!(session.status.as_deref(), Some("expired"));
    assert_eq!(session.payment_intent, None);
    assert_eq!(session.client_reference_id.as_deref(), Some("ord_1500"));
    // Stripe itself refuses to expire it again through the API.
    let err = client
        .expire_checkout_session(&id, "expire-1500")
        .await
        .expect_err("already expired");
    assert!(
        matches!(err, StripeError::Api { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn charge_refunded_event_names_the_payment_intent() {
    let (fake, client) = setup().await;
    let id = open_session(&client, "ord_1600").await;
    let payment_intent = fake.complete_session(&id).payment_intent.expect("PI");
    client
        .create_refund(&payment_intent, "refund-1600")
        .await
        .expect("refunded");

    let body = fake.charge_refunded_event(&payment_intent);
    let event = receive(&body);
    assert_eq!(event.event_type, "charge.refunded");
    assert_eq!(
        event.charge_payment_intent().as_deref(),
        Some(payment_intent.as_str())
    );
    assert_eq!(event.checkout_session(), None);
    assert_eq!(event.data.object["refunded"], true);
    assert_eq!(event.data.object["amount_refunded"], 10_000);
}

#[tokio::test]
async fn a_fake_event_signed_with_another_secret_is_rejected() {
    let (fake, client) = setup().await;
    let id = open_session(&client, "ord_1700").await;
    fake.complete_session(&id);
    let body = fake.checkout_completed_event(&id);
    let header = FakeStripe::signed_header(&body, "whsec_attacker");

    let verdict = verify_signature(
        &header,
        body.as_bytes(),
        &[WEBHOOK_SECRET.to_owned()],
        Duration::from_secs(300),
        now(),
    );
    assert_eq!(
        verdict,
        Err(udam::payments::stripe::SignatureError::NoMatch)
    );
}
