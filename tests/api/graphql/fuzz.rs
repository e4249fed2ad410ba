//! schemathesis in its GraphQL mode against `/graphql`, signed in, with real ids to
//! reach real rows: no HTTP 5xx, no `internal_error`, every error coded, every
//! response a GraphQL response.
//!
//! schemathesis's own `not_a_server_error` check counts any error with a `path` as
//! a server failure, so a correct `not_found` for a random id would fail it; the
//! hook below checks what "no server error" means here instead.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp, create_listing, listing_body, order};

crate::dual_backend_tests!(schemathesis_finds_no_server_error_in_graphql);

const HOOKS: &str = r#"
import schemathesis


@schemathesis.check
def udam_no_server_error(ctx, response, case):
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:300]}")
    if response.status_code != 200:
        # A refusal before GraphQL ran: the REST envelope.
        code = response.json()["error"]["code"]
        if not code:
            raise AssertionError("an error without a code")
        return
    body = response.json()
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        raise AssertionError(f"not a GraphQL response: {response.text[:300]}")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if not code:
            raise AssertionError(f"an error without extensions.code: {error}")
        if code == "internal_error":
            raise AssertionError(f"internal error: {error}")
"#;

async fn schemathesis_finds_no_server_error_in_graphql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("fuzz@example.com").await;
    let seller = app.signup("fuzz-seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("fuzz", 100, 1_000_000)).await;
    let bought = order(&app, &token, &listing, 1).await;
    assert_eq!(bought.status, StatusCode::CREATED);

    let dir = std::env::temp_dir().join(format!(
        "udam-gql-fuzz-{}",
        hex::encode(udam::ids::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("udam_gql_hooks.py"), HOOKS).unwrap();
    let out = Command::new(crate::fuzz::schemathesis())
        .env("SCHEMATHESIS_HOOKS", "udam_gql_hooks")
        .env("PYTHONPATH", &dir)
        .args(["--no-color", "run", &format!("{}/graphql", app.base)])
        .args(["--checks", "udam_no_server_error"])
        .args(["--max-examples", "25", "--workers", "2", "--seed", "7"])
        .args(["--suppress-health-check", "all", "--request-timeout", "10"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("schemathesis (GraphQL):\n{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // Every root field (queries and mutations, 17 when this was written) was selected
    // and tested: "Operations: N selected / N total".
    let counts: Vec<usize> = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("Operations:"))
        .map(|line| {
            line.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        counts.len() == 2 && counts[0] == counts[1] && counts[0] >= 17,
        "every query and mutation was tested:\n{stdout}"
    );

    // The server still answers normally afterwards.
    let r = super::gql(&app, Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(super::data(&r)["me"]["email"], "fuzz@example.com");
}
