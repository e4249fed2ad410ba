//! Property-based fuzzing of the whole JSON API with schemathesis, against a real
//! server (with Stripe configured against the fake), signed in, every check on:
//! no 5xx, and no response the OpenAPI document does not describe.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp, create_listing, listing_body, order};
use crate::fake_stripe::FakeStripe;

crate::dual_backend_tests!(schemathesis_finds_nothing);

/// The schemathesis executable `scripts/test.sh` installs (also the GraphQL run's).
pub fn schemathesis() -> String {
    std::env::var("UDAM_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("UDAM_SCHEMATHESIS is not set: run the tests through scripts/test.sh, which installs schemathesis")
    })
}

async fn schemathesis_finds_nothing(backend: Backend) {
    let stripe = FakeStripe::start("sk_test_fuzz").await;
    let base = stripe.base_url();
    let app = TestApp::spawn_with(
        backend,
        &[
            "--stripe-secret-key",
            "sk_test_fuzz",
            "--stripe-webhook-secret",
            "whsec_fuzz",
            "--stripe-api-base",
            &base,
        ],
    )
    .await;
    let token = app.signup("fuzz@example.com").await;
    // Another account sells: a seller cannot buy their own listing (409 own_listing).
    let seller = app.signup("fuzz-seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("fuzz", 100, 1_000_000)).await;
    let bought = order(&app, &token, &listing, 1).await;
    assert_eq!(bought.status, StatusCode::CREATED);
    let order_id = bought.body["order"]["id"].as_str().unwrap().to_owned();
    let grant = app.get("/api/v1/tokens", Some(&token)).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A webhook endpoint at a documentation address (never routed) and a delivery.
    let hook = app
        .post(
            "/api/v1/webhook-endpoints",
            &json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]}),
            Some(&token),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = app
        .post(
            &format!("/api/v1/webhook-endpoints/{hook}/test"),
            &json!({}),
            Some(&token),
        )
        .await
        .body["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let dir = std::env::temp_dir().join(format!(
        "udam-fuzz-{}",
        hex::encode(udam::ids::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    // Real ids so that operations on one resource reach real rows, and the few
    // rejections no schema can express: an opaque cursor that does not decode,
    // units × price overflowing or an idempotency key reused with another body, and
    // a Stripe-Signature that does not verify.
    std::fs::write(
        &config,
        format!(
            r#"
# 413 (body over the size limit) is a rejection too.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[[operations]]
include-path-regex = "^/api/v1/orders/\\{{id\\}}"
parameters = {{ id = "{order_id}" }}

[[operations]]
include-path-regex = "^/api/v1/tokens/\\{{id\\}}/revoke$"
parameters = {{ id = "{grant}" }}

[[operations]]
include-name = "POST /api/v1/orders"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "502"]

# Gateway usage exists only for gateway listings (409 `not_gateway_delivery`), and
# only gateway listings take gateway settings (422): no schema can say which is which.
[[operations]]
include-path-regex = "/usage$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "PATCH /api/v1/listings/{{id}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-path-regex = "^/api/v1/(listings|orders|sales|tokens)$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "304", "401", "404", "422", "429"]

# Endpoint URLs must be https and public, and descriptions free of control
# characters: rules beyond the schema (422).
[[operations]]
include-path-regex = "^/api/v1/webhook-endpoints/\\{{id\\}}"
parameters = {{ id = "{hook}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "422", "429"]

[[operations]]
include-path-regex = "^/api/v1/webhook-endpoints/deliveries/"
parameters = {{ id = "{delivery}" }}

[[operations]]
include-path-regex = "^/api/v1/webhook-endpoints$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "422", "429"]

[[operations]]
include-name = "POST /api/v1/webhooks/stripe"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "429"]

[[operations]]
include-path-regex = "^/api/v1/(earnings/entries|payouts)$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "422", "429"]

# Administrator routes: the fuzzing user is not one (403).
[[operations]]
include-path-regex = "^/api/v1/admin/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422", "429"]
"#
        ),
    )
    .unwrap();

    let run = |bearer: &str, filter: &[&str]| {
        let out = Command::new(schemathesis())
            .args(["--config-file", config.to_str().unwrap(), "--no-color"])
            .args(["run", &format!("{}/api/openapi.json", app.base)])
            .args([
                "--checks",
                "all",
                // Two workers run the stateful phase at once on one user's resources:
                // one may delete a webhook endpoint the other has just created, and
                // the 404 that follows is right.
                "--exclude-checks",
                "ensure_resource_availability",
                "--max-examples",
                "25",
                "--workers",
                "2",
                "--seed",
                "7",
            ])
            .args(["--suppress-health-check", "all", "--request-timeout", "10"])
            .args(["-H", &format!("Authorization: Bearer {bearer}")])
            .args(filter)
            .output()
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Everything but the logouts (which would end the session the run uses), then those.
    let (ok, stdout, stderr) = run(&token, &["--exclude-path-regex", "logout"]);
    // Shown with `--no-capture`: the operations tested, cases generated, warnings.
    println!("schemathesis:\n{stdout}");
    assert!(ok, "schemathesis found problems:\n{stdout}\n{stderr}");
    let fresh = app.login("fuzz@example.com", "correct horse battery").await;
    let (ok, stdout, stderr) = run(&fresh, &["--include-path-regex", "logout"]);
    assert!(
        ok,
        "schemathesis found problems in the logouts:\n{stdout}\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The server still answers normally afterwards.
    let after = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "fuzz@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
}
