//! Start-up and shutdown: connect, migrate, load keys, build the state, run the
//! background tasks, serve until a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::password::PasswordHasher;
use crate::config::{Config, GatewayBind, default_master_key_path};
use crate::crypto::KeyRing;
use crate::db::{Backend, Db};
use crate::gateway::Gateway;
use crate::listings::cache::{BrowseCache, run_invalidator};
use crate::payments::stripe::provider::{ReturnUrls, StripeProvider};
use crate::payments::{DevProvider, PaymentProvider};
use crate::state::{AppState, Inner};

pub mod connections;
mod descriptors;
mod metrics_listener;
mod stall;

/// Connects to the configured database and applies its migrations, with no bound on
/// a statement's time (for commands, whose reads grow with the data).
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    open(config, None).await
}

/// [`open_database`] for the server: its statements on PostgreSQL end after
/// `--db-statement-timeout`.
pub async fn open_server_database(config: &Config) -> anyhow::Result<Db> {
    let bound = Some(config.db_statement_timeout.0).filter(|d| !d.is_zero());
    open(config, bound).await
}

async fn open(config: &Config, statement_timeout: Option<Duration>) -> anyhow::Result<Db> {
    let url = config.database_url();
    let max_connections = match config.db_max_connections {
        Some(max) => max,
        None => Backend::from_url(&url)?.default_max_connections(),
    };
    let db = Db::connect_bounded(&url, max_connections, statement_timeout).await?;
    db.migrate().await?;
    Ok(db)
}

/// The master key ring: from `UDAM_MASTER_KEYS`, or, on the embedded default
/// database only, from `./udam-data/master.key` (created on first start).
pub fn load_keyring(config: &Config) -> anyhow::Result<KeyRing> {
    if let Some(spec) = &config.master_keys {
        return KeyRing::parse(spec.expose())
            .context("--master-keys / UDAM_MASTER_KEYS is malformed");
    }
    if !config.uses_default_database() {
        anyhow::bail!(
            "UDAM_MASTER_KEYS (--master-keys) is required with --database-url; generate a key with `udam keygen`"
        );
    }
    let path = default_master_key_path();
    let (ring, created) = KeyRing::load_or_create(&path)
        .with_context(|| format!("cannot use the master key file {}", path.display()))?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "no UDAM_MASTER_KEYS set: generated a local master key file; back it up, and set UDAM_MASTER_KEYS in production"
        );
    }
    Ok(ring)
}

/// Whether the dev checkout (free "payments") may run. Where it looks like a
/// deployment, PostgreSQL or an https public URL, only with `--dev-checkout`: there
/// a free checkout is a mistake unless asked for. (The default public URL is http.)
fn dev_checkout_allowed(config: &Config) -> anyhow::Result<()> {
    let postgres = config.database_url().starts_with("postgres");
    let https = config
        .public_url
        .as_deref()
        .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"));
    if (postgres || https) && !config.dev_checkout {
        let here: Vec<&str> = [(postgres, "PostgreSQL"), (https, "an https public URL")]
            .into_iter()
            .filter_map(|(applies, what)| applies.then_some(what))
            .collect();
        anyhow::bail!(
            "no payment provider: set UDAM_STRIPE_SECRET_KEY (--stripe-secret-key), or pass \
             --dev-checkout (UDAM_DEV_CHECKOUT=true) to run the simulated dev checkout, where \
             buyers pay nothing, on {}",
            here.join(" with ")
        );
    }
    Ok(())
}

/// Stripe when its secret key is configured, otherwise the dev checkout. The two are
/// never active together.
fn payment_provider(config: &Config, public_url: &str) -> anyhow::Result<Arc<dyn PaymentProvider>> {
    let Some(secret_key) = &config.stripe_secret_key else {
        dev_checkout_allowed(config)?;
        return Ok(Arc::new(DevProvider {
            base_url: public_url.to_owned(),
        }));
    };
    if config.stripe_webhook_secrets().is_empty() {
        anyhow::bail!(
            "UDAM_STRIPE_WEBHOOK_SECRET (--stripe-webhook-secret) is required with UDAM_STRIPE_SECRET_KEY"
        );
    }
    let ttl = config.reservation_ttl.0;
    if !crate::payments::stripe::client::SESSION_LIFETIME.contains(&ttl) {
        anyhow::bail!(
            "--reservation-ttl / UDAM_RESERVATION_TTL must be 30m to 24h with Stripe (Checkout Sessions expire within that range)"
        );
    }
    Ok(Arc::new(StripeProvider::new(
        &config.stripe_api_base,
        secret_key.expose(),
        ReturnUrls {
            success: config.stripe_success_url.clone(),
            cancel: config.stripe_cancel_url.clone(),
        },
    )))
}

