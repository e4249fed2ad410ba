//! `POST /api/v1/webhooks/stripe`: verified Stripe events, applied exactly once.
//!
//! The same endpoint serves the platform's events (Checkout, charges, transfers) and
//! Connect events from sellers' connected accounts (`account.updated`); each
//! endpoint registered at Stripe has its own signing secret, and both are accepted.
//!
//! The signature is checked over the raw body before anything is parsed. Each event
//! id goes into an inbox table in the same transaction as its effect: a duplicate
//! delivery finds the row and does nothing, and a failed effect rolls its row back
//! so that Stripe's retry can succeed.
//!
//! An event is applied only when it describes the checkout on record (session id,
//! amount, currency; `confirm`). A verified event that does not is stored in the
//! inbox with its reason (`webhook_events.mismatch`), logged at error, counted in
//! `udam_webhook_mismatches_total`, and answered 200 with outcome `mismatched`:
//! Stripe's retries could not fix it, and it changes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Event;
use super::webhook::verify_signature;
use crate::clock::now_ms;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::payments::confirm::{self, Applied, PaidCheckout};
use crate::state::AppState;
use crate::telemetry::labels::{StripeEventFailure, StripeEventLabel};
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

/// Counts an event in `udam_webhook_events_total`; `outcome` is the `as_str` of an
/// [`EventOutcome`] or a [`StripeEventFailure`].
fn count(event_type: StripeEventLabel, outcome: &'static str) {
    metrics::counter!("udam_webhook_events_total", "type" => event_type.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Receives a Stripe event (signed with `Stripe-Signature`).
#[utoipa::path(post, path = "/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… HMAC-SHA256 of \"{t}.{body}\"")),
    request_body(content = Object, description = "A Stripe event, verified over the raw bytes", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, ignored, a duplicate, or `mismatched` (stored with its reason; nothing changed)", body = Received),
        (status = 400, description = "`invalid_signature` or `malformed_event`; nothing changed", body = crate::error::ErrorBody),
        (status = 404, description = "Stripe is not configured", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 502, description = "A refund could not be made; retried by Stripe", body = crate::error::ErrorBody),
        (status = 503, description = "A reversed transfer's payout is not confirmed yet; retried by Stripe", body = crate::error::ErrorBody),
    ))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    // The platform endpoint's secrets and the Connect endpoint's: Stripe signs events
    // from connected accounts (`account.updated`) with the Connect endpoint's secret.
    let mut secrets = state.config.stripe_webhook_secrets();
    secrets.extend(state.config.payouts.connect_webhook_secrets());
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
        count(
            StripeEventLabel::Unverified,
            StripeEventFailure::InvalidSignature.as_str(),
        );
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
        count(
            StripeEventLabel::of(&event.event_type),
            EventOutcome::Duplicate.as_str(),
        );
        return Ok(Json(Received {
            received: true,
            outcome: EventOutcome::Duplicate,
        }));
    }
    crate::crash_point!("payments::webhook_after_inbox");
    let applied = apply(&state, &mut tx, &event).await;
    let outcome = match applied {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(mismatch)) => {
            // Stripe's retries cannot fix a mismatch: keep it, with its reason, for an
            // operator, and answer 2xx. Nothing else in the transaction changed.
            sqlx::query("UPDATE webhook_events SET mismatch = $2 WHERE id = $1")
                .bind(&event.id)
                .bind(&mismatch.0)
                .execute(&mut *tx)
                .await?;
            tracing::error!(event = %event.id, r#type = %event.event_type, reason = %mismatch.0,
                "webhook does not match the checkout on record; stored, nothing changed");
            metrics::counter!("udam_webhook_mismatches_total", "type" => StripeEventLabel::of(&event.event_type).as_str())
                .increment(1);
            EventOutcome::Mismatched
        }
        Err(err) => {
            // Dropping the transaction rolls back the inbox row with the effect.
            drop(tx);
            count(
                StripeEventLabel::of(&event.event_type),
                StripeEventFailure::Error.as_str(),
            );
            return Err(err);
        }
    };
    crate::crash_point!("payments::webhook_before_commit");
    tx.commit().await?;
    crate::crash_point!("payments::webhook_after_commit");
    if !matches!(
        outcome,
        EventOutcome::Ignored | EventOutcome::Duplicate | EventOutcome::Mismatched
    ) {
        // Units may have moved; other processes follow through the poller.
        state.cache.invalidate_all();
    }
    count(StripeEventLabel::of(&event.event_type), outcome.as_str());
    tracing::info!(event = %event.id, r#type = %event.event_type, outcome = outcome.as_str(), "webhook applied");
    Ok(Json(Received {
        received: true,
        outcome,
    }))
}

/// The effect of one verified event, inside the inbox row's transaction.
async fn apply(state: &AppState, tx: &mut Tx, event: &Event) -> Result<Applied, ApiError> {
    match event.event_type.as_str() {
        "account.updated" => return crate::payouts::connect::account_updated(tx, event).await,
        "transfer.reversed" => return crate::payouts::stripe::transfer_reversed(tx, event).await,
        _ => {}
    }
    if event.event_type == "charge.refunded" {
        return match event.charge() {
            Some(charge) => {
                crate::payments::refunds::charge_refunded(state, tx, &event.id, &charge).await
            }
            None => Ok(Ok(EventOutcome::Ignored)),
        };
    }
    let Some(session) = event.checkout_session() else {
        return Ok(Ok(EventOutcome::Ignored));
    };
    let Some(reference) = session
        .client_reference_id
        .clone()
        .or_else(|| session.metadata.get("order_id").cloned())
    else {
        return Ok(Ok(EventOutcome::Ignored));
    };
    let paid = PaidCheckout {
        session_id: &session.id,
        amount_cents: session.amount_total,
        currency: session.currency.as_deref(),
        payment_ref: session.payment_intent.as_deref(),
    };
    match event.event_type.as_str() {
        "checkout.session.completed" if session.is_paid() => {
            confirm::payment_succeeded(state, tx, &reference, &paid).await
        }
        "checkout.session.completed" => Ok(Ok(EventOutcome::AwaitingAsyncPayment)),
        "checkout.session.async_payment_succeeded" => {
            confirm::payment_succeeded(state, tx, &reference, &paid).await
        }
        "checkout.session.async_payment_failed" => {
            confirm::checkout_lapsed(tx, &reference, Some(&session.id), Lapse::Failed).await
        }
        "checkout.session.expired" => {
            confirm::checkout_lapsed(tx, &reference, Some(&session.id), Lapse::Expired).await
        }
        _ => Ok(Ok(EventOutcome::Ignored)),
    }
}
