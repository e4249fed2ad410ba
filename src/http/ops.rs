//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The probe routes, at the root.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Probe answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` on success.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can serve: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = crate::error::ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    if state.db.ping().await {
        Ok(Json(Health { status: "ok" }))
    } else {
        Err(ApiError::unavailable("the database does not answer"))
    }
}
