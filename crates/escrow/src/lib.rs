//! The composition root: configuration, and the one place where concrete parts (database,
//! services, HTTP router) are wired together. `main.rs` is the command line over it.

pub mod config;

use anyhow::Context;
use config::Config;
use escrow_core::auth::{Passwords, Tokens};
use escrow_core::members::{Members, NewMember, SignupFields};
use escrow_core::Db;
use escrow_http::AppState;
use escrow_store::DbConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a login token stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// A built service: its state and its router, not yet listening.
pub struct App {
    pub state: AppState,
    pub router: axum::Router,
}

/// Connects to the database, applies migrations and builds the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let db = connect(config).await?;
    db.migrate().await.context("applying migrations")?;
    let passwords = Passwords::new().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = Tokens::new(config.jwt_secret().as_bytes(), TOKEN_TTL);
    let members = Members::new(db.clone(), passwords, tokens);
    let state = AppState::new(db, members);
    let router = escrow_http::router(state.clone());
    Ok(App { state, router })
}

pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    let mut db_config = DbConfig::new(config.database_url.clone());
    db_config.max_connections = config.db_max_connections;
    Db::connect(&db_config)
        .await
        .with_context(|| format!("connecting to {}", config.database_url_redacted()))
}

/// Serves `app` on `listener` until `shutdown` resolves; in-flight requests then finish.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = app.state.db.clone();
    axum::serve(
        listener,
        app.router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")?;
    db.close().await;
    Ok(())
}

/// Creates an admin account (the only way admins come to be).
pub async fn create_admin(
    config: &Config,
    email: &str,
    password: &str,
    name: &str,
) -> anyhow::Result<i64> {
    let app = build(config).await?;
    let member = NewMember::parse(
        SignupFields {
            email,
            password,
            name,
            role: Some("admin"),
            ..Default::default()
        },
        true,
    )
    .map_err(|errors| {
        let text: Vec<String> = errors
            .into_vec()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        anyhow::anyhow!("invalid admin: {}", text.join("; "))
    })?;
    let id = app
        .state
        .members
        .sign_up(member)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.state.db.close().await;
    Ok(id)
}

/// Resolves on SIGTERM or Ctrl-C.
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
    tracing::info!("shutting down: finishing in-flight requests");
}
