//! The delivery worker, run by every `udam serve`: fans outbox events out to
//! endpoints, claims due deliveries under a lease, sends each signed attempt, and
//! schedules retries.
//!
//! At least once: a delivery is marked done only after its endpoint answered 2xx, in
//! a write that happens after the send. A process killed between the two leaves the
//! claim's lease to lapse, and any process then sends the same event again (same
//! `webhook-id`). Never twice at once: a claim is a conditional update that only one
//! process can win, and its lease outlasts the send's timeout (a claimed batch is
//! sent all at once, so one timeout bounds the whole batch).

use std::time::{Duration, Instant};

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::store::{self, AttemptOutcome, Claimed, delivery};
use super::{signing, target};
use crate::clock::now_ms;
use crate::crypto::Purpose;
use crate::db::{Backend, Db};
use crate::http::load::BusyTest;
use crate::state::AppState;

/// Outbox events fanned out per pass (one transaction).
const FAN_OUT_BATCH: i64 = 100;
/// Deliveries claimed and recorded in one transaction per pass. Large, because a
/// pass costs about fifteen statements however few it sends: at 16 a delivery cost
/// about one statement on the database the purchases use, and a purchase with
/// endpoints enabled was measurably slower while the worker ran (docs/WEBHOOKS.md,
/// "Purchase latency").
const CLAIM_BATCH: i64 = 256;
/// Sends of one pass in flight at once, which bounds what one endpoint meets from one
/// process.
const SENDS_AT_ONCE: usize = 64;
/// How long the worker watches requests before it decides whether a pass may start.
/// Long enough to see one client's back-to-back purchases (about 1 ms each here) as
/// busy, short enough that an idle process hardly delays a pass.
const LOAD_WINDOW: Duration = Duration::from_millis(20);
/// Bytes of a receiver's answer kept for its owner to read.
pub const EXCERPT_BYTES: usize = 512;
/// An endpoint failing this long without one success is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);
/// Retry delays as multiples of `--webhook-first-retry` (5 s by default: 5 s, 30 s,
/// 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 12 h five times; about 3.2 days).
const SCHEDULE: [u32; 14] = [
    1, 6, 24, 120, 360, 720, 1440, 2880, 5760, 8640, 8640, 8640, 8640, 8640,
];

/// How long a claim holds its deliveries: past the last of a full batch's sends,
/// [`SENDS_AT_ONCE`] at a time, each bounded by `timeout`, plus one timeout and a
/// second for the record. Another process sends a delivery again only after its
/// lease lapses, so a live process never shares an attempt; a dead one's deliveries
/// wait this long (51 s at the default 10 s timeout).
fn lease_ms(timeout: Duration) -> i64 {
    let waves = u32::try_from((CLAIM_BATCH as usize).div_ceil(SENDS_AT_ONCE)).unwrap_or(u32::MAX);
    let lease = timeout.saturating_mul(waves.saturating_add(1)) + Duration::from_secs(1);
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The delay after failed attempt `attempt` (1-based), with ±20 % jitter so that
/// many deliveries failing together do not retry in lockstep; `None` when the
/// schedule is spent.
pub fn retry_delay(attempt: i64, first_retry: Duration) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let factor = *SCHEDULE.get(index)?;
    let base = first_retry.saturating_mul(factor);
    let [r] = crate::ids::random_bytes::<1>();
    // 0.8 to 1.2 in 256 steps.
    let jitter = 0.8 + 0.4 * f64::from(r) / 255.0;
    Some(base.mul_f64(jitter))
}

/// What the worker needs, built once per process.
#[derive(Clone)]
struct Worker {
    state: AppState,
    /// The worker's database, opened on its own runtime.
    db: Db,
    client: reqwest::Client,
    policy: crate::gateway::upstream::UpstreamPolicy,
    timeout: Duration,
    first_retry: Duration,
    /// Whether this process's requests keep it busy.
    busy: BusyTest,
    /// How long waiting work may wait for them to ease (`--webhook-defer-max`).
    defer_max: Duration,
}

/// The worker's share of CPU when the machine is busy: a nice value of 10 gives its
/// thread about a tenth of the weight of a request thread (nice 0) under Linux's
/// scheduler, and all it wants when the cores are idle.
const NICE: i32 = 10;
/// PostgreSQL connections of the worker's own pool ([`Db::for_own_runtime`]): a pass
/// runs its statements one after another.
const CONNECTIONS: u32 = 2;