/// Builds the application state from settings, an open database and the address
/// actually bound (which the default public URL is made from).
pub async fn build_state(config: Config, db: Db, bound: SocketAddr) -> anyhow::Result<AppState> {
    let keyring = load_keyring(&config)?;
    let passwords =
        PasswordHasher::start(config.password_hash_concurrency, config.password_hash_queue)?;
    let limiter = crate::http::rate_limit::build_limiter(&config.edge).await?;
    let cache = BrowseCache::new(config.cache_max_age.0);
    let public_url = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{bound}"),
    };
    let payments = payment_provider(&config, &public_url)?;
    if payments.name() == crate::vocab::ProviderName::Dev {
        // At every start, so that a dev checkout left on cannot go unnoticed.
        tracing::warn!(
            explicit = config.dev_checkout,
            "the dev checkout is on: buyers \"pay\" on a simulated page and no money moves; \
             configure Stripe to take payments"
        );
    } else if config.dev_checkout {
        tracing::warn!("--dev-checkout / UDAM_DEV_CHECKOUT is ignored: Stripe is configured");
    }
    if config.payouts.dev_payout_test_clock {
        tracing::warn!(
            "--dev-payout-test-clock is on: tests may move the payout clock; never use it in production"
        );
    }
    Ok(AppState::new(Inner {
        db,
        config,
        passwords,
        keyring,
        cache,
        payments,
        public_url,
        limiter,
    }))
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: TcpListener,
    /// The `/metrics` listener, unless `--metrics-bind off`.
    metrics: Option<TcpListener>,
    /// The gateway listener, unless `--gateway-bind off`.
    gateway: Option<TcpListener>,
    limits: connections::ConnectionLimits,
    state: AppState,
}

impl Server {
    /// Opens the database, migrates, loads keys and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        // Keys and providers first: a missing setting stops the start before anything
        // else happens.
        load_keyring(&config)?;
        payment_provider(&config, "")?;
        let limits = descriptors::connection_limits(&config);
        let db = open_server_database(&config).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {} (--bind / UDAM_BIND)", config.bind))?;
        let bound = listener.local_addr()?;
        let metrics = crate::http::metrics::bind(config.edge.metrics_bind).await?;
        let gateway = match config.gateway.gateway_bind {
            GatewayBind::Off => None,
            GatewayBind::Addr(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} (--gateway-bind / UDAM_GATEWAY_BIND)")
            })?),
        };
        let mut config = config;
        if config.gateway.gateway_public_url.is_none()
            && let Some(gateway) = &gateway
        {
            config.gateway.gateway_public_url = Some(format!("http://{}", gateway.local_addr()?));
        }
        let state = build_state(config, db, bound).await?;
        Ok(Self {
            listener,
            metrics,
            gateway,
            limits,
            state,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the `/metrics` listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address of the gateway listener, if there is one.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests use it to inspect the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and
    /// stops the background tasks: the browse-cache invalidator, the `/metrics`
    /// listener, the purge and the webhook worker, all before the database pool closes. The gateway
    /// stops after the API (its in-flight calls finish), then its usage is written.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = self.state.clone();
        let mut tasks = vec![
            tokio::spawn(run_invalidator(
                state.db.clone(),
                state.cache.clone(),
                state.config.cache_poll_interval.0,
                stop_rx.clone(),
            )),
            tokio::spawn(crate::payments::sweeper::run(
                state.clone(),
                state.config.sweep_interval.0,
                stop_rx.clone(),
            )),
            crate::webhooks::worker::spawn(state.clone(), stop_rx.clone()),
        ];
        if let Some(listener) = self.metrics {
            tasks.push(tokio::spawn(metrics_listener::serve(
                listener,
                self.limits.for_metrics(),
                crate::http::metrics::recorder(),
                state.db.clone(),
                stop_rx.clone(),
            )));
        }
        let (gateway_stop_tx, mut gateway_stop_rx) = watch::channel(false);
        let mut gateway_tasks = Vec::new();
        if let Some(listener) = self.gateway {
            let gateway = Gateway::new(state.clone())?;
            gateway_tasks.push(tokio::spawn(connections::serve(
                listener,
                gateway.router(),
                self.limits,
                async move {
                    let _ = gateway_stop_rx.wait_for(|stopped| *stopped).await;
                },
            )));
            // `stop_rx` fires after the gateway's last request, so the final flush
            // holds every counted request.
            tasks.push(tokio::spawn(crate::gateway::usage::run_flusher(
                gateway.usage.clone(),
                state.db.clone(),
                state.config.gateway.gateway_usage_flush.0,
                stop_rx.clone(),
            )));
            // Leases are looked after until the gateway's last request, then returned.
            tasks.push(tokio::spawn(crate::gateway::lease::run(
                gateway.leases.clone(),
                std::time::Duration::from_millis(200),
                stop_rx.clone(),
            )));
        }
        tasks.extend(crate::payouts::spawn_periodic(
            state.db.clone(),
            &state.config,
            stop_rx.clone(),
        ));
        tasks.extend(crate::maintenance::spawn_purge(
            state.db.clone(),
            state.config.edge.purge_interval.0,
            stop_rx,
        ));
        let app = crate::http::app(state.clone());
        let served = connections::serve(self.listener, app, self.limits, shutdown)
            .await
            .context("serving HTTP");
        let _ = gateway_stop_tx.send(true);
        for task in gateway_tasks {
            let _ = task.await;
        }
        let _ = stop_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
        state.db.close().await;
        served
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
