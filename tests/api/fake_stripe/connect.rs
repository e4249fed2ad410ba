//! The fake's Stripe Connect: Express accounts (`POST /v1/accounts`), onboarding
//! links (`POST /v1/account_links`) to a real page on the fake that completes the
//! onboarding and redirects to the link's `return_url`, and Transfers
//! (`POST /v1/transfers`, honouring `Idempotency-Key` like every POST here;
//! `GET /v1/transfers?transfer_group=`). Tests then build the Connect events
//! Stripe would send (`account.updated`, `transfer.reversed`) in its documented shapes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    FakeStripe, Inner, Outcome, error_body, integer, invalid_param, new_id, no_such, now_unix,
    reply, required, value,
};

/// What Stripe asks a new Express account for before it may be paid.
const NEW_ACCOUNT_DUE: [&str; 4] = [
    "business_type",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
];

/// Connect objects held by the fake.
#[derive(Default)]
pub(super) struct ConnectState {
    accounts: HashMap<String, Value>,
    links: HashMap<String, Link>,
    /// In creation order.
    transfers: Vec<Value>,
    /// Where completed onboardings deliver `account.updated`, signed with the secret.
    deliver_to: Option<(String, String)>,
}

struct Link {
    account: String,
    return_url: String,
    refresh_url: String,
    used: bool,
}

pub(super) fn create_account(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    let kind = match required(form, "type") {
        Ok(kind) => kind,
        Err(e) => return Outcome::NotSaved(StatusCode::BAD_REQUEST, e),
    };
    if !["express", "standard", "custom"].contains(&kind) {
        return Outcome::NotSaved(
            StatusCode::BAD_REQUEST,
            invalid_param(
                "type",
                &format!("Invalid type: must be one of custom, express, or standard (got {kind})"),
            ),
        );
    }
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let id = new_id("acct");
    let account = json!({
        "id": id,
        "object": "account",
        "type": kind,
        "email": value(form, "email"),
        "business_profile": {"mcc": null, "name": null, "url": null},
        "capabilities": {"transfers": "inactive"},
        "charges_enabled": false,
        "payouts_enabled": false,
        "details_submitted": false,
        "country": "US",
        "created": now_unix(),
        "default_currency": "usd",
        "metadata": metadata,
        "requirements": {
            "currently_due": NEW_ACCOUNT_DUE,
            "eventually_due": NEW_ACCOUNT_DUE,
            "past_due": [],
            "disabled_reason": "requirements.past_due",
            "current_deadline": null,
            "errors": [],
        },
        "settings": {"payouts": {"schedule": {"interval": "daily"}}},
    });
    inner.connect.accounts.insert(id, account.clone());
    Outcome::Saved(StatusCode::OK, account)
}

pub(super) fn get_account(inner: &Inner, id: &str) -> Response {
    match inner.connect.accounts.get(id) {
        Some(account) => reply(StatusCode::OK, account.clone()),
        None => reply(StatusCode::NOT_FOUND, no_such("account", id, "account")),
    }
}

pub(super) fn create_account_link(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    let parsed = (|| {
        let account = required(form, "account")?.to_owned();
        let kind = required(form, "type")?;
        if kind != "account_onboarding" && kind != "account_update" {
            return Err(invalid_param("type", "Invalid type"));
        }
        let refresh_url = required(form, "refresh_url")?.to_owned();
        let return_url = required(form, "return_url")?.to_owned();
        Ok((account, refresh_url, return_url))
    })();
    let (account, refresh_url, return_url) = match parsed {
        Ok(p) => p,
        Err(e) => return Outcome::NotSaved(StatusCode::BAD_REQUEST, e),
    };
    if !inner.connect.accounts.contains_key(&account) {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            no_such("account", &account, "account"),
        );
    }
    let token = new_id("link");
    let url = format!("{}/connect/onboarding/{token}", inner.base_url);
    inner.connect.links.insert(
        token,
        Link {
            account,
            return_url,
            refresh_url,
            used: false,
        },
    );
    let created = now_unix();
    Outcome::Saved(
        StatusCode::OK,
        json!({"object": "account_link", "created": created, "expires_at": created + 300, "url": url}),
    )
}

pub(super) fn create_transfer(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    let parsed = (|| {
        let amount = integer(form, "amount", 1)?;
        let currency = required(form, "currency")?.to_ascii_lowercase();
        let destination = required(form, "destination")?.to_owned();
        Ok((amount, currency, destination))
    })();
    let (amount, currency, destination) = match parsed {
        Ok(p) => p,
        Err(e) => return Outcome::NotSaved(StatusCode::BAD_REQUEST, e),
    };
    let Some(account) = inner.connect.accounts.get(&destination) else {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            no_such("destination", &destination, "destination"),
        );
    };
    if account["capabilities"]["transfers"] != "active" {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                Some("insufficient_capabilities_for_transfer"),
                Some("destination"),
                "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
            ),
        );
    }
    let id = new_id("tr");
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let transfer = json!({
        "id": id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": new_id("txn"),
        "created": now_unix(),
        "currency": currency,
        "description": null,
        "destination": destination,
        "destination_payment": new_id("py"),
        "livemode": false,
        "metadata": metadata,
        "reversals": {"object": "list", "data": [], "has_more": false, "total_count": 0,
                      "url": format!("/v1/transfers/{id}/reversals")},
        "reversed": false,
        "source_transaction": null,
        "source_type": "card",
        "transfer_group": value(form, "transfer_group"),
    });
    inner.connect.transfers.push(transfer.clone());
    Outcome::Saved(StatusCode::OK, transfer)
}

