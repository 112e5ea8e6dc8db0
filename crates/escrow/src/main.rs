//! `escrow`: the escrow payment service and its tools.

use clap::{Parser, Subcommand};
use escrow::config::Config;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Escrow payments for marketplaces over PortOne V1.
///
/// Every setting can be given as an environment variable (shown in brackets) or a flag.
/// With nothing set, `escrow` serves on 127.0.0.1:8080 with an embedded SQLite file
/// (escrow.db) and the built-in PortOne sandbox. Logs: ESCROW_LOG (e.g. `info,sqlx=warn`).
#[derive(Debug, Parser)]
#[command(name = "escrow", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web UI (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Serve the PortOne sandbox alone: V1 at the root of ESCROW_LISTEN, as the real
    /// gateway is served (point another service at it with PORTONE_API_URL), and V2 at the
    /// root of --v2-listen when given.
    Sandbox {
        /// Where to serve the V2 face (PortOne's official V2 SDKs need it at an origin's root).
        #[arg(
            long = "v2-listen",
            env = "ESCROW_SANDBOX_V2_LISTEN",
            value_name = "ADDR"
        )]
        v2_listen: Option<std::net::SocketAddr>,
    },
    /// Compare every open payment with the gateway (PORTONE_API_URL) and repair ours.
    Reconcile,
    /// Manage accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "ESCROW_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "Admin")]
        name: String,
    },
}

fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("ESCROW_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.fmt_fields(escrow::logging::text_fields()).init();
    }
}

fn main() -> std::process::ExitCode {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    // A task woken from outside the runtime (by a blocking thread or sqlx's worker threads)
    // waits in the global queue, which workers check every 61 polls by default; checking
    // every 2nd poll keeps that wait, and the lifecycle's tail latency, short (BENCHMARKS.md).
    runtime.global_queue_interval(2);
    match runtime.build() {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn async_main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    init_logging(&cli.config.log_format);
    if let Err(message) = cli.config.validate() {
        eprintln!("configuration error: {message}");
        return std::process::ExitCode::from(2);
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Binds the listening socket, saying which address failed and where it was set.
async fn listen_on(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context;
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (ESCROW_LISTEN or --listen): is another process using it?")
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = listen_on(config.listen).await?;
            let app = escrow::build(&config, listener.local_addr()?).await?;
            tracing::info!(
                listen = %listener.local_addr()?,
                database = %config.database_url_redacted(),
                "escrow service started"
            );
            escrow::serve(app, listener, escrow::shutdown_signal()).await
        }
        Command::Sandbox { v2_listen } => {
            let listener = listen_on(config.listen).await?;
            let v2_listener = match v2_listen {
                Some(addr) => Some(listen_on(addr).await?),
                None => None,
            };
            tracing::info!(
                listen = %listener.local_addr()?,
                v2_listen = ?v2_listener.as_ref().and_then(|l| l.local_addr().ok()),
                "PortOne sandbox started"
            );
            escrow::serve_sandbox(&config, listener, v2_listener, escrow::shutdown_signal()).await
        }
        Command::Reconcile => {
            if config.portone_api_url.is_none() {
                anyhow::bail!(
                    "reconcile needs PORTONE_API_URL: the built-in sandbox lives inside `escrow serve`; \
                     use POST /admin/reconcile there"
                );
            }
            let app = escrow::build(&config, config.listen).await?;
            let report = app
                .state
                .payments
                .reconcile()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "checked {} payments, repaired {}",
                report.checked, report.repaired
            );
            Ok(())
        }
        Command::Migrate => {
            let db = escrow::connect(&config).await?;
            db.migrate().await?;
            db.close().await;
            println!("migrations applied to {}", config.database_url_redacted());
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    name,
                },
        } => {
            let id = escrow::create_admin(&config, &email, &password, &name).await?;
            println!("admin {email} created with user_id {id}");
            Ok(())
        }
    }
}
