//! The payout run: one payout per seller and currency for the available amount above
//! the minimum, then sending every pending payout.
//!
//! **One run at a time.** A run first takes the database lease (`payout_lease`); a
//! replica that finds it held by another live run does nothing. Beneath the lease,
//! each payout claims its (seller, currency) pending slot (a unique index) *before*
//! reading the available amount, so even two runs overlapping after a lapsed lease
//! cannot both pay the same money.
//!
//! **Exactly once.** Recording a payout and moving its amount out of the seller's
//! payable (`payout_initiated`) commit together; sending it and posting
//! `payout_sent` commit together after the provider confirmed. A send that fails
//! leaves the payout pending and the next run retries it under the same idempotency
//! key (the payout id), so the provider moves the money once. A payout the provider
//! refused for good, having moved nothing (`SendError::retryable` false), is marked
//! `failed` and `payout_cancelled` puts its amount back in the seller's payable in
//! the same transaction; the next run pays it again under a new payout. Without
//! that, one refused payout would hold the seller's pending slot for ever.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::model::PayoutProviderKind;
use super::provider::{DevPayouts, PayoutSender};
use super::store;
use super::stripe::StripePayouts;
use crate::config::{Config, PayoutConfig};
use crate::db::Db;
use crate::ledger;
use crate::payments::stripe::StripeClient;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// False when another process held the lease (nothing was done).
    pub ran: bool,
    /// Payouts recorded by this run.
    pub recorded: usize,
    /// Payouts sent (new or retried).
    pub sent: usize,
    /// Sends that failed and stay pending.
    pub failed: usize,
    /// Payouts the provider refused for good: marked failed, their amount payable
    /// again.
    pub refused: usize,
}

/// The payout provider for these settings: Stripe Connect transfers when Stripe is
/// configured, otherwise the dev provider (simulated payouts).
pub fn sender(config: &Config) -> anyhow::Result<Box<dyn PayoutSender>> {
    match &config.stripe_secret_key {
        Some(key) => Ok(Box::new(StripePayouts::new(StripeClient::new(
            &config.stripe_api_base,
            key.expose(),
        )))),
        None => Ok(Box::new(DevPayouts)),
    }
}

/// Runs payouts once under the lease, as `holder` (a name unique to this process).
pub async fn run_once(
    db: &Db,
    config: &PayoutConfig,
    sender: &dyn PayoutSender,
    holder: &str,
) -> anyhow::Result<RunReport> {
    let real_now = crate::clock::now_ms();
    let lease_ms = i64::try_from(config.payout_lease_ttl.0.as_millis()).unwrap_or(i64::MAX);
    if !store::take_lease(db, holder, real_now, real_now + lease_ms).await? {
        tracing::info!("payout run skipped: another process holds the lease");
        return Ok(RunReport::default());
    }
    let result = run_locked(db, config, sender).await;
    store::release_lease(db, holder).await?;
    result
}

async fn run_locked(
    db: &Db,
    config: &PayoutConfig,
    sender: &dyn PayoutSender,
) -> anyhow::Result<RunReport> {
    let mut report = RunReport {
        ran: true,
        ..RunReport::default()
    };
    for (seller, currency) in store::payable_sellers(db).await? {
        if record(db, config, sender, &seller, &currency).await? {
            report.recorded += 1;
        }
    }
    for payout in store::pending(db).await? {
        match sender.send(&payout).await {
            Ok(transfer_id) => {
                let mut tx = db.begin_write().await?;
                if store::mark_paid(&mut tx, &payout.id, &transfer_id, crate::clock::now_ms())
                    .await?
                {
                    let reference = format!("payout_initiated:{}", payout.id);
                    let initiated = ledger::recorded(&mut tx, &reference)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("{reference} is not in the journal"))?;
                    ledger::post(
                        &mut tx,
                        &ledger::payout_sent(&initiated, sender.clearing_owner())?,
                    )
                    .await?;
                }
                tx.commit().await?;
                report.sent += 1;
            }
            Err(err) if !err.retryable => {
                tracing::warn!(payout = %payout.id, error = %err.message,
                    "payout refused for good; its amount is available again");
                if cancel(db, &payout.id, &err.message).await? {
                    report.refused += 1;
                }
            }
            Err(err) => {
                // Stays pending: the next run retries with the same idempotency key.
                tracing::warn!(payout = %payout.id, error = %err.message,
                    "payout send failed; it stays pending");
                store::note_attempt(db, &payout.id, &err.message, crate::clock::now_ms()).await?;
                report.failed += 1;
            }
        }
    }
    tracing::info!(?report, "payout run done");
    Ok(report)
}

