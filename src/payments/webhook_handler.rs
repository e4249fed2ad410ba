//! `POST /api/v1/webhooks/stripe`: verified Stripe events, applied exactly once.
//!
//! The signature is checked over the raw body before anything is parsed. Each event
//! id goes into an inbox table in the same transaction as its effect: a duplicate
//! delivery finds the row and does nothing, and a failed effect rolls its row back
//! so that Stripe's retry can succeed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::confirm;
use super::stripe::Event;
use super::stripe::webhook::verify_signature;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse};

/// The webhook route, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stripe_webhook))
}

/// Acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
    /// What the event did.
    pub outcome: EventOutcome,
}

fn count(event_type: &str, outcome: &'static str) {
    // Event types are a bounded set chosen by Stripe; unknown ones share a label.
    let label = match event_type {
        "checkout.session.completed"
        | "checkout.session.async_payment_succeeded"
        | "checkout.session.async_payment_failed"
        | "checkout.session.expired"
        | "charge.refunded" => event_type.to_owned(),
        _ => "other".to_owned(),
    };
    metrics::counter!("udam_webhook_events_total", "type" => label, "outcome" => outcome)
        .increment(1);
}

/// Receives a Stripe event (signed with `Stripe-Signature`).
#[utoipa::path(post, path = "/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… HMAC-SHA256 of \"{t}.{body}\"")),
    request_body(content = Object, description = "A Stripe event, verified over the raw bytes", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, ignored or a duplicate", body = Received),
        (status = 400, description = "`invalid_signature` or `malformed_event`; nothing changed", body = crate::error::ErrorBody),
        (status = 404, description = "Stripe is not configured", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 502, description = "A refund could not be made; retried by Stripe", body = crate::error::ErrorBody),
    ))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let secrets = state.config.stripe_webhook_secrets();
    if secrets.is_empty() {
        return Err(ApiError::not_found(
            "webhook endpoint (Stripe is not configured)",
        ));
    }
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = now_ms() / 1000;
    if let Err(err) = verify_signature(
        signature,
        &body,
        &secrets,
        state.config.stripe_webhook_tolerance.0,
        now,
    ) {
        count("unverified", "invalid_signature");
        tracing::warn!(reason = %err, "rejected a webhook with a bad signature");
        return Err(ApiError::bad_request(
            ErrorCode::InvalidSignature,
            "the Stripe-Signature does not verify",
        ));
    }
    let event = Event::parse(&body).map_err(|_| {
        ApiError::bad_request(ErrorCode::MalformedEvent, "the body is not a Stripe event")
    })?;

    let mut tx = state.db.begin_write().await?;
    let fresh = sqlx::query(
        "INSERT INTO webhook_events (id, event_type, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if fresh.rows_affected() == 0 {
        tx.rollback().await?;
        count(&event.event_type, EventOutcome::Duplicate.as_str());
        return Ok(Json(Received {
            received: true,
            outcome: EventOutcome::Duplicate,
        }));
    }
    let session = event.checkout_session();
    let reference = session.as_ref().and_then(|s| {
        s.client_reference_id
            .clone()
            .or_else(|| s.metadata.get("order_id").cloned())
    });
    let applied = match (event.event_type.as_str(), &session, &reference) {
        ("checkout.session.completed", Some(s), Some(r)) if s.is_paid() => {
            confirm::payment_succeeded(&state, &mut tx, r, s.payment_intent.as_deref()).await
        }
        ("checkout.session.completed", Some(_), Some(_)) => Ok(EventOutcome::AwaitingAsyncPayment),
        ("checkout.session.async_payment_succeeded", Some(s), Some(r)) => {
            confirm::payment_succeeded(&state, &mut tx, r, s.payment_intent.as_deref()).await
        }
        ("checkout.session.async_payment_failed", Some(_), Some(r)) => {
            confirm::checkout_lapsed(&mut tx, r, Lapse::Failed).await
        }
        ("checkout.session.expired", Some(_), Some(r)) => {
            confirm::checkout_lapsed(&mut tx, r, Lapse::Expired).await
        }
        ("charge.refunded", _, _) => match event.charge_payment_intent() {
            Some(pi) => confirm::charge_refunded(&mut tx, &pi).await,
            None => Ok(EventOutcome::Ignored),
        },
        _ => Ok(EventOutcome::Ignored),
    };
    match applied {
        Ok(outcome) => {
            tx.commit().await?;
            if !matches!(outcome, EventOutcome::Ignored | EventOutcome::Duplicate) {
                // Units may have moved; other processes follow through the poller.
                state.cache.invalidate_all();
            }
            count(&event.event_type, outcome.as_str());
            tracing::info!(event = %event.id, r#type = %event.event_type, outcome = outcome.as_str(), "webhook applied");
            Ok(Json(Received {
                received: true,
                outcome,
            }))
        }
        Err(err) => {
            // Dropping the transaction rolls back the inbox row with the effect.
            drop(tx);
            count(&event.event_type, "error");
            Err(err)
        }
    }
}
