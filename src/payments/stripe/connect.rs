//! Stripe Connect: Express connected accounts for sellers, their onboarding links,
//! and the Transfers that pay them (docs/PAYOUTS.md).
//!
//! The calls ride on [`StripeClient`]'s form-encoded POST with an `Idempotency-Key`;
//! the objects keep only the fields UDAM reads, and accept `null` wherever Stripe
//! documents a field as nullable.

use serde::{Deserialize, Deserializer};

use super::client::{StripeClient, check_id};
use super::error::StripeError;

/// A connected account (`"object": "account"`), as the API returns it and as
/// `account.updated` events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Whether the account may take charges.
    #[serde(default)]
    pub charges_enabled: bool,
    /// Whether Stripe pays out to the account's bank: transfers wait until it is.
    #[serde(default)]
    pub payouts_enabled: bool,
    /// Whether the seller finished the onboarding form.
    #[serde(default)]
    pub details_submitted: bool,
    /// What Stripe still needs from the seller.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requirements: Requirements,
}

/// `account.requirements`: what Stripe still needs, by when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Requirements {
    /// Fields needed now to keep the account enabled (`external_account`, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub currently_due: Vec<String>,
}

/// An Account Link (`"object": "account_link"`): a single-use, short-lived URL to
/// Stripe's hosted onboarding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountLink {
    /// Where to send the seller.
    pub url: String,
    /// Unix seconds after which the link no longer works.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A Transfer (`"object": "transfer"`): money moved from the platform's balance to
/// a connected account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transfer {
    /// `tr_…`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO 4217 code.
    pub currency: String,
    /// The connected account paid (`acct_…`); an expanded account keeps its id.
    #[serde(default, deserialize_with = "id_or_object")]
    pub destination: Option<String>,
    /// Reversed so far, minor units (cumulative).
    #[serde(default)]
    pub amount_reversed: i64,
    /// True once reversed in full.
    #[serde(default)]
    pub reversed: bool,
    /// The group it was created in (UDAM puts the payout id there).
    #[serde(default)]
    pub transfer_group: Option<String>,
}

/// A page of a list endpoint (`"object": "list"`).
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    /// This page.
    pub data: Vec<T>,
}

/// What `POST /v1/transfers` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217; sent lower-cased.
    pub currency: String,
    /// The connected account (`acct_…`).
    pub destination: String,
    /// Groups the transfer with what it pays for: UDAM's payout id.
    pub transfer_group: String,
}

impl StripeClient {
    /// `POST /v1/accounts` with `type=express`: a connected account for a seller,
    /// who then fills in Stripe's onboarding form. The seller id goes into
    /// `metadata[udam_seller_id]`, so the account can be traced back from Stripe.
    pub async fn create_express_account(
        &self,
        email: &str,
        seller_id: &str,
        idempotency_key: &str,
    ) -> Result<Account, StripeError> {
        let form = [
            ("type".to_owned(), "express".to_owned()),
            ("email".to_owned(), email.to_owned()),
            (
                "capabilities[transfers][requested]".to_owned(),
                "true".to_owned(),
            ),
            ("metadata[udam_seller_id]".to_owned(), seller_id.to_owned()),
        ];
        self.post("/v1/accounts", &form, idempotency_key).await
    }

    /// `POST /v1/account_links` with `type=account_onboarding`: a fresh onboarding
    /// link; Stripe sends the seller to `return_url` when done and to `refresh_url`
    /// when the link has expired or was used already.
    pub async fn create_account_link(
        &self,
        account: &str,
        refresh_url: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<AccountLink, StripeError> {
        check_id("account id", account)?;
        let form = [
            ("account".to_owned(), account.to_owned()),
            ("refresh_url".to_owned(), refresh_url.to_owned()),
            ("return_url".to_owned(), return_url.to_owned()),
            ("type".to_owned(), "account_onboarding".to_owned()),
        ];
        self.post("/v1/account_links", &form, idempotency_key).await
    }

    /// `POST /v1/transfers`. The idempotency key makes a retry after a lost answer
    /// return the same transfer instead of paying twice.
    pub async fn create_transfer(
        &self,
        req: &TransferRequest,
        idempotency_key: &str,
    ) -> Result<Transfer, StripeError> {
        check_id("destination account id", &req.destination)?;
        let form = [
            ("amount".to_owned(), req.amount.to_string()),
            ("currency".to_owned(), req.currency.to_ascii_lowercase()),
            ("destination".to_owned(), req.destination.clone()),
            ("transfer_group".to_owned(), req.transfer_group.clone()),
            (
                "metadata[udam_payout_id]".to_owned(),
                req.transfer_group.clone(),
            ),
        ];
        self.post("/v1/transfers", &form, idempotency_key).await
    }

    /// `GET /v1/transfers?transfer_group=…`: the transfers made for one payout.
    /// A retry looks here first: Stripe keeps idempotency keys for 24 hours only,
    /// and a payout retried later must still not pay twice.
    pub async fn transfers_in_group(&self, group: &str) -> Result<Vec<Transfer>, StripeError> {
        let list: List<Transfer> = self
            .get(
                "/v1/transfers",
                &[("transfer_group", group), ("limit", "10")],
            )
            .await?;
        Ok(list.data)
    }
}

/// `null` and absent both mean the type's default (an empty list, no requirements).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A related object as its id, or expanded (we keep its id).
fn id_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrObject {
        Id(String),
        Object { id: String },
    }
    Ok(Option::<IdOrObject>::deserialize(d)?.map(|v| match v {
        IdOrObject::Id(id) | IdOrObject::Object { id } => id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_documented_account_with_nulls() {
        let json = r#"{"id": "acct_1", "object": "account", "type": "express",
            "charges_enabled": false, "payouts_enabled": false, "details_submitted": false,
            "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
              "eventually_due": [], "disabled_reason": "requirements.past_due"},
            "metadata": {"udam_seller_id": "usr_1"}}"#;
        let a: Account = serde_json::from_str(json).expect("account");
        assert_eq!(a.id, "acct_1");
        assert!(!a.payouts_enabled);
        assert_eq!(
            a.requirements.currently_due,
            ["external_account", "tos_acceptance.date"]
        );
        let a: Account =
            serde_json::from_str(r#"{"id": "acct_2", "requirements": null}"#).expect("account");
        assert!(a.requirements.currently_due.is_empty());
    }

    #[test]
    fn parses_a_reversed_transfer() {
        let json = r#"{"id": "tr_1", "object": "transfer", "amount": 1800,
            "amount_reversed": 1800, "currency": "usd", "destination": {"id": "acct_1"},
            "reversed": true, "transfer_group": "po_1",
            "reversals": {"object": "list", "data": [{"id": "trr_1", "amount": 1800}]}}"#;
        let t: Transfer = serde_json::from_str(json).expect("transfer");
        assert_eq!(t.destination.as_deref(), Some("acct_1"));
        assert_eq!(
            (t.amount, t.amount_reversed, t.reversed),
            (1800, 1800, true)
        );
        assert_eq!(t.transfer_group.as_deref(), Some("po_1"));
    }
}
