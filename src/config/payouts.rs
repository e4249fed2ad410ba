//! Payout settings: the hold that absorbs refunds, the minimum transfer, how often
//! the periodic run wakes, the Connect webhook secret, and the test clock.
//!
//! The test clock exists so that tests can move "now" past the hold without sleeping
//! for a week. It is off unless `--dev-payout-test-clock` is given (never by
//! default), and while off nothing can move it: the server's payout clock is then
//! the system clock. It moves "now" for holds and runs only: journal postings keep
//! the system time, so a sale made after the clock moved is already past the hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use clap::Args;

use crate::config::{HumanDuration, Secret};

/// Payout settings, flattened into [`Config`](crate::config::Config).
#[derive(Args, Clone, Debug)]
pub struct PayoutConfig {
    /// Days a paid sale's earnings stay held (to absorb refunds) before a payout may
    /// include them.
    #[arg(
        long,
        env = "UDAM_PAYOUT_HOLD_DAYS",
        default_value_t = 7,
        value_parser = clap::value_parser!(u32).range(0..=365),
        global = true
    )]
    pub payout_hold_days: u32,

    /// The smallest payout made, minor units: smaller available amounts wait for the
    /// next run (transfers cost money and clutter statements).
    #[arg(
        long,
        env = "UDAM_PAYOUT_MINIMUM_CENTS",
        default_value_t = 100,
        value_parser = clap::value_parser!(i64).range(1..),
        global = true
    )]
    pub payout_minimum_cents: i64,

    /// How often the periodic payout run wakes (one replica at a time runs it, by a
    /// database lease); `0s` turns the periodic run off (use `udam payouts run`).
    #[arg(
        long,
        env = "UDAM_PAYOUT_INTERVAL",
        default_value = "1h",
        global = true
    )]
    pub payout_interval: HumanDuration,

    /// How long a payout run holds the database lease before another replica may
    /// take it over (a crashed runner blocks payouts this long at most). Payouts stay
    /// exactly-once even if a run outlives it (see `src/payouts/run.rs`).
    #[arg(
        long,
        env = "UDAM_PAYOUT_LEASE_TTL",
        default_value = "10m",
        global = true
    )]
    pub payout_lease_ttl: HumanDuration,

    /// Signing secrets (`whsec_…`, comma-separated for rotation) of the Stripe
    /// *Connect* webhook endpoint, which delivers events from sellers' connected
    /// accounts (`account.updated`). Accepted beside `--stripe-webhook-secret` on
    /// the same URL.
    #[arg(
        long,
        env = "UDAM_STRIPE_CONNECT_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub stripe_connect_webhook_secret: Option<Secret>,

    /// TESTS ONLY: let the test harness move the payout clock forward. Off by default;
    /// a server started with it logs a warning.
    #[arg(
        long,
        env = "UDAM_DEV_PAYOUT_TEST_CLOCK",
        default_value_t = false,
        hide = true,
        global = true
    )]
    pub dev_payout_test_clock: bool,

    /// The offset the test clock adds to the system clock (shared by clones).
    #[arg(skip)]
    pub clock: PayoutClock,
}

/// The payout clock: the system clock plus an offset only tests can set.
#[derive(Clone, Debug, Default)]
pub struct PayoutClock(Arc<AtomicI64>);

impl PayoutConfig {
    /// "Now" for holds and payout runs, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        crate::clock::now_ms().saturating_add(self.clock.0.load(Ordering::Relaxed))
    }

    /// The Connect webhook signing secrets, trimmed, empty entries dropped.
    pub fn connect_webhook_secrets(&self) -> Vec<String> {
        Secret::list(self.stripe_connect_webhook_secret.as_ref())
    }

    /// The hold, in milliseconds.
    pub fn hold_ms(&self) -> i64 {
        i64::from(self.payout_hold_days) * 86_400_000
    }

    /// Moves the payout clock forward by `by`; refused unless the test clock is on.
    pub fn advance_test_clock(&self, by: Duration) -> Result<(), &'static str> {
        if !self.dev_payout_test_clock {
            return Err("the payout test clock is off (--dev-payout-test-clock)");
        }
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.clock.0.fetch_add(ms, Ordering::Relaxed);
        Ok(())
    }
}
