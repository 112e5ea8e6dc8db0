//! The composition root: configuration, and the one place where concrete parts (database,
//! services, HTTP router) are wired together. `main.rs` is the command line over it.

pub mod config;
pub mod events;
pub mod logging;
pub mod webhooks;

use anyhow::Context;
use config::ApiVersion;
use config::Config;
use escrow_core::auth::{Passwords, Tokens};
use escrow_core::gateway::{self, Gateway};
use escrow_core::jobs::JobSchedule;
use escrow_core::members::{Members, NewMember, SignupFields};
use escrow_core::orders::{Orders, UnpaidLimits};
use escrow_core::payments::{PaymentSettings, Payments};
use escrow_core::products::Products;
use escrow_core::webhooks::address::UrlPolicy;
use escrow_core::webhooks::{WebhookSettings, Webhooks};
use escrow_core::Db;
use escrow_domain::lifecycle::Rules;
use escrow_domain::settlement::Calendar;
use escrow_domain::{Bps, Won};
use escrow_http::{AppState, BrowserConfig, BrowserV2, Services, WebhookSources};
use escrow_store::DbConfig;
use portone::v2::{PortOneV2Client, V2Config};
use portone::{ClientConfig, PortOneClient};
use portone_sandbox::{Sandbox, SandboxConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a login token stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where the built sandbox lives inside the service.
pub const SANDBOX_PATH: &str = "/sandbox/portone";
/// Where the built sandbox's V2 face lives inside the service.
pub const SANDBOX_V2_PATH: &str = "/sandbox/portone-v2";

/// A built service: its state and its router, not yet listening.
pub struct App {
    pub state: AppState,
    pub router: axum::Router,
    /// The in-process gateway sandbox, when no real gateway is configured.
    pub sandbox: Option<Sandbox>,
    /// When background jobs run (they start with `serve`).
    pub jobs: JobSchedule,
    /// Where domain events are published, if anywhere.
    pub events: Option<events::Stream>,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Most webhook attempts in flight to one endpoint.
    pub webhook_concurrency: usize,
}

/// The migrated database and the members service over it: what both serving and
/// `admin create` need.
async fn migrated_members(config: &Config) -> anyhow::Result<(Db, Members)> {
    let db = connect(config).await?;
    db.migrate().await.context("applying migrations")?;
    let passwords = Passwords::new().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = Tokens::new(config.jwt_secret().as_bytes(), TOKEN_TTL);
    let members = Members::new(db.clone(), passwords, tokens, config.signup_limit);
    Ok((db, members))
}

/// Connects to the database, applies migrations and builds the router for a service that
/// will listen on `local_addr` (the in-process sandbox is reached there over real HTTP).
pub async fn build(config: &Config, local_addr: SocketAddr) -> anyhow::Result<App> {
    let (db, members) = migrated_members(config).await?;

    let (gateway_url, iamport_js, sandbox) = match &config.portone_api_url {
        Some(url) => (
            url.trim_end_matches('/').to_string(),
            "https://cdn.iamport.kr/v1/iamport.js".to_string(),
            None,
        ),
        None => {
            let sandbox = Sandbox::new(sandbox_config(config));
            let path = match config.api_version {
                ApiVersion::V1 => SANDBOX_PATH,
                ApiVersion::V2 => SANDBOX_V2_PATH,
            };
            let url = format!("http://{}{path}", reachable(local_addr));
            (url, format!("{SANDBOX_PATH}/iamport.js"), Some(sandbox))
        }
    };
    let gateway = gateway_for(config, gateway_url)?;
    let browser = BrowserConfig {
        imp_code: config.imp_code.clone(),
        iamport_js,
        web_dir: config.web_dir.clone(),
        v2: (config.api_version == ApiVersion::V2).then(|| BrowserV2 {
            store_id: config.store_id.clone(),
            channel_key: config.channel_key.clone(),
            browser_sdk: match config.portone_api_url {
                Some(_) => "https://cdn.portone.io/v2/browser-sdk.js".into(),
                None => format!("{SANDBOX_V2_PATH}/browser-sdk.js"),
            },
        }),
    };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", reachable(local_addr)));
    let settings = PaymentSettings {
        imp_code: config.imp_code.clone(),
        pg: config.pg.clone(),
        notice_url: format!(
            "{}/webhooks/portone{}",
            public_url.trim_end_matches('/'),
            match config.api_version {
                ApiVersion::V1 => "",
                ApiVersion::V2 => "/v2",
            }
        ),
        rules: Rules {
            fee: Bps::new(config.fee_bps)?,
            fee_vat: Bps::new(config.fee_vat_bps)?,
            max_return_fee: Won::new(config.max_return_fee)?,
        },
        calendar: Calendar::new(config.settlement_delay, config.holidays.0.clone()),
        settlement_deadline: config.settlement_deadline,
        auto_confirm_after: config.auto_confirm_after,
        vbank_due: config.vbank_due,
        gateway_timeout: config.gateway_timeout,
        return_ship_within: config.return_ship_within,
        return_inspection: config.return_inspection,
    };
    let products = Products::new(db.clone(), i64::from(config.search_window));
    let orders = Orders::new(
        db.clone(),
        config.order_ttl,
        UnpaidLimits {
            per_product: config.max_unpaid_per_product,
            total: config.max_unpaid_units,
        },
    );
    let payments = Payments::new(db.clone(), gateway.clone(), settings);
    let jobs = JobSchedule {
        tick: config.job_interval,
        reconcile_every: config.reconcile_interval,
        outbox_retention: config.outbox_retention,
    };
    let webhook_sources = WebhookSources(config.webhook_allow.clone());
    let webhooks = Webhooks::new(db.clone(), webhook_settings(config, &public_url));
    let state = AppState::new(Services {
        db,
        members,
        products,
        orders,
        payments,
        gateway,
        gateway_webhook_secret: config.webhook_secret.clone(),
        browser,
        webhook_sources,
        webhooks,
    });
    let mut router = escrow_http::router(state.clone());
    if let Some(sandbox) = &sandbox {
        // Outside the API's layers: the sandbox speaks PortOne's wire format, not ours.
        router = axum::Router::new()
            .nest(SANDBOX_PATH, sandbox.router())
            .nest(SANDBOX_V2_PATH, sandbox.v2_router())
            .merge(router);
    }
    Ok(App {
        state,
        router,
        sandbox,
        jobs,
        events: config.nats_url.clone().map(|url| events::Stream {
            url,
            replicas: usize::from(config.nats_replicas),
            max_age: config.nats_max_age,
        }),
        header_timeout: config.header_timeout,
        webhook_concurrency: config.webhook_concurrency as usize,
    })
}

/// The gateway port over the configured PortOne API at `url`.
fn gateway_for(config: &Config, url: String) -> anyhow::Result<Arc<dyn Gateway>> {
    let built = |e: &dyn std::fmt::Display| anyhow::anyhow!("building the gateway client: {e}");
    Ok(match config.api_version {
        ApiVersion::V1 => {
            let client = PortOneClient::new(
                ClientConfig::new(url, config.imp_key.clone(), config.imp_secret.clone())
                    .with_timeout(config.gateway_timeout),
            )
            .map_err(|e| built(&e))?;
            Arc::new(gateway::v1::V1::new(Arc::new(client), config.pg.clone()))
        }
        ApiVersion::V2 => {
            let client = PortOneV2Client::new(
                V2Config::new(url, config.api_secret.clone())
                    .with_store_id(config.store_id.clone())
                    .with_timeout(config.gateway_timeout),
            )
            .map_err(|e| built(&e))?;
            Arc::new(gateway::v2::V2::new(Arc::new(client)))
        }
    })
}

/// Production (a real gateway) takes only https:// webhook URLs and, unless allowed, no
/// private address or this service's own host; development takes any.
fn webhook_settings(config: &Config, public_url: &str) -> WebhookSettings {
    let production = config.portone_api_url.is_some();
    let own_hosts = url::Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .into_iter()
        .collect();
    WebhookSettings {
        urls: UrlPolicy {
            https_only: production,
            private_allowed: !production || config.webhook_allow_private,
            own_hosts,
        },
        retry_schedule: config.webhook_retry_schedule.clone(),
        timeout: config.webhook_timeout,
    }
}

/// An address this machine can connect to: `0.0.0.0` and `::` become loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// The sandbox the configuration describes: V1's credentials, V2's secrets, the time scale.
fn sandbox_config(config: &Config) -> SandboxConfig {
    SandboxConfig::new(
        config.imp_key.clone(),
        config.imp_secret.clone(),
        config.imp_code.clone(),
    )
    .with_v2(
        config.api_secret.clone(),
        config.store_id.clone(),
        config
            .webhook_secret
            .clone()
            .unwrap_or_else(|| config::SANDBOX_WEBHOOK_SECRET.into()),
    )
    .with_time_scale(config.sandbox_time_scale)
}

/// Serves the PortOne sandbox alone, V1 at the root of `listener` and V2 at the root of
/// `v2_listener` (the official V2 JS SDK drops any base path), as the real gateways are
/// served, one store of payments behind both, until `shutdown`.
pub async fn serve_sandbox(
    config: &Config,
    listener: tokio::net::TcpListener,
    v2_listener: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let sandbox = Sandbox::new(sandbox_config(config));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let v2 = v2_listener.map(|listener| {
        let mut stopped = stopped.clone();
        let router = sandbox.v2_router();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        })
    });
    let v1 = axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await
        .context("serving the sandbox");
    if let Some(v2) = v2 {
        v2.await
            .context("the V2 sandbox task")?
            .context("serving the V2 sandbox")?;
    }
    v1
}

pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    let mut db_config = DbConfig::new(config.database_url.clone());
    db_config.max_connections = config.db_max_connections;
    db_config.acquire_timeout = config.db_acquire_timeout;
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
    let jobs = tokio::spawn(escrow_core::jobs::run(
        db.clone(),
        app.state.payments.clone(),
        app.jobs,
    ));
    let relay = app
        .events
        .clone()
        .map(|stream| tokio::spawn(events::relay(db.clone(), stream, app.jobs.tick)));
    let webhooks = tokio::spawn(webhooks::run(
        app.state.webhooks.clone(),
        app.jobs.tick,
        app.webhook_concurrency,
    ));
    let served = serve_http(app.router, listener, app.header_timeout, shutdown).await;
    jobs.abort();
    webhooks.abort();
    if let Some(relay) = relay {
        relay.abort();
    }
    db.close().await;
    served
}

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/1.1 with hyper directly rather than `axum::serve`, for one setting it lacks: a
/// deadline for a request's headers, so slow clients (slow-loris) cannot hold connections
/// open. Shutdown stops accepting, then lets in-flight requests finish.
async fn serve_http(
    router: axum::Router,
    listener: tokio::net::TcpListener,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests did not finish in time");
    }
    Ok(())
}

/// Creates an admin account (the only way admins come to be).
pub async fn create_admin(
    config: &Config,
    email: &str,
    password: &str,
    name: &str,
) -> anyhow::Result<i64> {
    let (db, members) = migrated_members(config).await?;
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
    let id = members
        .sign_up(member)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.close().await;
    Ok(id)
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled: the server may answer its first request before it polls the
/// future, and a SIGTERM arriving then took the default action and killed the process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        [
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        ]
    };
    async move {
        #[cfg(unix)]
        {
            let [terminate, interrupt] = signals;
            tokio::select! {
                () = received(terminate) => {},
                () = received(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// The next delivery of `signal`; never, when its handler could not be installed.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
