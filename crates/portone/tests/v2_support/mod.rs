//! What the V2 client tests share: both faces of one sandbox served over real HTTP as the
//! service mounts them, a client for the V2 face, its control calls, and a webhook receiver.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use portone::v2::{PortOneV2Client, V2Config};
use portone_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

pub const V1: &str = "/sandbox/portone";
pub const V2: &str = "/sandbox/portone-v2";

pub async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Both faces of one sandbox, mounted as the service mounts them.
pub struct Env {
    pub sandbox: Sandbox,
    pub origin: String,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start() -> Self {
        // Gateway waits (webhook retries, vbank refunds) shrunk ten-thousandfold.
        let sandbox = Sandbox::new(SandboxConfig::default().with_time_scale(0.0001));
        let app = Router::new()
            .nest(V1, sandbox.router())
            .nest(V2, sandbox.v2_router());
        let addr = serve(app).await;
        Self {
            sandbox,
            origin: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub fn config(&self) -> V2Config {
        let mut config = V2Config::new(
            format!("{}{V2}", self.origin),
            &self.sandbox.config().api_secret,
        );
        config.retry_backoff = Duration::from_millis(5);
        config
    }

    pub fn client(&self) -> PortOneV2Client {
        PortOneV2Client::new(self.config()).unwrap()
    }

    /// `POST /_sandbox/payments` on the V2 face; the answer's body.
    pub async fn pay(&self, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{V2}/_sandbox/payments", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn card(&self, id: &str, amount: i64) {
        let answer = self
            .pay(json!({ "payment_id": id, "amount": amount, "pay_method": "CARD" }))
            .await;
        assert_eq!(answer["status"], "PAID", "{answer}");
    }

    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{V2}/_sandbox/{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

/// A receiver recording each webhook's headers and body; answers 500 to the first `fail`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub hits: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail: Arc<Mutex<usize>>,
}

impl Receiver {
    pub async fn start(fail: usize) -> (Self, String) {
        let receiver = Self {
            fail: Arc::new(Mutex::new(fail)),
            ..Self::default()
        };
        let r = receiver.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    r.hits.lock().unwrap().push((headers, body));
                    let mut fail = r.fail.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let addr = serve(app).await;
        (receiver, format!("http://{addr}/hook"))
    }
}
