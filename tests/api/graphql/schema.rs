//! The SDL at `/api/schema.graphql`, snapshotted, and introspection.

use reqwest::StatusCode;
use serde_json::json;

use super::{data, gql};
use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(sdl_is_served_and_introspection_is_on);

async fn sdl_is_served_and_introspection_is_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .http
        .get(format!("{}/api/schema.graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sdl = r.text().await.unwrap();
    assert_eq!(sdl, udam::graphql::schema().sdl());
    insta::assert_snapshot!("graphql_sdl", sdl);

    let r = gql(
        &app,
        None,
        "{ __schema { queryType { name } mutationType { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data(&r)["__schema"],
        json!({"queryType": {"name": "QueryRoot"}, "mutationType": {"name": "MutationRoot"}})
    );
}
