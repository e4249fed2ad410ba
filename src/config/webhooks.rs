//! Settings of outbound webhooks (docs/WEBHOOKS.md): how often the delivery worker
//! looks for work, how long it steps aside for requests, how long a receiver may
//! take, and the retry schedule's scale.
//! Which URLs may be reached follows the gateway's dev flags
//! (`--gateway-allow-http`, `--gateway-allow-private`).

use clap::Args;

use super::HumanDuration;

/// The delivery worker's settings.
#[derive(Args, Clone, Debug)]
pub struct WebhookConfig {
    /// How often each process's delivery worker looks for due deliveries.
    #[arg(
        long,
        env = "UDAM_WEBHOOK_POLL_INTERVAL",
        default_value = "1s",
        global = true
    )]
    pub webhook_poll_interval: HumanDuration,

    /// Longest an event waits for this process's requests to ease: while they keep
    /// it busy (more than a quarter of a request in progress per core), the worker
    /// holds its passes back until the oldest waiting event has waited this long, so
    /// deliveries do not slow purchases. `0s` never waits.
    #[arg(
        long,
        env = "UDAM_WEBHOOK_DEFER_MAX",
        default_value = "1s",
        global = true
    )]
    pub webhook_defer_max: HumanDuration,

    /// Longest wait for a receiver's answer; past it the attempt failed.
    #[arg(
        long,
        env = "UDAM_WEBHOOK_TIMEOUT",
        default_value = "10s",
        global = true
    )]
    pub webhook_timeout: HumanDuration,

    /// Delay before the first retry; later retries grow from it (5 s gives about
    /// three days of retries; tests shrink it).
    #[arg(
        long,
        env = "UDAM_WEBHOOK_FIRST_RETRY",
        default_value = "5s",
        global = true
    )]
    pub webhook_first_retry: HumanDuration,
}
