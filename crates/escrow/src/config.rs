//! Configuration from the environment (or flags), validated at start with a clear message
//! for each bad value. Every setting is listed by `escrow --help`.

use clap::Args;
use escrow_domain::parse_duration;
use escrow_domain::settlement::Date;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// The dates of `ESCROW_HOLIDAYS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays(pub BTreeSet<Date>);

fn parse_holidays(list: &str) -> Result<Holidays, String> {
    escrow_domain::settlement::parse_holidays(list).map(Holidays)
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to serve on.
    #[arg(
        long = "listen",
        env = "ESCROW_LISTEN",
        value_name = "ESCROW_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true,
        value_parser = parse_listen
    )]
    pub listen: SocketAddr,

    /// `sqlite://FILE` (embedded, created if missing) or `mysql://USER:PASS@HOST:PORT/DB`.
    #[arg(long = "database-url", env = "ESCROW_DATABASE_URL", value_name = "ESCROW_DATABASE_URL", default_value = "sqlite://escrow.db", global = true, value_parser = parse_database_url)]
    pub database_url: String,

    /// Most database connections this instance opens.
    #[arg(long = "db-max-connections", env = "ESCROW_DB_MAX_CONNECTIONS", value_name = "ESCROW_DB_MAX_CONNECTIONS", default_value_t = 16, global = true, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before answering 503.
    #[arg(long = "db-acquire-timeout", env = "ESCROW_DB_ACQUIRE_TIMEOUT", value_name = "ESCROW_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub db_acquire_timeout: Duration,

    /// Token signing key (at least 32 characters). Random per start when unset, which is
    /// only allowed with the built-in sandbox (development); required with a real gateway.
    #[arg(
        long = "jwt-secret",
        env = "ESCROW_JWT_SECRET",
        value_name = "ESCROW_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// PortOne V1 REST base URL, e.g. https://api.iamport.kr. Unset: the built-in sandbox.
    #[arg(
        long = "portone-api-url",
        env = "PORTONE_API_URL",
        value_name = "PORTONE_API_URL",
        global = true
    )]
    pub portone_api_url: Option<String>,

    /// How long a client may take to send a request's headers before the connection is closed.
    #[arg(long = "header-timeout", env = "ESCROW_HEADER_TIMEOUT", value_name = "ESCROW_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub header_timeout: Duration,

    /// How long one call to the PortOne API may take.
    #[arg(long = "portone-timeout", env = "PORTONE_TIMEOUT", value_name = "PORTONE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub gateway_timeout: Duration,

    /// PortOne REST API key.
    #[arg(
        long = "portone-imp-key",
        env = "PORTONE_IMP_KEY",
        value_name = "PORTONE_IMP_KEY",
        default_value = "sandbox-key",
        global = true
    )]
    pub imp_key: String,

    /// PortOne REST API secret.
    #[arg(
        long = "portone-imp-secret",
        env = "PORTONE_IMP_SECRET",
        value_name = "PORTONE_IMP_SECRET",
        default_value = "sandbox-secret",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    pub imp_secret: String,

    /// Which PortOne API the service speaks: `v1` (imp_key/imp_secret, `IMP.request_pay`)
    /// or `v2` (the API secret, `PortOne.requestPayment`, signed webhooks).
    #[arg(
        long = "portone-api-version",
        env = "PORTONE_API_VERSION",
        value_name = "PORTONE_API_VERSION",
        default_value = "v1",
        value_enum,
        global = true
    )]
    pub api_version: ApiVersion,

    /// PortOne V2 API secret (`Authorization: PortOne <secret>`).
    #[arg(
        long = "portone-api-secret",
        env = "PORTONE_API_SECRET",
        value_name = "PORTONE_API_SECRET",
        default_value = "sandbox-v2-secret",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    pub api_secret: String,

    /// PortOne V2 store id, for the browser SDK and the API.
    #[arg(
        long = "portone-store-id",
        env = "PORTONE_STORE_ID",
        value_name = "PORTONE_STORE_ID",
        default_value = "store-00000000-0000-0000-0000-000000000000",
        global = true
    )]
    pub store_id: String,

    /// PortOne V2 channel key: which PG contract the browser checkout uses.
    #[arg(
        long = "portone-channel-key",
        env = "PORTONE_CHANNEL_KEY",
        value_name = "PORTONE_CHANNEL_KEY",
        default_value = "channel-key-00000000-0000-0000-0000-000000000000",
        global = true
    )]
    pub channel_key: String,

    /// PortOne V2 webhook secret (`whsec_...`): V2 webhooks whose Standard Webhooks signature
    /// it does not verify are refused. Required with V2 and a real gateway.
    #[arg(
        long = "portone-webhook-secret",
        env = "PORTONE_WEBHOOK_SECRET",
        value_name = "PORTONE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub webhook_secret: Option<String>,

    /// PortOne merchant code for the browser SDK (`IMP.init`).
    #[arg(
        long = "portone-imp-code",
        env = "PORTONE_IMP_CODE",
        value_name = "PORTONE_IMP_CODE",
        default_value = "imp00000000",
        global = true
    )]
    pub imp_code: String,

    /// Sign-ups one client address may make per hour (429 beyond).
    #[arg(long = "signup-limit", env = "ESCROW_SIGNUP_LIMIT", value_name = "ESCROW_SIGNUP_LIMIT", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..), global = true)]
    pub signup_limit: i64,

    /// Units of one product a buyer may hold in unpaid orders (409 beyond).
    #[arg(long = "max-unpaid-per-product", env = "ESCROW_MAX_UNPAID_PER_PRODUCT", value_name = "ESCROW_MAX_UNPAID_PER_PRODUCT", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..), global = true)]
    pub max_unpaid_per_product: i64,

    /// Units a buyer may hold in unpaid orders over all products (409 beyond).
    #[arg(long = "max-unpaid-units", env = "ESCROW_MAX_UNPAID_UNITS", value_name = "ESCROW_MAX_UNPAID_UNITS", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..), global = true)]
    pub max_unpaid_units: i64,

    /// Release delay after delivery: 500ms, 30s, 10m, 2h, 7d.
    #[arg(long = "auto-confirm-after", env = "ESCROW_AUTO_CONFIRM_AFTER", value_name = "ESCROW_AUTO_CONFIRM_AFTER", default_value = "7d", value_parser = parse_duration, global = true)]
    pub auto_confirm_after: Duration,

    /// How long a buyer has to send a return or exchange back before it lapses (automatic
    /// confirmation then resumes): 30s, 2h, 7d.
    #[arg(long = "return-ship-within", env = "ESCROW_RETURN_SHIP_WITHIN", value_name = "ESCROW_RETURN_SHIP_WITHIN", default_value = "7d", value_parser = parse_duration, global = true)]
    pub return_ship_within: Duration,

    /// How long a seller may inspect returned goods before their silence is acceptance
    /// (no fee): 30s, 2h, 3d.
    #[arg(long = "return-inspection", env = "ESCROW_RETURN_INSPECTION", value_name = "ESCROW_RETURN_INSPECTION", default_value = "3d", value_parser = parse_duration, global = true)]
    pub return_inspection: Duration,

    /// The most a seller may keep of a return the buyer changed their mind about (won).
    #[arg(long = "max-return-fee", env = "ESCROW_MAX_RETURN_FEE", value_name = "ESCROW_MAX_RETURN_FEE", default_value_t = 6_000, value_parser = clap::value_parser!(i64).range(0..=10_000_000_000), global = true)]
    pub max_return_fee: i64,

    /// How long a virtual account waits for its deposit (the order's expiry is extended to it): 30s, 2h, 24h, 3d.
    #[arg(long = "vbank-due", env = "ESCROW_VBANK_DUE", value_name = "ESCROW_VBANK_DUE", default_value = "24h", value_parser = parse_duration, global = true)]
    pub vbank_due: Duration,

    /// Unpaid order expiry: 500ms, 30s, 10m, 2h, 7d.
    #[arg(long = "order-ttl", env = "ESCROW_ORDER_TTL", value_name = "ESCROW_ORDER_TTL", default_value = "30m", value_parser = parse_duration, global = true)]
    pub order_ttl: Duration,

    /// Platform fee in basis points (0 to 10000).
    #[arg(long = "fee-bps", env = "ESCROW_FEE_BPS", value_name = "ESCROW_FEE_BPS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000), global = true)]
    pub fee_bps: u32,

    /// VAT on the platform fee, in basis points of the fee (0 to 10000), also charged to the seller.
    #[arg(long = "fee-vat-bps", env = "ESCROW_FEE_VAT_BPS", value_name = "ESCROW_FEE_VAT_BPS", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=10_000), global = true)]
    pub fee_vat_bps: u32,

    /// Business days after a release's date (Korean time) before its money can be paid out;
    /// 0: the release date itself.
    #[arg(long = "settlement-delay", env = "ESCROW_SETTLEMENT_DELAY", value_name = "ESCROW_SETTLEMENT_DELAY", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=60), global = true)]
    pub settlement_delay: u32,

    /// Dates that are not business days besides weekends: comma-separated YYYY-MM-DD.
    #[arg(long = "holidays", env = "ESCROW_HOLIDAYS", value_name = "ESCROW_HOLIDAYS", default_value = "", value_parser = parse_holidays, global = true)]
    pub holidays: Holidays,

    /// Released money not paid out this long after release is overdue: 500ms, 30s, 10m, 2h, 20d.
    #[arg(long = "settlement-deadline", env = "ESCROW_SETTLEMENT_DEADLINE", value_name = "ESCROW_SETTLEMENT_DEADLINE", default_value = "20d", value_parser = parse_duration, global = true)]
    pub settlement_deadline: Duration,

    /// NATS server for domain events, e.g. nats://127.0.0.1:4222, or the servers of a
    /// cluster, comma-separated. Unset: events stay in the outbox.
    #[arg(
        long = "nats-url",
        env = "ESCROW_NATS_URL",
        value_name = "ESCROW_NATS_URL",
        global = true
    )]
    pub nats_url: Option<String>,

    /// How long JetStream keeps a domain event (the stream's `max_age`): a consumer that
    /// falls further behind loses what is older. Without a limit NATS's disk only grows.
    #[arg(long = "nats-max-age", env = "ESCROW_NATS_MAX_AGE", value_name = "ESCROW_NATS_MAX_AGE", default_value = "7d", value_parser = parse_duration, global = true)]
    pub nats_max_age: Duration,

    /// How many servers of a JetStream cluster keep the event stream (1 to 5; at most the
    /// cluster's size, and 1 on a single server).
    #[arg(long = "nats-replicas", env = "ESCROW_NATS_REPLICAS", value_name = "ESCROW_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5), global = true)]
    pub nats_replicas: u8,

    /// The public base URL of this service (for the gateway's webhooks), e.g.
    /// https://shop.example.com. Default: http://ESCROW_LISTEN.
    #[arg(
        long = "public-url",
        env = "ESCROW_PUBLIC_URL",
        value_name = "ESCROW_PUBLIC_URL",
        global = true
    )]
    pub public_url: Option<String>,

    /// The PG named in the browser checkout (`pg` of `IMP.request_pay`).
    #[arg(
        long = "portone-pg",
        env = "PORTONE_PG",
        value_name = "PORTONE_PG",
        default_value = "html5_inicis",
        global = true
    )]
    pub pg: String,

    /// How many products, newest first by id, one search (`GET /products?q=`) reads at
    /// most. A search scans (a name matches anywhere in it), so a larger catalogue is
    /// searched over several calls: a page may then hold fewer items than asked, or none,
    /// with `next_cursor` set.
    #[arg(long = "search-window", env = "ESCROW_SEARCH_WINDOW", value_name = "ESCROW_SEARCH_WINDOW", default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub search_window: u32,

    /// How often background jobs (expiry, automatic confirmation, sweeps) run.
    #[arg(long = "job-interval", env = "ESCROW_JOB_INTERVAL", value_name = "ESCROW_JOB_INTERVAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub job_interval: Duration,

    /// How often every open payment is compared with the gateway.
    #[arg(long = "reconcile-interval", env = "ESCROW_RECONCILE_INTERVAL", value_name = "ESCROW_RECONCILE_INTERVAL", default_value = "5m", value_parser = parse_duration, global = true)]
    pub reconcile_interval: Duration,

    /// How long a published domain event stays in the outbox before it is deleted.
    #[arg(long = "outbox-retention", env = "ESCROW_OUTBOX_RETENTION", value_name = "ESCROW_OUTBOX_RETENTION", default_value = "7d", value_parser = parse_duration, global = true)]
    pub outbox_retention: Duration,

    /// Addresses allowed to post gateway webhooks, comma-separated IPs or CIDRs (PortOne
    /// sends from 52.78.100.19, 52.78.48.223, 52.78.5.241). Empty: any address.
    #[arg(long = "webhook-allow", env = "ESCROW_WEBHOOK_ALLOW", value_name = "ESCROW_WEBHOOK_ALLOW", value_delimiter = ',', value_parser = parse_net, global = true)]
    pub webhook_allow: Vec<ipnet::IpNet>,

    /// Waits before each attempt of an outgoing webhook, comma-separated: the first entry
    /// the first attempt's; after the last, a delivery is `failed`.
    #[arg(long = "webhook-retry-schedule", env = "ESCROW_WEBHOOK_RETRY_SCHEDULE", value_name = "ESCROW_WEBHOOK_RETRY_SCHEDULE", default_value = "0s,30s,5m,30m,2h,5h,10h,10h", value_delimiter = ',', value_parser = parse_duration, global = true)]
    pub webhook_retry_schedule: Vec<Duration>,

    /// How long a webhook receiver has to answer with a 2xx.
    #[arg(long = "webhook-timeout", env = "ESCROW_WEBHOOK_TIMEOUT", value_name = "ESCROW_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub webhook_timeout: Duration,

    /// Outgoing webhooks may go to loopback, private and link-local addresses and this
    /// service's own host even in production (PORTONE_API_URL set); in development they may anyway.
    #[arg(long = "webhook-allow-private", env = "ESCROW_WEBHOOK_ALLOW_PRIVATE", value_name = "ESCROW_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhook_allow_private: bool,

    /// Most webhook attempts one instance has in flight to one endpoint.
    #[arg(long = "webhook-concurrency", env = "ESCROW_WEBHOOK_CONCURRENCY", value_name = "ESCROW_WEBHOOK_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), global = true)]
    pub webhook_concurrency: u32,

    /// The built web UI to serve at /app/ (from `npm run build` in web/).
    #[arg(
        long = "web-dir",
        env = "ESCROW_WEB_DIR",
        value_name = "ESCROW_WEB_DIR",
        default_value = "web/dist",
        global = true
    )]
    pub web_dir: std::path::PathBuf,

    /// Log format: `text` or `json`.
    #[arg(long = "log-format", env = "ESCROW_LOG_FORMAT", value_name = "ESCROW_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    pub log_format: String,

    /// Multiplies the sandbox's waiting times (webhook retries, V2 refunds): 0.001 turns
    /// V2's one-minute first retry into 60 ms, for tests. Only the built-in sandbox.
    #[arg(
        long = "sandbox-time-scale",
        env = "ESCROW_SANDBOX_TIME_SCALE",
        value_name = "ESCROW_SANDBOX_TIME_SCALE",
        default_value_t = 1.0,
        global = true
    )]
    pub sandbox_time_scale: f64,
}