/// Marks a pending payout failed and posts `payout_cancelled`, the exact reverse of
/// its `payout_initiated`, in one transaction; false when it was no longer pending.
async fn cancel(db: &Db, payout_id: &str, reason: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin_write().await?;
    if !store::mark_failed(&mut tx, payout_id, reason, crate::clock::now_ms()).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    let reference = format!("payout_initiated:{payout_id}");
    let initiated = ledger::recorded(&mut tx, &reference)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{reference} is not in the journal"))?;
    ledger::post(&mut tx, &ledger::payout_cancelled(&initiated)?).await?;
    crate::crash_point!("payouts::cancel_before_commit");
    tx.commit().await?;
    Ok(true)
}

/// Records one payout of `seller`'s available `currency` money, if above the
/// minimum and not held. True when recorded.
async fn record(
    db: &Db,
    config: &PayoutConfig,
    sender: &dyn PayoutSender,
    seller: &str,
    currency: &str,
) -> anyhow::Result<bool> {
    let now = config.now_ms();
    let id = crate::ids::new_id("po");
    let mut tx = db.begin_write().await?;
    // Claim first (see the module docs), then read.
    if !store::claim_pending(&mut tx, &id, seller, currency, sender.kind(), now).await?
        || store::is_held(&mut tx, seller).await?
    {
        tx.rollback().await?;
        return Ok(false);
    }
    // Stripe pays only into a connected account that Stripe lets pay out; until the
    // seller has one, nothing is recorded and their money stays available.
    let destination = match sender.kind() {
        PayoutProviderKind::Stripe => {
            match super::connect::payout_destination(&mut tx, seller).await? {
                Some(account) => Some(account),
                None => {
                    tx.rollback().await?;
                    tracing::info!(%seller, %currency, "payout skipped: no payouts-enabled connected account");
                    return Ok(false);
                }
            }
        }
        PayoutProviderKind::Dev => None,
    };
    let balances =
        super::balances::seller_balances(&mut tx, seller, now - config.hold_ms()).await?;
    let available = balances
        .iter()
        .find(|b| b.currency == currency)
        .map_or(0, |b| b.available_cents);
    if available < config.payout_minimum_cents {
        tx.rollback().await?;
        return Ok(false);
    }
    store::set_amount(&mut tx, &id, available, destination.as_deref()).await?;
    ledger::post(
        &mut tx,
        &ledger::payout_initiated(&id, seller, currency, available)?,
    )
    .await?;
    tx.commit().await?;
    crate::crash_point!("payouts::recorded");
    Ok(true)
}

/// Starts the periodic run (one interval after start, then every interval) unless
/// the interval is zero; it stops when `stop` fires.
pub fn spawn_periodic(
    db: Db,
    settings: &Config,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let config = settings.payouts.clone();
    if settings.stripe_secret_key.is_some() && config.connect_webhook_secrets().is_empty() {
        // Said here because this runs once at every start of a server.
        tracing::warn!(
            "Stripe is configured without --stripe-connect-webhook-secret: account.updated \
             events from sellers' connected accounts will be refused, and sellers will not be \
             paid until their accounts are known to be enabled"
        );
    }
    let every = config.payout_interval.0;
    if every.is_zero() {
        return None;
    }
    let sender = match sender(settings) {
        Ok(sender) => sender,
        Err(err) => {
            tracing::warn!(error = %err, "periodic payouts are off");
            return None;
        }
    };
    let holder = crate::ids::new_id("run");
    Some(tokio::spawn(async move {
        // The first tick one interval after start: a restart does not pay at once.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            if let Err(err) = run_once(&db, &config, sender.as_ref(), &holder).await {
                // The next tick retries; pending payouts keep their idempotency keys.
                tracing::warn!(error = %err, "payout run failed");
            }
        }
    }))
}