/// Starts the worker on a thread of its own, with its own single-threaded runtime, at
/// a lower CPU priority (nice 10): on a busy machine, purchases and every other
/// request run first, and deliveries take what CPU is left ("Delivery never blocks or
/// slows a purchase", docs/WEBHOOKS.md). The handle completes when the worker has
/// stopped, after `stop` fires.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let (done, stopped) = oneshot::channel::<()>();
    let started = std::thread::Builder::new()
        .name("udam-webhooks".to_owned())
        .spawn(move || {
            lower_priority();
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(run(state, stop)),
                Err(err) => {
                    tracing::error!(error = %err, "webhook worker runtime could not start; no webhooks will be sent");
                }
            }
            drop(done);
        });
    if let Err(err) = started {
        tracing::error!(error = %err, "webhook worker thread could not start; no webhooks will be sent");
    }
    // Either outcome means the thread is gone (or never started).
    tokio::spawn(async move {
        let _ = stopped.await;
    })
}

/// Lowers the calling thread's CPU priority to [`NICE`]. On Linux a nice value
/// belongs to a thread, addressed by its id; elsewhere this does nothing. Failing is
/// harmless (the worker then runs at the usual priority), so it is only logged.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(err) = rustix::process::setpriority_process(Some(thread), NICE) {
            tracing::warn!(error = %err, "webhook worker keeps the usual CPU priority");
        }
    }
}

/// Runs the worker until `stop` fires; a pass in progress finishes first (its sends
/// are bounded by `--webhook-timeout`), so the pool is still open for its writes.
async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let settings = state.config.webhooks.clone();
    let policy = target::policy(&state.config);
    let client = match target::client(policy, settings.webhook_timeout.0) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "webhook delivery client could not be built; no webhooks will be sent");
            return;
        }
    };
    let url = state.config.database_url();
    let db = match state.db.for_own_runtime(&url, CONNECTIONS).await {
        Ok(db) => db,
        Err(err) => {
            tracing::error!(error = %err, "webhook worker could not reach the database; no webhooks will be sent");
            return;
        }
    };
    // Only a pool of its own is the worker's to close (SQLite shares the server's).
    let own_pool = db.backend() == Backend::Postgres;
    let worker = Worker {
        db: db.clone(),
        client,
        policy,
        timeout: settings.webhook_timeout.0,
        first_retry: settings.webhook_first_retry.0,
        busy: BusyTest::quarter_per_core(state.request_load().clone()),
        defer_max: settings.webhook_defer_max.0,
        state,
    };
    worker
        .serve(settings.webhook_poll_interval.0, &mut stop)
        .await;
    if own_pool {
        db.close().await;
    }
}

