//! Start-up and shutdown: connect, migrate, build the state, serve until a signal.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

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
    Ok(AppState::new(Inner {
        db,
        config,
        passwords,
    }))
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Opens the database, migrates and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let db = open_database(&config).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {} (--bind / UDAM_BIND)", config.bind))?;
        let state = build_state(config, db).await?;
        Ok(Self { listener, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests use it to inspect the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = crate::http::app(self.state.clone());
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        self.state.db.close().await;
        Ok(())
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