/// The PortOne API the service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiVersion {
    V1,
    V2,
}

/// The sandbox's webhook secret when none is configured (development and tests).
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_ZXNjcm93LXNhbmRib3gtd2ViaG9vay1zZWNyZXQ=";

/// `IP:PORT`, or `HOST:PORT` (e.g. `localhost:8080`) resolved to its first address.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let explain = |why: String| {
        format!("`{text}` is not an address to listen on ({why}); give IP:PORT or HOST:PORT, e.g. 127.0.0.1:8080, [::]:8080 or localhost:8080")
    };
    text.to_socket_addrs()
        .map_err(|err| explain(err.to_string()))?
        .next()
        .ok_or_else(|| explain("the name has no address".into()))
}

fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or CIDR"))
}

fn parse_database_url(url: &str) -> Result<String, String> {
    escrow_store::Dialect::from_url(url)
        .map(|_| url.to_string())
        .map_err(|err| err.to_string())
}

impl Config {
    /// Checks what clap cannot check field by field. Returns the development secret to use
    /// when none was configured.
    pub fn validate(&mut self) -> Result<(), String> {
        if let Some(url) = &self.portone_api_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "PORTONE_API_URL must be an http(s) URL, not `{url}`"
                ));
            }
            if self.jwt_secret.is_none() {
                return Err(
                    "ESCROW_JWT_SECRET is required when PORTONE_API_URL points at a real gateway"
                        .into(),
                );
            }
            if self.api_version == ApiVersion::V2 && self.webhook_secret.is_none() {
                return Err(
                    "PORTONE_WEBHOOK_SECRET is required with PORTONE_API_VERSION=v2 and a real gateway"
                        .into(),
                );
            }
        } else if self.webhook_secret.is_none() {
            self.webhook_secret = Some(SANDBOX_WEBHOOK_SECRET.into());
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "ESCROW_PUBLIC_URL must be an http(s) URL, not `{url}`"
                ));
            }
        }
        if self.webhook_retry_schedule.is_empty() {
            return Err("ESCROW_WEBHOOK_RETRY_SCHEDULE needs at least one entry".into());
        }
        if self.webhook_timeout < Duration::from_millis(10) {
            return Err("ESCROW_WEBHOOK_TIMEOUT must be at least 10ms".into());
        }
        if self.job_interval < Duration::from_millis(10) {
            return Err("ESCROW_JOB_INTERVAL must be at least 10ms".into());
        }
        if self.reconcile_interval < Duration::from_secs(1) {
            return Err("ESCROW_RECONCILE_INTERVAL must be at least 1s".into());
        }
        if let Some(urls) = &self.nats_url {
            let servers = crate::events::servers(urls);
            if servers.is_empty() {
                return Err("ESCROW_NATS_URL names no server".into());
            }
            for server in servers {
                if server.parse::<async_nats::ServerAddr>().is_err() {
                    return Err(format!(
                        "ESCROW_NATS_URL: `{}` is not a NATS server address",
                        escrow_store::redact_url(server)
                    ));
                }
            }
        }
        if self.nats_max_age < crate::events::DUPLICATE_WINDOW {
            return Err(format!(
                "ESCROW_NATS_MAX_AGE must be at least JetStream's duplicate window ({}s)",
                crate::events::DUPLICATE_WINDOW.as_secs()
            ));
        }
        match &self.jwt_secret {
            Some(secret) if secret.len() < 32 => {
                Err("ESCROW_JWT_SECRET must be at least 32 characters".into())
            }
            Some(_) => Ok(()),
            None => {
                use rand::Rng;
                let secret: String = rand::thread_rng()
                    .sample_iter(&rand::distributions::Alphanumeric)
                    .take(48)
                    .map(char::from)
                    .collect();
                self.jwt_secret = Some(secret);
                Ok(())
            }
        }
    }

    pub fn jwt_secret(&self) -> &str {
        self.jwt_secret.as_deref().unwrap_or_default()
    }

    pub fn database_url_redacted(&self) -> String {
        escrow_store::redact_url(&self.database_url)
    }

    /// A configuration for tests and tools: defaults, with this database.
    pub fn for_database(database_url: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_string(),
            db_max_connections: 8,
            db_acquire_timeout: Duration::from_secs(5),
            jwt_secret: Some("test-secret-test-secret-test-secret-0123".into()),
            portone_api_url: None,
            imp_key: "sandbox-key".into(),
            imp_secret: "sandbox-secret".into(),
            imp_code: "imp00000000".into(),
            api_version: ApiVersion::V1,
            api_secret: "sandbox-v2-secret".into(),
            store_id: "store-00000000-0000-0000-0000-000000000000".into(),
            channel_key: "channel-key-00000000-0000-0000-0000-000000000000".into(),
            webhook_secret: Some(SANDBOX_WEBHOOK_SECRET.into()),
            auto_confirm_after: Duration::from_secs(7 * 86400),
            order_ttl: Duration::from_secs(30 * 60),
            // Tests sign up and order freely from one address; the scenarios of these limits
            // set their own.
            signup_limit: 1_000_000,
            max_unpaid_per_product: 1_000_000,
            max_unpaid_units: 1_000_000,
            vbank_due: Duration::from_secs(24 * 3600),
            return_ship_within: Duration::from_secs(7 * 86400),
            return_inspection: Duration::from_secs(3 * 86400),
            max_return_fee: 6_000,
            fee_bps: 0,
            fee_vat_bps: 1_000,
            settlement_delay: 1,
            holidays: Holidays::default(),
            settlement_deadline: Duration::from_secs(20 * 86400),
            nats_url: None,
            nats_max_age: Duration::from_secs(7 * 86400),
            nats_replicas: 1,
            log_format: "text".into(),
            sandbox_time_scale: 1.0,
            web_dir: "web/dist".into(),
            public_url: None,
            webhook_allow: Vec::new(),
            webhook_retry_schedule: [0, 30, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .map(Duration::from_secs)
                .to_vec(),
            webhook_timeout: Duration::from_secs(10),
            webhook_allow_private: false,
            webhook_concurrency: 4,
            gateway_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            pg: "html5_inicis".into(),
            search_window: 50_000,
            job_interval: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(300),
            outbox_retention: Duration::from_secs(7 * 86400),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["escrow"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all)
            .map(|flags| flags.config)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn webhook_settings_parse() {
        let s = Duration::from_secs;
        let cases: [(&[&str], Option<Vec<Duration>>); 4] = [
            (
                &[],
                Some(
                    [0, 30, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                        .map(s)
                        .to_vec(),
                ),
            ),
            (
                &["--webhook-retry-schedule", "0s,500ms,2m"],
                Some(vec![s(0), Duration::from_millis(500), s(120)]),
            ),
            (&["--webhook-retry-schedule", "0s,soon"], None),
            (&["--webhook-timeout", "ten"], None),
        ];
        for (args, schedule) in cases {
            let parsed = parse(args);
            assert_eq!(
                parsed
                    .as_ref()
                    .ok()
                    .map(|c| c.webhook_retry_schedule.clone()),
                schedule,
                "{args:?}: {parsed:?}"
            );
        }
        let defaults = parse(&[]).expect("the defaults parse");
        assert_eq!(defaults.webhook_timeout, s(10));
        assert!(!defaults.webhook_allow_private);
        let allowed = parse(&["--webhook-allow-private", "true"]).expect("a bool");
        assert!(allowed.webhook_allow_private);
    }
}
