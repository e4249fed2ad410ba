//! The SDKs in `clients/`: the committed code matches what the pinned generators make
//! of the document the server serves, and each SDK's end-to-end script (TypeScript on
//! Node, Python) drives a real `udam serve` process: register, sign in, list, buy twice
//! with one idempotency key, read the token, verify a signed webhook.
//!
//! The tools come from `ensure_sdk_tools` in `scripts/services.sh` (run by
//! `scripts/test.sh`), which also compiles the TypeScript SDK and its scripts.
//! The webhook step verifies a real delivery: before each script runs, the test registers
//! a buyer's endpoint at a local receiver, rotates its secret (so the delivery carries
//! two signatures, as during a rotation), buys, captures the signed request the server
//! posted, and hands it to the script as a `UDAM_WEBHOOK_CASE` file; the script checks it
//! with the official `standardwebhooks` package (npm, PyPI) through the SDK's helper.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, TestDb, assert_ledger_clean, create_listing, fixtures, listing_body, place_order,
    units_left,
};
use crate::webhooks_out::{LOCAL_DELIVERY, Received, Receiver, register};

crate::dual_backend_tests!(typescript_sdk_end_to_end, python_sdk_end_to_end);

/// The repository root (the crate's manifest directory).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The SDK venv's python, exported by `ensure_sdk_tools`.
fn sdk_python() -> String {
    std::env::var("UDAM_SDK_PYTHON").unwrap_or_else(|_| {
        panic!(
            "UDAM_SDK_PYTHON is not set: run the tests through scripts/test.sh, which installs \
             the SDK tools (ensure_sdk_tools in scripts/services.sh)"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_sdks_match_the_served_document() {
    sdk_python();
    let db = TestDb::new(Backend::Sqlite).await;
    let server = ServerProcess::start(&db.url, &[], &[]).await;
    let served = server
        .http
        .get(format!("{}/api/openapi.json", server.base))
        .send()
        .await
        .expect("document served");
    assert_eq!(served.status(), StatusCode::OK);
    let document = served.bytes().await.expect("document body");
    let dir = tempfile_dir("udam-sdk-fresh");
    std::fs::write(dir.join("openapi.json"), &document).expect("write document");
    let out = Command::new("bash")
        .arg(root().join("scripts/gen-sdks.sh"))
        .arg("--from")
        .arg(dir.join("openapi.json"))
        .arg("--into")
        .arg(dir.join("out"))
        .current_dir(root())
        .output()
        .await
        .expect("gen-sdks.sh runs");
    assert!(
        out.status.success(),
        "gen-sdks.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stale = Vec::new();
    compare_trees(
        &dir.join("out/typescript/src/schema.ts"),
        &root().join("clients/typescript/src/schema.ts"),
        &mut stale,
    );
    compare_trees(
        &dir.join("out/python/udam_client"),
        &root().join("clients/python/udam_client"),
        &mut stale,
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stale.is_empty(),
        "the committed SDKs are stale against the served OpenAPI document; run \
         scripts/gen-sdks.sh and commit the result. Differing files:\n  {}",
        stale.join("\n  ")
    );
}

/// A fresh, empty temporary directory.
fn tempfile_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}",
        hex::encode(udam::ids::random_bytes::<8>())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Records in `stale` every file that differs between the generated tree `fresh` and the
/// committed tree `committed` (either may be one file), ignoring Python's byte-code caches.
fn compare_trees(fresh: &Path, committed: &Path, stale: &mut Vec<String>) {
    let skip = |p: &Path| p.file_name().is_some_and(|n| n == "__pycache__");
    if fresh.is_dir() || committed.is_dir() {
        let mut names = std::collections::BTreeSet::new();
        for dir in [fresh, committed] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if !skip(&entry.path()) {
                    names.insert(entry.file_name());
                }
            }
        }
        for name in names {
            compare_trees(&fresh.join(&name), &committed.join(&name), stale);
        }
    } else if std::fs::read(fresh).ok() != std::fs::read(committed).ok() {
        stale.push(committed.display().to_string());
    }
}

async fn typescript_sdk_end_to_end(backend: Backend) {
    let script = root().join("clients/typescript/dist/test/e2e.js");
    assert!(
        script.exists(),
        "{} is missing: run the tests through scripts/test.sh, which compiles the \
         TypeScript SDK (ensure_sdk_tools)",
        script.display()
    );
    let example = root().join("clients/typescript/dist/examples/example.js");
    sdk_end_to_end(backend, "node", &script, &example).await;
}

async fn python_sdk_end_to_end(backend: Backend) {
    let script = root().join("clients/python/tests/e2e.py");
    let example = root().join("clients/python/examples/example.py");
    sdk_end_to_end(backend, &sdk_python(), &script, &example).await;
}

/// Runs one SDK's end-to-end script against a real server and checks over plain HTTP
/// that what it reports is what the server holds: one order for two units, fulfilled,
/// one token, the units taken once. Then runs the SDK's README example as that buyer (one
/// more unit) and checks the ledger balances.
async fn sdk_end_to_end(backend: Backend, program: &str, script: &Path, example: &Path) {
    let db = TestDb::new(backend).await;
    let server = ServerProcess::start(&db.url, &LOCAL_DELIVERY, &[]).await;
    let (case, delivered) = real_delivery(&server).await;
    let seen = run_script(program, script, &server.base, Some(&case)).await;
    let _ = std::fs::remove_file(&case);
    assert_eq!(seen["order_id"], seen["replayed_order_id"]);
    assert_eq!(seen["order_status"], "fulfilled");
    assert_eq!(seen["webhook"]["source"], "input");
    assert_eq!(
        seen["webhook"]["id"], delivered.id,
        "the script verified the real delivery"
    );
    assert_eq!(seen["webhook"]["type"], "order.fulfilled");

    let email = seen["buyer_email"].as_str().expect("buyer_email");
    let token = server.login(email, "correct horse battery").await;
    let orders = server.get("/api/v1/orders", Some(&token)).await;
    assert_eq!(orders.status, StatusCode::OK);
    let items = orders.body["items"].as_array().expect("orders");
    assert_eq!(items.len(), 1, "two requests with one key made one order");
    assert_eq!(items[0]["id"], seen["order_id"]);
    assert_eq!(items[0]["units"], 2);
    let tokens = server.get("/api/v1/tokens", Some(&token)).await;
    let grants = tokens.body["items"].as_array().expect("tokens");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["id"], seen["token_id"]);
    let listing = seen["listing_id"].as_str().expect("listing_id");
    assert_eq!(
        units_left(&server, listing).await,
        3,
        "5 listed, 2 bought once"
    );

    let out = Command::new(program)
        .arg(example)
        .arg(listing)
        .env("UDAM_BASE_URL", &server.base)
        .env("UDAM_EMAIL", email)
        .env("UDAM_PASSWORD", "correct horse battery")
        .env("PYTHONPATH", root().join("clients/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the example finishes in 60 s")
        .expect("the example starts");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{printed}\n{}",
        example.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains(listing),
        "the example lists the listing:\n{printed}"
    );
    assert!(
        printed.contains(": fulfilled") && printed.contains("access token: sk_"),
        "the example buys and prints the key:\n{printed}"
    );
    assert_eq!(
        units_left(&server, listing).await,
        2,
        "the example bought one more"
    );
    assert_ledger_clean(&fixtures::connect(&db.url).await).await;
}

/// A real signed delivery, written to a `UDAM_WEBHOOK_CASE` file: a buyer registers an
/// endpoint at a local receiver, rotates its secret, and buys one unit; the receiver's
/// capture of the `order.fulfilled` request (raw body, headers as sent) is written with
/// the endpoint's current secret. Returns the file and the captured request.
async fn real_delivery(server: &ServerProcess) -> (PathBuf, Received) {
    let seller = server.signup("hook-seller@example.com").await;
    let buyer = server.signup("hook-buyer@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, _) = register(server, &buyer, &rx.url, &["order.fulfilled"]).await;
    let r = server
        .post(
            &format!("/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let secret = r.body["secret"].as_str().expect("new secret").to_owned();
    let listing = create_listing(server, &seller, &listing_body("hooked", 300, 3)).await;
    let order = place_order(server, &buyer, &listing, 1).await;
    let got = rx
        .wait_until("the order.fulfilled delivery", |got| !got.is_empty())
        .await;
    let delivered = got[0].clone();
    let body = delivered.json();
    assert_eq!(body["type"], "order.fulfilled");
    assert_eq!(body["data"]["id"], order.to_string().as_str());
    assert_eq!(
        delivered.signature.split(' ').count(),
        2,
        "signed with the new and the previous secret: {}",
        delivered.signature
    );
    let case = tempfile_dir("udam-webhook-case").join("case.json");
    let content = json!({
        "payload": delivered.body,
        "headers": {
            "webhook-id": delivered.id,
            "webhook-timestamp": delivered.timestamp,
            "webhook-signature": delivered.signature,
        },
        "secret": secret,
    });
    std::fs::write(&case, serde_json::to_vec(&content).expect("json")).expect("write the case");
    (case, delivered)
}

/// Runs an SDK end-to-end script against `base` and returns the JSON line it prints.
/// `webhook_case` is a JSON file `{payload, headers, secret}` holding a real delivery for
/// the script to verify (passed as `UDAM_WEBHOOK_CASE`); `None` makes the script verify
/// its own fixture signed by the Standard Webhooks reference algorithm (for running a
/// script by hand without a receiver).
async fn run_script(
    program: &str,
    script: &Path,
    base: &str,
    webhook_case: Option<&Path>,
) -> Value {
    let mut cmd = Command::new(program);
    cmd.arg(script)
        .env("UDAM_BASE_URL", base)
        .env("PYTHONPATH", root().join("clients/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("UDAM_WEBHOOK_CASE")
        .kill_on_drop(true);
    if let Some(case) = webhook_case {
        cmd.env("UDAM_WEBHOOK_CASE", case);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in 60 s", script.display()))
        .unwrap_or_else(|e| panic!("{program} {} does not start: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "{}: last line is not JSON ({e}):\n{stdout}",
            script.display()
        )
    })
}
