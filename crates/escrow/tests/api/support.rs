//! The test harness: boots the real service on port 0 against a fresh database per test.

use escrow::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs each scenario on SQLite and on MySQL/MariaDB (`name::sqlite`, `name::mysql`), with
/// the service speaking PortOne V1. Headed `on_both_apis =>`, each runs with V2 as well
/// (`name::v2::sqlite`, `name::v2::mysql`): the gateway API is a parameter of the
/// harness, and the scenarios do not know which one runs.
macro_rules! on_both_databases {
    (@each $apis:ident $(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body

                scenario_tests!($apis, $crate::support::TestApp::spawn_api);
            }
        )*
    };
    (on_both_apis => $($rest:tt)*) => { on_both_databases!(@each both $($rest)*); };
    (on_v2_only => $($rest:tt)*) => { on_both_databases!(@each v2 $($rest)*); };
    ($($rest:tt)*) => { on_both_databases!(@each v1 $($rest)*); };
}

/// The tests of one scenario (`scenario`, in the enclosing module): on both databases with
/// V1 (`v1`), V2 (`v2`), or both (`both`); `$spawn` is `async fn(Backend, Api) -> TestApp`.
macro_rules! scenario_tests {
    (v1, $spawn:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            scenario($spawn($crate::support::Backend::Sqlite, $crate::support::Api::V1).await).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn mysql() {
            scenario($spawn($crate::support::Backend::MySql, $crate::support::Api::V1).await).await
        }
    };
    (both, $spawn:expr) => {
        scenario_tests!(v1, $spawn);
        scenario_tests!(v2, $spawn);
    };
    (v2, $spawn:expr) => {
        mod v2 {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::scenario(
                    $spawn($crate::support::Backend::Sqlite, $crate::support::Api::V2).await,
                )
                .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::scenario(
                    $spawn($crate::support::Backend::MySql, $crate::support::Api::V2).await,
                )
                .await
            }
        }
    };
}

/// Tests of scenarios that start their own service (`async fn name(backend: Backend)`):
/// `name::sqlite` and `name::mysql`. Headed `on_both_apis =>`, `async fn name(backend:
/// Backend, api: Api)` runs with PortOne V1 and V2 (`name::v2::sqlite`, `name::v2::mysql`).
macro_rules! on_both_backends {
    (on_both_apis => $($name:ident),* $(,)?) => {
        $(
            mod $name {
                async fn scenario(args: ($crate::support::Backend, $crate::support::Api)) {
                    super::$name(args.0, args.1).await
                }

                scenario_tests!(both, $crate::support::backend_and_api);
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name($crate::support::Backend::MySql).await
                }
            }
        )*
    };
}

/// The PortOne API the service under test speaks.
pub use escrow::config::ApiVersion as Api;

