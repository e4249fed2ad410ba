//! Start-up and shutdown: connect, migrate, build the state, serve until a signal.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::password::PasswordHasher;
use crate::config::Config;
use crate::db::Db;
use crate::state::{AppState, Inner};

/// Connects to the configured database and applies its migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url(), config.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

/// Builds the application state from settings and an open database.
pub async fn build_state(config: Config, db: Db) -> anyhow::Result<AppState> {
    let passwords = PasswordHasher::new(config.password_hash_concurrency)?;
    let limiter = crate::http::rate_limit::build_limiter(&config.guard).await?;
    Ok(AppState::new(Inner {
        db,
        config,
        passwords,
        limiter,
    }))
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: TcpListener,
    /// The `/metrics` listener, unless `--metrics-bind off`.
    metrics: Option<TcpListener>,
    state: AppState,
}

impl Server {
    /// Opens the database, migrates and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let db = open_database(&config).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {} (--bind / UDAM_BIND)", config.bind))?;
        let metrics = crate::http::metrics::bind(config.guard.metrics_bind).await?;
        let state = build_state(config, db).await?;
        Ok(Self {
            listener,
            metrics,
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

    /// The shared state (tests use it to inspect the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    ///
    /// Alongside the API it runs the `/metrics` listener and the purge task;
    /// both stop with the server, before the database pool closes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let db = &self.state.db;
        let guard = &self.state.config.guard;
        let mut background = Vec::new();
        if let Some(listener) = self.metrics {
            let handle = crate::http::metrics::recorder();
            background.push(tokio::spawn(crate::http::metrics::serve(
                listener,
                handle,
                db.clone(),
                stopped.clone(),
            )));
        }
        background.extend(crate::maintenance::spawn_purge(
            db.clone(),
            guard.purge_interval.0,
            stopped,
        ));

        let app = crate::http::app(self.state.clone());
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await
        .context("serving HTTP");
        // Dropping the sender (if serving failed) stops the tasks just the same.
        for task in background {
            let _ = task.await;
        }
        self.state.db.close().await;
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
