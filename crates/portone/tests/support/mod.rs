//! What the client test files share: a sandbox served over real HTTP under the service's
//! prefix, a client configured for it, and raw access to its control calls.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use portone::{ClientConfig, PortOneClient};
use portone_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

pub const PREFIX: &str = "/sandbox/portone";

pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A sandbox mounted under the service's prefix, plus raw HTTP access to it.
pub struct Env {
    pub sandbox: Sandbox,
    pub base: String,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start() -> Self {
        Self::with(SandboxConfig::default()).await
    }

    pub async fn with(config: SandboxConfig) -> Self {
        let sandbox = Sandbox::new(config);
        let addr = serve(Router::new().nest(PREFIX, sandbox.router())).await;
        Self {
            sandbox,
            base: format!("http://{addr}{PREFIX}"),
            http: reqwest::Client::new(),
        }
    }

    pub fn config(&self) -> ClientConfig {
        let c = self.sandbox.config();
        let mut config = ClientConfig::new(&self.base, &c.imp_key, &c.imp_secret);
        config.retry_backoff = Duration::from_millis(10);
        config
    }

    pub fn client(&self) -> PortOneClient {
        PortOneClient::new(self.config()).unwrap()
    }

    pub fn client_with_timeout(&self, timeout: Duration) -> PortOneClient {
        PortOneClient::new(self.config().with_timeout(timeout)).unwrap()
    }

    /// `POST /_sandbox/payments`; returns (HTTP status, body).
    pub async fn control_pay(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/payments", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A paid payment; returns its imp_uid.
    pub async fn pay(&self, merchant_uid: &str, amount: i64, extra: Value) -> String {
        let mut body = json!({ "merchant_uid": merchant_uid, "amount": amount });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = self.control_pay(body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "paid", "{answer}");
        answer["imp_uid"].as_str().unwrap().to_owned()
    }

    pub async fn fault(&self, body: Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    pub async fn webhooks(&self) -> Vec<Value> {
        self.sandbox.webhooks_idle().await;
        let r = self
            .http
            .get(format!("{}/_sandbox/webhooks", self.base))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}
