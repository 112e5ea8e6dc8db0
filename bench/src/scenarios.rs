//! The jobs each step runs: catalogue reads, the escrow lifecycle, logins, the trivial
//! handler, and raw insert-and-commit transactions.

use crate::load::{Job, Recorder};
use crate::service::PASSWORD;
use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Client;
use serde_json::{json, Value};
use std::time::Instant;

/// One shared client per step (keep-alive connections, HTTP/1.1, no proxy).
pub fn client(concurrency: usize) -> Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency * 2)
        .tcp_nodelay(true)
        .build()?)
}

async fn get_ok(client: &Client, url: &str) -> Result<()> {
    let r = client.get(url).send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    if !status.is_success() {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

async fn post_json(client: &Client, url: &str, token: Option<&str>, body: &Value) -> Result<Value> {
    let mut req = client.post(url).json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// `POST /auth/login`; the token.
pub async fn login(client: &Client, base: &str, email: &str) -> Result<String> {
    let v = post_json(
        client,
        &format!("{base}/auth/login"),
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    v["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no token in {v}"))
}

/// Which catalogue reads a worker makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `GET /products?limit=20&cursor=…` at a uniformly random position (one in ten the first page).
    Page,
    /// `GET /products/{id}` of a uniformly random product.
    Item,
    /// Half and half.
    Mixed,
    /// `GET /products?limit=20&q=product%20<n>` for a uniformly random product number: a
    /// name that matches anywhere, which no index serves (the service reads a window of
    /// ids per call, `ESCROW_SEARCH_WINDOW`). The numbers of most products appear in no
    /// name among the newest, so most calls read their whole window.
    Search,
}

pub struct Catalogue {
    pub client: Client,
    pub base: String,
    pub products: u64,
    pub reads: Reads,
    pub rng: StdRng,
}

impl Catalogue {
    pub fn new(client: Client, base: &str, products: u64, reads: Reads, seed: u64) -> Self {
        Self {
            client,
            base: base.to_string(),
            products,
            reads,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

/// The cursor the service issues for "ids below `id`" (base64url of `v1:<id>`): the harness
/// makes one at a random id to read random deep pages, as a client paging far would.
fn cursor(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

impl Job for Catalogue {
    async fn run(&mut self, rec: &mut Recorder) {
        if self.reads == Reads::Search {
            let number = self.rng.gen_range(0..self.products);
            let url = format!("{}/products?limit=20&q=product%20{number}", self.base);
            let started = Instant::now();
            let result = get_ok(&self.client, &url).await;
            return rec.record(2, started, &result);
        }
        let page = match self.reads {
            Reads::Page => true,
            Reads::Item => false,
            Reads::Mixed => self.rng.gen_bool(0.5),
            Reads::Search => unreachable!("answered above"),
        };
        let url = if page {
            if self.rng.gen_range(0..10) == 0 {
                format!("{}/products?limit=20", self.base)
            } else {
                let at = self.rng.gen_range(2..=self.products + 1);
                format!("{}/products?limit=20&cursor={}", self.base, cursor(at))
            }
        } else {
            let id = self.rng.gen_range(1..=self.products);
            format!("{}/products/{id}", self.base)
        };
        let started = Instant::now();
        let result = get_ok(&self.client, &url).await;
        rec.record(if page { 0 } else { 1 }, started, &result);
    }
}

pub const CATALOGUE_OPS: &[&str] = &[
    "GET /products (page)",
    "GET /products/{id}",
    "GET /products?q= (search)",
];
/// What [`Reads::Mixed`] records: pages and items.
pub const MIXED_OPS: &[&str] = CATALOGUE_OPS.split_at(2).0;

/// Logins in a loop (valid credentials, users taken in turn).
pub struct Logins {
    pub client: Client,
    pub base: String,
    pub emails: Vec<String>,
    pub next: usize,
}

impl Job for Logins {
    async fn run(&mut self, rec: &mut Recorder) {
        let email = self.emails[self.next % self.emails.len()].clone();
        self.next += 1;
        let started = Instant::now();
        let result = login(&self.client, &self.base, &email).await;
        rec.record(0, started, &result);
    }
}

pub const LOGIN_OPS: &[&str] = &["POST /auth/login"];

/// The trivial handler of the HTTP ceiling.
pub struct Ping {
    pub client: Client,
    pub url: String,
}

impl Job for Ping {
    async fn run(&mut self, rec: &mut Recorder) {
        let started = Instant::now();
        let result = get_ok(&self.client, &self.url).await;
        rec.record(0, started, &result);
    }
}

pub const PING_OPS: &[&str] = &["GET /ping (trivial)"];

/// The database ceiling: one single-row INSERT and COMMIT per operation, through the
/// service's own pool and transactions (`escrow_store::Db`: on SQLite its one writer
/// connection and `BEGIN IMMEDIATE`, connections returned without sqlx's ping), so the
/// ceiling gets every advantage the service's transactions get.
pub struct InsertCommit {
    pub db: escrow_store::Db,
    pub worker: i64,
    pub n: i64,
}

pub const CEILING_TABLE: &str =
    "CREATE TABLE bench_ceiling (worker BIGINT NOT NULL, n BIGINT NOT NULL, \
     payload VARCHAR(100) NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (worker, n))";

impl InsertCommit {
    async fn once(&mut self) -> Result<()> {
        self.n += 1;
        let mut tx = self.db.begin().await?;
        tx.execute(
            "INSERT INTO bench_ceiling (worker, n, payload, created_at) VALUES (?, ?, ?, ?)",
            escrow_store::params![
                self.worker,
                self.n,
                "a row of the database ceiling",
                crate::service::now_millis()
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Job for InsertCommit {
    async fn run(&mut self, rec: &mut Recorder) {
        let started = Instant::now();
        let result = self.once().await;
        rec.record(0, started, &result);
    }
}

pub const INSERT_OPS: &[&str] = &["INSERT + COMMIT"];

/// One buyer's escrow lifecycle, over and over, on a product of its own.
pub struct Lifecycle {
    pub client: Client,
    pub base: String,
    /// The PortOne sandbox the buyer pays at (its own process, as the gateway is).
    pub gateway: String,
    pub buyer_token: String,
    pub seller_token: String,
    pub product_id: i64,
    pub worker: usize,
    pub n: u64,
}

pub const LIFECYCLE_OPS: &[&str] = &[
    "POST /orders",
    "POST /payments",
    "POST sandbox pay",
    "POST /payments/{id}/complete",
    "POST /payments/{id}/shipment",
    "POST /payments/{id}/delivered",
    "POST /payments/{id}/confirm",
    "whole lifecycle",
];

impl Lifecycle {
    async fn step(
        &self,
        rec: &mut Recorder,
        op: usize,
        url: &str,
        token: Option<&str>,
        body: Value,
    ) -> Option<Value> {
        let started = Instant::now();
        let result = post_json(&self.client, url, token, &body).await;
        rec.record(op, started, &result);
        result.ok()
    }

    /// Runs the seven calls once; `None` as soon as one fails.
    pub async fn once(&mut self, rec: &mut Recorder) -> Option<()> {
        self.n += 1;
        let buyer = self.buyer_token.clone();
        let seller = self.seller_token.clone();
        let order = self
            .step(
                rec,
                0,
                &format!("{}/orders", self.base),
                Some(&buyer),
                json!({
                    "items": [{"product_id": self.product_id, "quantity": 1}],
                    "shipping": {
                        "receiver_name": "홍길동",
                        "receiver_phone": "010-1234-5678",
                        "address": "서울특별시 중구 세종대로 110",
                        "postcode": "04524"
                    }
                }),
            )
            .await?;
        let order_id = order["orders"][0]["order_id"].as_i64()?;
        let payment = self
            .step(
                rec,
                1,
                &format!("{}/payments", self.base),
                Some(&buyer),
                json!({"order_id": order_id}),
            )
            .await?;
        let payment_id = payment["payment_id"].as_i64()?;
        let paid = self
            .step(
                rec,
                2,
                &format!("{}/_sandbox/payments", self.gateway),
                None,
                json!({
                    "merchant_uid": payment["merchant_uid"],
                    "amount": payment["amount"],
                    "notice_url": payment["checkout"]["notice_url"],
                }),
            )
            .await?;
        let imp_uid = paid["imp_uid"].as_str()?.to_string();
        self.step(
            rec,
            3,
            &format!("{}/payments/{payment_id}/complete", self.base),
            Some(&buyer),
            json!({"imp_uid": imp_uid}),
        )
        .await?;
        self.step(
            rec,
            4,
            &format!("{}/payments/{payment_id}/shipment", self.base),
            Some(&seller),
            json!({"courier": "cjgls", "invoice_number": format!("{}{:08}", self.worker, self.n)}),
        )
        .await?;
        self.step(
            rec,
            5,
            &format!("{}/payments/{payment_id}/delivered", self.base),
            Some(&seller),
            json!({}),
        )
        .await?;
        self.step(
            rec,
            6,
            &format!("{}/payments/{payment_id}/confirm", self.base),
            Some(&buyer),
            json!({}),
        )
        .await?;
        Some(())
    }
}

impl Job for Lifecycle {
    async fn run(&mut self, rec: &mut Recorder) {
        let started = Instant::now();
        let result = self.once(rec).await.ok_or("a step failed");
        rec.record(7, started, &result);
    }
}
