//! Stripe Checkout as a [`PaymentProvider`].

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
                // Stripe wants seconds; the session closes exactly when the reservation lapses.
                expires_at: req.expires_at_ms / 1000,
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
