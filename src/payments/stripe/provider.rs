//! Stripe Checkout as a [`PaymentProvider`].

use super::client::SESSION_LIFETIME;
use super::{CheckoutSessionRequest, StripeClient, StripeError};
use crate::provider::{
    Checkout, CheckoutRequest, ExpireOutcome, PaymentProvider, ProviderError, ProviderFuture,
};
use crate::vocab::CheckoutKind;

/// Stripe Checkout behind the provider seam.
#[derive(Debug)]
pub struct StripeProvider {
    client: StripeClient,
    return_urls: ReturnUrls,
}

/// `--stripe-success-url` / `--stripe-cancel-url`: where Stripe sends the payer of an
/// order back, with `{ORDER_ID}` replaced by the order's id. Unset, the UI's order
/// pages. A settlement's payer always returns to the balance page: the templates
/// name an order, and a settlement is not one.
#[derive(Clone, Debug, Default)]
pub struct ReturnUrls {
    /// After paying.
    pub success: Option<String>,
    /// After giving up.
    pub cancel: Option<String>,
}

impl ReturnUrls {
    fn pick(template: Option<&String>, fallback: &str, req: &CheckoutRequest) -> String {
        match template {
            Some(t) if req.kind == CheckoutKind::Order => t.replace("{ORDER_ID}", &req.reference),
            _ => fallback.to_owned(),
        }
    }
}

impl StripeProvider {
    /// A provider talking to `api_base` with `secret_key`, sending payers back to
    /// `return_urls`.
    pub fn new(api_base: &str, secret_key: &str, return_urls: ReturnUrls) -> Self {
        Self {
            client: StripeClient::new(api_base, secret_key),
            return_urls,
        }
    }
}

fn provider_error(err: StripeError) -> ProviderError {
    // StripeError's Display never carries the secret key.
    ProviderError(err.to_string())
}

impl PaymentProvider for StripeProvider {
    fn name(&self) -> crate::vocab::ProviderName {
        crate::vocab::ProviderName::Stripe
    }

    fn create_checkout<'a>(&'a self, req: &'a CheckoutRequest) -> ProviderFuture<'a, Checkout> {
        Box::pin(async move {
            let request = CheckoutSessionRequest {
                currency: req.currency.clone(),
                unit_amount: req.unit_amount,
                quantity: req.quantity,
                product_name: req.product_name.clone(),
                client_reference_id: req.reference.clone(),
                metadata: vec![("kind".to_owned(), req.kind.as_str().to_owned())],
                success_url: ReturnUrls::pick(
                    self.return_urls.success.as_ref(),
                    &req.success_url,
                    req,
                ),
                cancel_url: ReturnUrls::pick(
                    self.return_urls.cancel.as_ref(),
                    &req.cancel_url,
                    req,
                ),
                expires_at: session_expiry(req.expires_at_ms, crate::clock::now_ms()),
            };
            // One checkout per reservation, even if this call is retried.
            let key = format!("udam-checkout-{}", req.reference);
            let session = self
                .client
                .create_checkout_session(&request, &key)
                .await
                .map_err(provider_error)?;
            let url = session
                .url
                .clone()
                .ok_or_else(|| ProviderError("Stripe returned a session without a url".into()))?;
            Ok(Checkout {
                session_id: session.id,
                url,
            })
        })
    }

    fn expire_checkout<'a>(&'a self, session_id: &'a str) -> ProviderFuture<'a, ExpireOutcome> {
        Box::pin(async move {
            let key = format!("udam-expire-{session_id}");
            match self.client.expire_checkout_session(session_id, &key).await {
                Ok(_) => Ok(ExpireOutcome::Expired),
                // Stripe refuses to expire a session that is not open: find out why.
                Err(StripeError::Api { status: 400, .. }) => {
                    let session = self
                        .client
                        .get_checkout_session(session_id)
                        .await
                        .map_err(provider_error)?;
                    Ok(match (session.status.as_deref(), session.is_paid()) {
                        (_, true) => ExpireOutcome::Paid {
                            payment_ref: session.payment_intent,
                            amount_cents: session.amount_total,
                            currency: session.currency,
                        },
                        (Some("complete"), false) => ExpireOutcome::Processing,
                        _ => ExpireOutcome::Expired,
                    })
                }
                Err(err) => Err(provider_error(err)),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        payment_ref: &'a str,
        idempotency_key: &'a str,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .create_refund(payment_ref, idempotency_key)
                .await
                .map(|_| ())
                .map_err(provider_error)
        })
    }
}

/// Room for the time between this call and Stripe's check (the network, clocks).
const SESSION_MARGIN: i64 = 60 * 1000;

/// When a session for a reservation lapsing at `reserved_until_ms` should expire
/// (Stripe wants seconds): when the reservation lapses, kept inside the life
/// Stripe accepts ([`SESSION_LIFETIME`]) with a minute's room at each end. At the
/// ends of the allowed reservations (30 minutes, 24 hours) the exact lapse falls
/// outside by however long the reservation took to commit, and even a second's
/// delay made Stripe refuse the session. Money stays exact: the sweeper expires the
/// session at Stripe when the reservation lapses (treating one paid meanwhile as
/// paid), and a session Stripe expires first releases the reservation as a lapse.
fn session_expiry(reserved_until_ms: i64, now_ms: i64) -> i64 {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let earliest = now_ms
        .saturating_add(ms(*SESSION_LIFETIME.start()))
        .saturating_add(SESSION_MARGIN);
    let latest = now_ms
        .saturating_add(ms(*SESSION_LIFETIME.end()))
        .saturating_sub(SESSION_MARGIN);
    // Whole seconds inside the window: round the earliest up and the latest down.
    let at = reserved_until_ms.clamp(earliest, latest);
    if at == latest {
        latest.div_euclid(1000)
    } else {
        crate::clock::ceil_to_second(at) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::session_expiry;

    #[test]
    fn a_session_outlives_stripes_minimum_and_otherwise_its_reservation() {
        let now = 1_700_000_000_250;
        // A 30-minute reservation committed a moment ago: a minute later than it.
        let reserved = crate::clock::ceil_to_second(now - 900 + 30 * 60 * 1000);
        assert_eq!(session_expiry(reserved, now), 1_700_000_000 + 31 * 60 + 1);
        // A 2-hour reservation: exactly when it lapses.
        assert_eq!(session_expiry(1_700_007_200_000, now), 1_700_007_200);
        // A 24-hour reservation: a minute before it lapses, inside Stripe's 24 hours.
        let reserved = crate::clock::ceil_to_second(now - 900 + 24 * 3600 * 1000);
        assert_eq!(
            session_expiry(reserved, now),
            1_700_000_000 + 24 * 3600 - 60
        );
    }
}