impl Worker {
    /// Polls every `interval` until `stop` fires.
    async fn serve(&self, interval: Duration, stop: &mut watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            // Keep going while there is work, so a burst drains without waiting a
            // tick per batch.
            loop {
                self.step_aside(stop).await;
                if *stop.borrow() {
                    return;
                }
                match self.pass().await {
                    Ok(true) if !*stop.borrow() => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook delivery pass failed; will retry");
                        break;
                    }
                }
            }
        }
    }

    /// Waits while this process's requests keep it busy, until the oldest waiting
    /// work has waited `--webhook-defer-max`: a delivery can wait a second, a buyer
    /// waiting for a purchase should not wait for the worker's statements. At nice
    /// 10 the worker's own thread already yields, but its statements run in database
    /// backends at the usual priority, beside the purchases' (docs/WEBHOOKS.md, "The
    /// worker steps aside for requests").
    ///
    /// While busy it looks at the oldest waiting work (two index probes) once per
    /// `--webhook-defer-max`, or when that work comes of age: so requests that never
    /// ease still let a pass through about once per `--webhook-defer-max`.
    async fn step_aside(&self, stop: &watch::Receiver<bool>) {
        if self.defer_max.is_zero() {
            return;
        }
        // `None` when the setting is too long to add to a clock: the worker then
        // waits for the requests to ease, however long.
        let mut look_at = Instant::now().checked_add(self.defer_max);
        loop {
            if *stop.borrow() || !self.busy.over(LOAD_WINDOW).await {
                return;
            }
            let now = Instant::now();
            if look_at.is_none_or(|at| now < at) {
                continue;
            }
            let clock = now_ms();
            let waited = match store::waiting::oldest_waiting(&self.db, clock).await {
                Ok(Some(since)) => clock.saturating_sub(since).max(0),
                Ok(None) => 0,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read how long webhooks have waited; delivering now");
                    return;
                }
            };
            let waited = Duration::from_millis(u64::try_from(waited).unwrap_or(0));
            let Some(left) = self.defer_max.checked_sub(waited).filter(|l| !l.is_zero()) else {
                return;
            };
            // Nothing waits (look again a whole deferral later), or the oldest comes
            // of age in `left`.
            look_at = now.checked_add(left);
        }
    }

    /// One pass: claim due deliveries, then fan out a batch of events, claiming
    /// their deliveries as they are written up to a whole batch with the first
    /// ones; send them concurrently and record them together. True when a batch
    /// was full.
    async fn pass(&self) -> anyhow::Result<bool> {
        let db = &self.db;
        let now = now_ms();
        // One lease for the whole batch's sends, whichever way each was claimed.
        let lease_until = now.saturating_add(lease_ms(self.timeout));
        // Due deliveries first (retries, and those a fan-out wrote beyond its
        // claim), so that a stream of new events never holds them up; then the
        // fan-out claims what room is left as it writes the new ones.
        let mut claimed = delivery::claim(db, now, lease_until, CLAIM_BATCH).await?;
        let preclaim = delivery::Preclaim {
            lease_until,
            max: CLAIM_BATCH as usize - claimed.len(),
        };
        let fanned = delivery::fan_out(db, FAN_OUT_BATCH, now_ms(), preclaim).await?;
        claimed.extend(fanned.claimed);
        let full = fanned.taken as i64 == FAN_OUT_BATCH || claimed.len() as i64 == CLAIM_BATCH;
        if claimed.is_empty() {
            return Ok(full);
        }
        let batch = Arc::new(delivery::load(db, &claimed).await?);
        let at_once = Arc::new(Semaphore::new(SENDS_AT_ONCE));
        let mut sends = JoinSet::new();
        for claimed in claimed {
            let (worker, batch, at_once) = (self.clone(), batch.clone(), at_once.clone());
            sends.spawn(async move {
                // Never closed, so the permit always comes.
                let _permit = at_once.acquire_owned().await;
                worker.attempt(claimed, &batch).await
            });
        }
        let mut attempts = Vec::with_capacity(sends.len());
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok(Ok(Some(attempt))) => attempts.push(attempt),
                Ok(Ok(None)) => {}
                Ok(Err((delivery, err))) => {
                    tracing::warn!(delivery = %delivery, error = %err, "webhook attempt not recorded; its lease will lapse and it will be retried");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "a webhook attempt's task failed; its lease will lapse and it will be retried");
                }
            }
        }
        let disable_after = i64::try_from(DISABLE_AFTER.as_millis()).unwrap_or(i64::MAX);
        // A failed write leaves every claim of the batch to lapse and be sent again
        // (same `webhook-id`): at least once.
        delivery::record(db, &attempts, now_ms(), disable_after).await?;
        Ok(full)
    }

    /// Sends one claimed attempt; `None` when its endpoint was deleted meanwhile
    /// (its deliveries went with it), an error (with the delivery) when it cannot be
    /// sent.
    async fn attempt(
        &self,
        claimed: Claimed,
        batch: &delivery::Batch,
    ) -> Result<Option<delivery::Attempt>, (String, anyhow::Error)> {
        let Some(endpoint) = batch.endpoints.get(&claimed.endpoint_id) else {
            return Ok(None);
        };
        let Some(event) = batch.events.get(&claimed.event_id) else {
            let err = anyhow::anyhow!("outbox event {} is missing", claimed.event_id);
            return Err((claimed.id, err));
        };
        let started_at = now_ms();
        let outcome = if !endpoint.enabled {
            refused(started_at, "the endpoint is disabled; nothing was sent")
        } else if let Some(reason) = target::refusal(&endpoint.url, self.policy) {
            refused(started_at, &reason)
        } else {
            let signed = super::events::render(&self.state, event).and_then(|body| {
                let secrets = self.secrets(endpoint, started_at)?;
                Ok((body, secrets))
            });
            let (body, secrets) = match signed {
                Ok(signed) => signed,
                Err(err) => return Err((claimed.id, err)),
            };
            let timestamp = started_at / 1000;
            let signature = signing::signature_header(
                secrets.iter().map(|s| s.expose()),
                &event.id,
                timestamp,
                &body,
            );
            crate::crash_point!("webhooks::before_send");
            let outcome = self
                .send(
                    &endpoint.url,
                    &event.id,
                    timestamp,
                    &signature,
                    body,
                    started_at,
                )
                .await;
            crate::crash_point!("webhooks::after_send");
            outcome
        };
        let retry_at = if outcome.succeeded {
            None
        } else {
            retry_delay(claimed.attempt, self.first_retry).map(|d| {
                now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
            })
        };
        Ok(Some(delivery::Attempt {
            claimed,
            outcome,
            retry_at,
        }))
    }

    /// The secrets to sign with: the current one, and the previous one while its
    /// rotation grace lasts.
    fn secrets(
        &self,
        endpoint: &store::EndpointRow,
        now: i64,
    ) -> anyhow::Result<Vec<crate::crypto::SecretString>> {
        let ring = &self.state.keyring;
        let mut secrets = vec![ring.open(
            Purpose::WebhookSecret,
            &endpoint.id,
            &endpoint.secret.key_id,
            &endpoint.secret.blob,
        )?];
        if let Some((previous, until)) = &endpoint.previous
            && *until > now
        {
            secrets.push(ring.open(
                Purpose::WebhookSecret,
                &super::endpoints::previous_aad(&endpoint.id),
                &previous.key_id,
                &previous.blob,
            )?);
        }
        Ok(secrets)
    }

    /// Posts the signed body and reads the start of the answer.
    async fn send(
        &self,
        url: &str,
        msg_id: &str,
        timestamp: i64,
        signature: &str,
        body: Vec<u8>,
        started_at: i64,
    ) -> AttemptOutcome {
        let clock = Instant::now();
        let result = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut outcome = AttemptOutcome {
            status_code: None,
            latency_ms: 0,
            response_excerpt: None,
            error: None,
            started_at,
            succeeded: false,
        };
        match result {
            Ok(mut response) => {
                let status = response.status();
                outcome.status_code = Some(i64::from(status.as_u16()));
                outcome.succeeded = status.is_success();
                let mut excerpt = Vec::new();
                while excerpt.len() < EXCERPT_BYTES {
                    match tokio::time::timeout(self.timeout, response.chunk()).await {
                        Ok(Ok(Some(chunk))) => excerpt.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                excerpt.truncate(EXCERPT_BYTES);
                outcome.response_excerpt = Some(String::from_utf8_lossy(&excerpt).into_owned());
            }
            Err(err) => outcome.error = Some(describe(&err)),
        }
        outcome.latency_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        outcome
    }
}

fn refused(started_at: i64, reason: &str) -> AttemptOutcome {
    AttemptOutcome {
        status_code: None,
        latency_ms: 0,
        response_excerpt: None,
        error: Some(reason.to_owned()),
        started_at,
        succeeded: false,
    }
}

/// Why a send got no answer, in words safe to show the endpoint's owner (no URL
/// internals beyond what they entered, no secret).
fn describe(err: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(forbidden) = e.downcast_ref::<crate::gateway::upstream::ForbiddenUpstream>() {
            return format!("refused: {forbidden}");
        }
        source = e.source();
    }
    if err.is_timeout() {
        "no answer within the timeout".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_a_full_batch_of_slow_sends() {
        let timeout = Duration::from_secs(10);
        let waves = (CLAIM_BATCH as usize).div_ceil(SENDS_AT_ONCE) as u32;
        let slowest_pass = timeout * waves;
        let lease = Duration::from_millis(lease_ms(timeout) as u64);
        assert!(lease > slowest_pass + timeout, "{lease:?}");
        assert_eq!(lease, Duration::from_secs(51));
    }

    #[test]
    fn retries_span_about_three_days_then_stop() {
        let first = Duration::from_secs(5);
        let total: Duration = (1..=14)
            .map(|a| retry_delay(a, first).unwrap_or_default())
            .sum();
        assert!(total > Duration::from_secs(60 * 3600), "{total:?}");
        assert!(total < Duration::from_secs(96 * 3600), "{total:?}");
        assert!(retry_delay(15, first).is_none());
        assert!(retry_delay(0, first).is_none());
        let d = retry_delay(1, first).unwrap_or_default();
        assert!((Duration::from_secs(4)..=Duration::from_secs(6)).contains(&d));
    }
}
