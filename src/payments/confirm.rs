//! The effects of payment events, shared by every way they can arrive: a verified
//! Stripe webhook, the sweeper asking Stripe about a lapsed checkout, and the dev
//! checkout's buttons. Each runs inside the caller's transaction, and each posts its
//! journal transaction (docs/LEDGER.md) in that same transaction.
//!
//! An event is bound to what it pays: it is applied only when its checkout session,
//! amount and currency are the ones on record for the order or settlement it names.
//! Anything else is a [`Mismatch`]: the caller records it and changes nothing
//! (docs/PAYMENTS.md).

use crate::db::Tx;
use crate::error::{ApiError, ErrorCode};
use crate::ledger::{self, FeeRate, Sale};
use crate::orders::lifecycle::{self, Confirmation};
use crate::orders::model::Order;
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse, ProviderName};

/// The platform's fee on sales paid here: `--platform-fee-bps`, the same rate the
/// instant sales use.
pub fn fee_rate(state: &AppState) -> FeeRate {
    state.config.platform_fee_bps
}

/// What a paid checkout says it paid, as the provider reported it.
#[derive(Clone, Copy, Debug)]
pub struct PaidCheckout<'a> {
    /// The provider's checkout session id (`cs_…`, `dev_…`).
    pub session_id: &'a str,
    /// The amount collected, minor units (`None`: the provider did not say).
    pub amount_cents: Option<i64>,
    /// The currency collected, lowercase ISO 4217.
    pub currency: Option<&'a str>,
    /// The provider's payment reference (Stripe's PaymentIntent), for refunds.
    pub payment_ref: Option<&'a str>,
}

/// Why a verified event was not applied: it does not describe the checkout on record
/// for the order or settlement it names. Safe to store and log (ids and amounts only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch(pub String);

/// An event's effect: applied (with its outcome), or refused as a [`Mismatch`].
pub type Applied = Result<EventOutcome, Mismatch>;

/// Compares what a checkout paid with what is on record. `None` when they agree.
pub(crate) fn binding_mismatch(
    paid: &PaidCheckout<'_>,
    session_on_record: Option<&str>,
    total_cents: i64,
    currency: &str,
) -> Option<Mismatch> {
    if session_on_record != Some(paid.session_id) {
        return Some(Mismatch(format!(
            "session {} is not the checkout on record ({})",
            paid.session_id,
            session_on_record.unwrap_or("none")
        )));
    }
    if paid.amount_cents != Some(total_cents) {
        return Some(Mismatch(format!(
            "amount {:?} differs from the {total_cents} on record",
            paid.amount_cents
        )));
    }
    if paid.currency != Some(currency) {
        return Some(Mismatch(format!(
            "currency {:?} differs from the {currency} on record",
            paid.currency
        )));
    }
    None
}

/// The sale an order records in the journal.
fn sale_of(order: &Order) -> Sale<'_> {
    Sale {
        order_id: &order.id,
        buyer_id: &order.buyer_id,
        seller_id: &order.seller_id,
        currency: &order.currency,
        total_cents: order.total_cents,
    }
}

/// A ledger refusal inside a payment event: a bug or corrupt data, never the
/// payer's fault. It rolls the event back (a 500 the provider retries).
pub(crate) fn ledger_failed(err: ledger::LedgerError) -> ApiError {
    match err {
        ledger::LedgerError::Database(db) => db.into(),
        other => ApiError::internal(other),
    }
}

/// A checkout was paid. `reference` is an order id (`ord_…`) or a settlement id
/// (`stl_…`).
///
/// A payment that pays for nothing (units released and gone; a lapsed settlement
/// whose orders were paid since) is recorded as unapplied and refunded here, before
/// the transaction commits: if the refund call fails, everything rolls back and the
/// provider's retry of the event tries again (the refund's idempotency key makes a
/// second attempt safe).
///
/// A refund of this payment reported before it (Stripe's events come in any order)
/// was held; it is applied here, in the same transaction (`refunds::apply_held`).
pub async fn payment_succeeded(
    state: &AppState,
    tx: &mut Tx,
    reference: &str,
    paid: &PaidCheckout<'_>,
) -> Result<Applied, ApiError> {
    let Some(payment_ref) = paid.payment_ref else {
        return record_payment(state, tx, reference, paid).await;
    };
    super::refunds::lock_payment(state, tx, payment_ref).await?;
    let applied = record_payment(state, tx, reference, paid).await?;
    if applied.is_ok() {
        super::refunds::apply_held(state, tx, payment_ref).await?;
    }
    Ok(applied)
}

