//! The OpenAPI document: served, complete, and pinned by a snapshot so that every
//! change to the API's description is deliberate.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp};

/// Pinned with insta, so a change shows as a diff of the document. After a deliberate
/// change, review and accept it with `cargo insta review` (or rerun with
/// `INSTA_UPDATE=always`) and commit `tests/snapshots/openapi.snap`.
#[test]
fn document_matches_snapshot() {
    let (_, doc) = udam::http::routes_and_doc();
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_json_snapshot!("openapi", doc);
    });
}

#[test]
fn every_operation_documents_its_errors() {
    let (_, doc) = udam::http::routes_and_doc();
    let json = serde_json::to_value(&doc).unwrap();
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for status in ["429", "500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            }
        }
    }
}

crate::dual_backend_tests!(served_document_and_docs_page);

async fn served_document_and_docs_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.get("/api/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    assert!(r.body["paths"]["/api/v1/auth/login"]["post"].is_object());
    let page = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("swagger"),
        "the interactive docs page is served locally"
    );
    assert!(
        !html.contains("cdn."),
        "the docs page loads nothing from a CDN"
    );
}