/// What `scenario_tests!` hands a scenario that starts its own service: where and how.
pub async fn backend_and_api(backend: Backend, api: Api) -> (Backend, Api) {
    (backend, api)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// The server the MariaDB tests create their databases on.
pub fn mysql_server_url() -> String {
    std::env::var("ESCROW_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A fresh, empty database; dropped (or deleted) when the test ends.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    name: String,
    /// False for a second handle on a database another handle drops.
    owned: bool,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "escrow_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..8)
                .unwrap_or_default()
        );
        let url = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                format!("sqlite://{}", path.display())
            }
            Backend::MySql => {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&mysql_server_url())
                    .await
                    .expect("MariaDB must be running for the MySQL tests (see README)");
                sqlx::query(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                format!("{}/{name}", mysql_server_url())
            }
        };
        Self {
            url,
            backend,
            name,
            owned: true,
        }
    }

    /// The database's file (SQLite).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(self.url.trim_start_matches("sqlite://"))
    }

    /// Another handle on the same database (for a second service instance); it does not
    /// drop the database.
    pub fn alias(&self) -> Self {
        Self {
            url: self.url.clone(),
            backend: self.backend,
            name: self.name.clone(),
            owned: false,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path().display().to_string();
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
            Backend::MySql => {
                let name = self.name.clone();
                // Drop runs outside async: a short-lived runtime of its own does the DROP.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async move {
                            use sqlx::Connection;
                            if let Ok(mut conn) =
                                sqlx::AnyConnection::connect(&mysql_server_url()).await
                            {
                                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                                    .execute(&mut conn)
                                    .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// A running service and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub database: TestDatabase,
    server: tokio::task::JoinHandle<()>,
}

/// A signed-up member with a token.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// An answer: status, content type and JSON body (Null when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert!(
            self.content_type.starts_with("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.body["code"], code, "{:#}", self.body);
        assert_eq!(self.body["success"], false);
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["message"], self.body["detail"]);
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        &self.body
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_api(backend, Api::V1).await
    }

    /// The service on a fresh database, speaking `api` to its in-process sandbox.
    pub async fn spawn_api(backend: Backend, api: Api) -> Self {
        let database = TestDatabase::create(backend).await;
        let mut config = Config::for_database(&database.url);
        config.api_version = api;
        Self::spawn_with(config, database).await
    }

    pub fn api(&self) -> Api {
        self.config.api_version
    }

    pub async fn spawn_with(config: Config, database: TestDatabase) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::spawn_on(config, database, listener).await
    }

    /// Serves on `listener` (e.g. a dual-stack `[::]` one); requests go to 127.0.0.1.
    pub async fn spawn_on(
        config: Config,
        database: TestDatabase,
        listener: tokio::net::TcpListener,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let base = format!("http://127.0.0.1:{}", addr.port());
        let app = escrow::build(&config, addr)
            .await
            .expect("the service builds");
        let server = tokio::spawn(async move {
            let _ = escrow::serve(app, listener, std::future::pending()).await;
        });
        Self {
            base,
            client: reqwest::Client::new(),
            config,
            database,
            server,
        }
    }

    /// A handle on a service running elsewhere (a process of its own) at `base`.
    pub fn attach(base: String, config: Config, database: TestDatabase) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
            config,
            database,
            server: tokio::spawn(async {}),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            body,
            headers,
        }
    }

    /// Sends raw bytes with a content type, for malformed-input tests.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(Method::GET, path, token, None).await
    }

    /// `GET /metrics`, asserting 200: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let answer = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(Method::DELETE, path, token, None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs up a member of `role` with a unique e-mail and logs in.
    pub async fn member(&self, role: &str) -> Member {
        self.member_named(role, "테스트 회원", None).await
    }

    /// Signs up a member of `role` with this name and phone and a unique e-mail, and logs in.
    pub async fn member_named(&self, role: &str, name: &str, phone: Option<&str>) -> Member {
        let email = format!("{role}-{}@example.kr", uuid::Uuid::new_v4().simple());
        let password = "correct-horse-battery".to_string();
        let signup = self
            .post(
                "/auth/signup",
                None,
                json!({"email": email, "password": password, "name": name, "phone": phone, "role": role}),
            )
            .await;
        let id = signup.assert_status(201)["user_id"].as_i64().unwrap();
        self.logged_in(id, email, password).await
    }

    /// Member `id`, logged in with its e-mail and password.
    pub async fn logged_in(&self, id: i64, email: String, password: String) -> Member {
        let login = self.login(&email, &password).await;
        let token = login.assert_status(200)["token"]
            .as_str()
            .unwrap()
            .to_string();
        Member {
            id,
            email,
            password,
            token,
        }
    }

    pub async fn buyer(&self) -> Member {
        self.member("buyer").await
    }

    pub async fn seller(&self) -> Member {
        self.member("seller").await
    }

    /// Lists a product and returns its id.
    pub async fn product(&self, seller: &Member, name: &str, price: i64, stock: i64) -> i64 {
        let created = self
            .post(
                "/products",
                Some(&seller.token),
                json!({"name": name, "description": "설명", "price": price, "stock": stock}),
            )
            .await;
        created.assert_status(201)["product_id"].as_i64().unwrap()
    }

    /// Runs one statement of the backend's own SQL against the test database directly (a
    /// fault a test arranges); `sqlite` or `mysql` by the backend.
    pub async fn raw_sql(&self, sqlite: &str, mysql: &str) {
        self.connection_running(sqlite, mysql).await;
    }

    /// Makes every INSERT into `table` fail (a trigger), as a full disk or a broken
    /// constraint would; `accept_inserts` removes the fault.
    pub async fn refuse_inserts(&self, table: &str) {
        let sqlite = format!(
            "CREATE TRIGGER {table}_refuses BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, '{table} refuses'); END"
        );
        let mysql = format!(
            "CREATE TRIGGER {table}_refuses BEFORE INSERT ON {table} FOR EACH ROW \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{table} refuses'"
        );
        self.raw_sql(&sqlite, &mysql).await;
    }

    pub async fn accept_inserts(&self, table: &str) {
        let drop = format!("DROP TRIGGER {table}_refuses");
        self.raw_sql(&drop, &drop).await;
    }

    /// Opens another connection that holds a write lock until its transaction ends (send it
    /// `COMMIT`), as a statement outside the service or another process would: on SQLite the
    /// database's one write lock, on MySQL the row lock of product `product_id`.
    pub async fn lock_for_writes(&self, product_id: i64) -> sqlx::AnyConnection {
        let mysql = format!("BEGIN; SELECT stock FROM products WHERE id = {product_id} FOR UPDATE");
        self.connection_running("BEGIN IMMEDIATE", &mysql).await
    }

    /// A connection of its own to the test database that has run the backend's SQL.
    async fn connection_running(&self, sqlite: &str, mysql: &str) -> sqlx::AnyConnection {
        use sqlx::Connection;
        let sql = if self.database.url.starts_with("sqlite") {
            sqlite
        } else {
            mysql
        };
        let mut conn = sqlx::AnyConnection::connect(&self.database.url)
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn
    }

    /// Runs a SQL count against the test database directly, to prove nothing was written.
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Connection;
        let url = if self.database.url.starts_with("sqlite") {
            format!("{}?mode=ro", self.database.url)
        } else {
            self.database.url.clone()
        };
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The gauge `name` as `/metrics` shows it right after `check`, something of this app's that
/// sets it. Gauges are process-wide, and the suite's other apps run in this process and set
/// them too: when one of those came between, `check` runs again.
pub async fn gauge_after<Check, Checked>(
    app: &TestApp,
    name: &str,
    expected: f64,
    check: Check,
) -> Option<f64>
where
    Check: Fn() -> Checked,
    Checked: std::future::Future<Output = ()>,
{
    let mut seen = None;
    for _ in 0..20 {
        check().await;
        seen = app
            .metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok());
        if seen == Some(expected) {
            break;
        }
    }
    seen
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago, for a process a test
/// starts (a child `escrow`, a NATS server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `escrow` binary with none of the caller's ESCROW_* / PORTONE_* settings, so a test
/// configures exactly what it means to.
pub fn escrow_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_escrow"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ESCROW_") || key.starts_with("PORTONE_") {
            command.env_remove(key);
        }
    }
    command
}
