//! `escrow sandbox` in a process of its own, for the suites whose service is a process too
//! (`crash.rs`, `refund_crash.rs`): V1 at the root of one address, V2 at the root of another,
//! one store of payments behind both. The service under test speaks `Api::V1` or `Api::V2`
//! to it; the checks read through the V1 face and its `/_sandbox/...` control calls, which
//! see every payment whichever face made it, and whose faults apply to both faces.

use crate::crash::{escrow, KillOnDrop};
use crate::support::{free_port, Api};
use serde_json::{json, Value};
use std::time::Duration;

/// The V2 settings the sandbox and the service share (the sandbox's own defaults, said once).
const API_SECRET: &str = "crash-sandbox-v2-secret";
const STORE_ID: &str = "store-00000000-0000-0000-0000-000000000000";

pub(crate) struct StandaloneSandbox {
    /// The V1 face, and the control calls.
    pub(crate) v1: String,
    /// The V2 face.
    pub(crate) v2: String,
    _process: KillOnDrop,
}

impl StandaloneSandbox {
    /// Starts the sandbox and waits until both faces answer.
    pub(crate) async fn start() -> Self {
        let (v1, v2) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let process = KillOnDrop(
            escrow()
                .args(["sandbox", "--listen", &v1, "--v2-listen", &v2])
                .envs(v2_settings())
                .spawn()
                .unwrap(),
        );
        let sandbox = Self {
            v1: format!("http://{v1}"),
            v2: format!("http://{v2}"),
            _process: process,
        };
        let client = reqwest::Client::new();
        for face in [&sandbox.v1, &sandbox.v2] {
            up(&client, &format!("{face}/_sandbox/webhooks")).await;
        }
        sandbox
    }

    /// The settings that point `escrow serve` at the face speaking `api`.
    pub(crate) fn service_env(&self, api: Api) -> Vec<(&'static str, String)> {
        match api {
            Api::V1 => vec![("PORTONE_API_URL", self.v1.clone())],
            Api::V2 => {
                let mut env = v2_settings();
                env.extend([
                    ("PORTONE_API_VERSION", "v2".to_string()),
                    ("PORTONE_API_URL", self.v2.clone()),
                ]);
                env
            }
        }
    }

    /// What the buyer's checkout page does at the face `api` speaks: pays `checkout` (the
    /// service's `checkout` object) by `pay_method` (`card` or `vbank`). Answers the
    /// gateway's payment id (V1's `imp_uid`, V2's transaction id, the same in the store),
    /// or None when the call did not get through (a fault).
    pub(crate) async fn pay(
        &self,
        client: &reqwest::Client,
        api: Api,
        checkout: &Value,
        pay_method: &str,
    ) -> Option<String> {
        let (url, body, id) = match api {
            Api::V1 => (
                format!("{}/_sandbox/payments", self.v1),
                json!({"merchant_uid": checkout["merchant_uid"], "amount": checkout["amount"], "notice_url": checkout["notice_url"], "pay_method": pay_method}),
                "imp_uid",
            ),
            Api::V2 => (
                format!("{}/_sandbox/payments", self.v2),
                json!({"payment_id": checkout["merchant_uid"], "amount": checkout["amount"], "notice_url": checkout["notice_url"],
                       "pay_method": if pay_method == "vbank" { "VIRTUAL_ACCOUNT" } else { "CARD" }}),
                "transaction_id",
            ),
        };
        let paid: Value = client
            .post(url)
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        paid[id].as_str().map(str::to_string)
    }

    /// The buyer's transfer of `amount` into the virtual account of payment `imp_uid`
    /// (`merchant_uid`, V2's paymentId), at the face `api` speaks.
    pub(crate) async fn deposit(
        &self,
        client: &reqwest::Client,
        api: Api,
        imp_uid: &str,
        merchant_uid: &str,
        amount: &Value,
    ) {
        let url = match api {
            Api::V1 => format!("{}/_sandbox/vbanks/{imp_uid}/deposit", self.v1),
            Api::V2 => format!("{}/_sandbox/payments/{merchant_uid}/deposit", self.v2),
        };
        let _ = client
            .post(url)
            .json(&json!({"amount": amount}))
            .send()
            .await;
    }
}

/// The V2 secrets, given to the sandbox and to a service speaking V2 alike.
fn v2_settings() -> Vec<(&'static str, String)> {
    vec![
        ("PORTONE_API_SECRET", API_SECRET.to_string()),
        ("PORTONE_STORE_ID", STORE_ID.to_string()),
        (
            "PORTONE_WEBHOOK_SECRET",
            escrow::config::SANDBOX_WEBHOOK_SECRET.to_string(),
        ),
    ]
}

/// Waits until `url` answers 200 (a process starting).
pub(crate) async fn up(client: &reqwest::Client, url: &str) {
    for _ in 0..600 {
        if let Ok(response) = client.get(url).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}