/// `GET /v1/transfers[?transfer_group=…]`, newest first.
pub(super) fn list_transfers(inner: &Inner, query: &[(String, String)]) -> Response {
    let group = value(query, "transfer_group");
    let data: Vec<Value> = inner
        .connect
        .transfers
        .iter()
        .rev()
        .filter(|t| group.is_none_or(|g| t["transfer_group"] == g))
        .cloned()
        .collect();
    reply(
        StatusCode::OK,
        json!({"object": "list", "data": data, "has_more": false, "url": "/v1/transfers"}),
    )
}

/// The hosted onboarding form: `GET` shows it, `POST` completes it (the account
/// may take charges and be paid) and redirects to the link's `return_url`. A used
/// or unknown link goes to its `refresh_url`, as Stripe's do.
pub(super) async fn onboarding_page(
    state: &Arc<Mutex<Inner>>,
    token: &str,
    submit: bool,
) -> Response {
    let (account, target, delivery) = {
        let mut inner = super::lock(state);
        let Some(link) = inner.connect.links.get_mut(token) else {
            return (StatusCode::NOT_FOUND, "no such onboarding link").into_response();
        };
        if link.used {
            return redirect(&link.refresh_url);
        }
        if !submit {
            let page = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fake Stripe Express onboarding</title></head>\
                 <body><h1>Set up payouts for {account}</h1><p>Fake Stripe: no details are asked.</p>\
                 <form method=\"post\"><button id=\"complete-onboarding\" type=\"submit\">Agree and submit</button></form></body></html>",
                account = link.account
            );
            return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
        }
        link.used = true;
        let (account, target) = (link.account.clone(), link.return_url.clone());
        complete(&mut inner, &account);
        (account, target, inner.connect.deliver_to.clone())
    };
    if let Some((url, secret)) = delivery {
        let fake = FakeStripe::from_state(state);
        let body = fake.account_updated_event(&account);
        let signature = FakeStripe::signed_header(&body, &secret);
        // What Stripe does after a completed onboarding; the test sees the outcome.
        let _ = reqwest::Client::new()
            .post(url)
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
    }
    redirect(&target)
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// The seller finished onboarding: nothing is due, charges and payouts enabled.
fn complete(inner: &mut Inner, account: &str) {
    let account = inner
        .connect
        .accounts
        .get_mut(account)
        .unwrap_or_else(|| panic!("no account {account}"));
    account["details_submitted"] = json!(true);
    account["charges_enabled"] = json!(true);
    account["payouts_enabled"] = json!(true);
    account["capabilities"]["transfers"] = json!("active");
    account["requirements"]["currently_due"] = json!([]);
    account["requirements"]["eventually_due"] = json!([]);
    account["requirements"]["disabled_reason"] = Value::Null;
}

impl FakeStripe {
    fn from_state(state: &Arc<Mutex<Inner>>) -> FakeStripe {
        let base_url = super::lock(state).base_url.clone();
        FakeStripe {
            base_url,
            state: state.clone(),
        }
    }

    /// Completed onboardings also deliver their `account.updated`, signed with
    /// `secret`, to `url` (UDAM's webhook endpoint), as Stripe does.
    pub fn deliver_events_to(&self, url: &str, secret: &str) {
        self.lock().connect.deliver_to = Some((url.to_owned(), secret.to_owned()));
    }

    /// The seller completes onboarding without a browser.
    pub fn complete_onboarding(&self, account: &str) {
        complete(&mut self.lock(), account);
    }

    /// A connected account as Stripe holds it now.
    pub fn account(&self, id: &str) -> Value {
        self.lock()
            .connect
            .accounts
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no account {id}"))
    }

    /// Number of connected accounts created.
    pub fn account_count(&self) -> usize {
        self.lock().connect.accounts.len()
    }

    /// `account.updated` for the account as it is now: a Connect event, naming the
    /// account it happened on.
    pub fn account_updated_event(&self, id: &str) -> String {
        let account = self.account(id);
        connect_event("account.updated", account, Some(id))
    }

    /// Every transfer made, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        self.lock().connect.transfers.clone()
    }

    /// The platform reverses `amount` of a transfer (in Stripe's dashboard).
    pub fn reverse_transfer(&self, id: &str, amount: i64) {
        let mut inner = self.lock();
        let transfer = inner
            .connect
            .transfers
            .iter_mut()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no transfer {id}"));
        let total = transfer["amount"].as_i64().unwrap_or_default();
        let reversed = transfer["amount_reversed"].as_i64().unwrap_or_default() + amount;
        assert!(
            reversed <= total,
            "cannot reverse more than was transferred"
        );
        transfer["amount_reversed"] = json!(reversed);
        transfer["reversed"] = json!(reversed == total);
        let reversal = json!({"id": new_id("trr"), "object": "transfer_reversal", "amount": amount,
            "currency": transfer["currency"], "created": now_unix(), "transfer": id});
        if let Some(list) = transfer["reversals"]["data"].as_array_mut() {
            list.push(reversal);
        }
        transfer["reversals"]["total_count"] =
            json!(transfer["reversals"]["data"].as_array().map_or(0, Vec::len));
    }

    /// `transfer.reversed` for the transfer as it is now (a platform event).
    pub fn transfer_reversed_event(&self, id: &str) -> String {
        let transfer = self
            .transfers()
            .into_iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no transfer {id}"));
        connect_event("transfer.reversed", transfer, None)
    }
}

/// An event envelope; Connect events name their connected account in `account`.
fn connect_event(event_type: &str, object: Value, account: Option<&str>) -> String {
    let mut event: Value =
        serde_json::from_str(&super::event_json(event_type, object)).expect("event json");
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event.to_string()
}