/// [`payment_succeeded`] without the held refunds.
async fn record_payment(
    state: &AppState,
    tx: &mut Tx,
    reference: &str,
    paid: &PaidCheckout<'_>,
) -> Result<Applied, ApiError> {
    if reference.starts_with("stl_") {
        return super::settlement::pay(state, tx, reference, paid).await;
    }
    let Some(order) = lifecycle::order_in(tx, reference).await? else {
        return Ok(Ok(EventOutcome::UnknownOrder));
    };
    if let Some(mismatch) = binding_mismatch(
        paid,
        order.provider_session_id.as_deref(),
        order.total_cents,
        &order.currency,
    ) {
        return Ok(Err(mismatch));
    }
    let provider = order.provider.unwrap_or(ProviderName::Dev).as_str();
    match lifecycle::confirm_payment(tx, reference, paid.payment_ref).await? {
        Confirmation::Fulfilled => {
            let txn = ledger::paid_sale(&sale_of(&order), fee_rate(state), provider)
                .map_err(ledger_failed)?;
            ledger::post(tx, &txn).await.map_err(ledger_failed)?;
            Ok(Ok(EventOutcome::Fulfilled))
        }
        Confirmation::AlreadyFulfilled | Confirmation::AlreadyRefunded => {
            Ok(Ok(EventOutcome::Duplicate))
        }
        Confirmation::Unknown => Ok(Ok(EventOutcome::UnknownOrder)),
        Confirmation::MustRefund => {
            return_unapplied(
                state,
                tx,
                Unapplied {
                    subject_id: &order.id,
                    buyer_id: &order.buyer_id,
                    provider,
                    currency: &order.currency,
                    amount_cents: order.total_cents,
                    payment_ref: paid.payment_ref,
                },
            )
            .await?;
            Ok(Ok(EventOutcome::Refunded))
        }
    }
}

/// A payment that pays for nothing, to be given back.
pub(crate) struct Unapplied<'a> {
    /// The order or settlement it named.
    pub subject_id: &'a str,
    /// Who paid.
    pub buyer_id: &'a str,
    /// Through which provider.
    pub provider: &'a str,
    /// Currency.
    pub currency: &'a str,
    /// How much.
    pub amount_cents: i64,
    /// The payment to refund.
    pub payment_ref: Option<&'a str>,
}

/// Records a payment that pays for nothing (`unapplied_payment`), refunds it in full
/// at the provider, and records the money given back (`payment_returned`), all in
/// the caller's transaction.
pub(crate) async fn return_unapplied(
    state: &AppState,
    tx: &mut Tx,
    payment: Unapplied<'_>,
) -> Result<(), ApiError> {
    let received = ledger::unapplied_payment(
        payment.subject_id,
        payment.buyer_id,
        payment.provider,
        payment.currency,
        payment.amount_cents,
    )
    .map_err(ledger_failed)?;
    ledger::post(tx, &received).await.map_err(ledger_failed)?;
    // A refund in full reported before this payment (held) means the money is back
    // with the payer already: the provider would refuse a second refund, and every
    // retry of this event with it.
    let refunded = match payment.payment_ref {
        Some(payment_ref) => {
            super::refunds::held_in_full(tx, payment_ref, payment.amount_cents).await?
        }
        None => false,
    };
    if let Some(payment_ref) = payment.payment_ref.filter(|_| !refunded) {
        let key = format!("udam-refund-{}", payment.subject_id);
        state
            .payments
            .refund(payment_ref, &key)
            .await
            .map_err(|err| {
                ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    ErrorCode::PaymentProviderUnavailable,
                    format!("refunding a payment that pays for nothing failed; it will be retried: {err}"),
                )
            })?;
    }
    let returned = ledger::payment_returned(
        payment.subject_id,
        payment.buyer_id,
        payment.provider,
        payment.currency,
        payment.amount_cents,
    )
    .map_err(ledger_failed)?;
    ledger::post(tx, &returned).await.map_err(ledger_failed)?;
    Ok(())
}

/// A checkout lapsed (`expired`), was cancelled, or its delayed payment failed
/// (`failed`): release what it reserved, exactly once, however often it is reported.
/// `session_id` is the session the report is about: a report about any other session
/// than the one on record is a [`Mismatch`] and releases nothing.
pub async fn checkout_lapsed(
    tx: &mut Tx,
    reference: &str,
    session_id: Option<&str>,
    why: Lapse,
) -> Result<Applied, ApiError> {
    if reference.starts_with("stl_") {
        return super::settlement::lapse(tx, reference, session_id, why.settlement_status()).await;
    }
    let Some(order) = lifecycle::order_in(tx, reference).await? else {
        return Ok(Ok(EventOutcome::UnknownOrder));
    };
    if session_id.is_some() && order.provider_session_id.as_deref() != session_id {
        return Ok(Err(Mismatch(format!(
            "session {} is not the checkout on record ({})",
            session_id.unwrap_or_default(),
            order.provider_session_id.as_deref().unwrap_or("none")
        ))));
    }
    let released = lifecycle::release_in(tx, reference, why.order_status()).await?;
    Ok(Ok(if released {
        EventOutcome::Released
    } else {
        EventOutcome::Duplicate
    }))
}
