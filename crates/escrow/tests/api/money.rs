//! The money invariants every race and crash scenario ends on, read through the public
//! surface only: our record against the gateway's, refunds against releases, the ledger,
//! and the answers the clients got.

use crate::support::{Answer, TestApp};
use serde_json::{json, Value};

/// Where the checks ask: the service and the gateway it talks to (the in-process sandbox,
/// or an `escrow sandbox` process of its own).
pub struct Surface {
    pub client: reqwest::Client,
    pub service: String,
    pub gateway: String,
}

impl Surface {
    /// A service under test with its built-in sandbox.
    pub fn of(app: &TestApp) -> Self {
        Self {
            client: app.client.clone(),
            service: app.base.clone(),
            gateway: format!("{}/sandbox/portone", app.base),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.service))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        TestApp::answer(response).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.service))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        TestApp::answer(request.send().await.unwrap()).await
    }

    /// A control call to the sandbox (`/_sandbox/...`), answering 200.
    pub async fn sandbox(&self, method: reqwest::Method, path: &str, body: Option<Value>) {
        let mut request = self
            .client
            .request(method, format!("{}/_sandbox/{path}", self.gateway));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(status, 200, "sandbox control call {path}");
    }

    /// The gateway's own record of a payment (`GET /payments/{imp_uid}`, V1 wire format).
    pub async fn gateway_payment(&self, imp_uid: &str) -> Value {
        let token: Value = self
            .client
            .post(format!("{}/users/getToken", self.gateway))
            .json(&json!({"imp_key": "sandbox-key", "imp_secret": "sandbox-secret"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["response"]["access_token"]
            .as_str()
            .unwrap_or_default();
        let found: Value = self
            .client
            .get(format!("{}/payments/{imp_uid}", self.gateway))
            .header("authorization", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["code"], 0, "the gateway knows {imp_uid}: {found:#}");
        found["response"].clone()
    }
}

/// Who looks: the payment's buyer and seller, and an admin (tokens).
pub struct Viewers<'a> {
    pub buyer: &'a str,
    pub seller: &'a str,
    pub admin: &'a str,
}

/// A payment a scenario moved money on.
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: i64,
    pub imp_uid: String,
    pub amount: i64,
}

/// One thing found wrong: `what` is the same text for the same fault, so that rounds
/// group by it; `evidence` says where.
#[derive(Debug, Clone)]
pub struct Finding {
    pub what: String,
    pub evidence: String,
}

fn finding(what: impl Into<String>, evidence: impl Into<String>) -> Finding {
    Finding {
        what: what.into(),
        evidence: evidence.into(),
    }
}

/// The 4xx codes a money movement may answer when another movement got there first
/// (api.md §5, §8); anything else but 200 is a fault.
fn allowed_refusal(answer: &Answer) -> bool {
    let code = answer.body["code"].as_str();
    match answer.status.as_u16() {
        409 => matches!(
            code,
            Some("invalid_state" | "refund_in_progress" | "refund_exceeds_balance")
        ),
        422 => code.is_some(),
        _ => false,
    }
}

/// How an answer reads in a finding or an outcome: `200`, `409 invalid_state`.
pub fn answered(answer: &Answer) -> String {
    match answer.body["code"].as_str() {
        Some(code) if answer.status.as_u16() != 200 => format!("{} {code}", answer.status.as_u16()),
        _ => answer.status.as_u16().to_string(),
    }
}

/// Every money invariant of `payment` once its movements are over, and every answer
/// (`(call, answer)`) they got; empty when all hold:
/// - each answer is 200 or a refusal the contract names, never a 5xx;
/// - our `refunded_amount` equals the gateway's `cancel_amount`;
/// - refunded + released (its settlement) ≤ paid, and the gateway never refunded what we
///   released;
/// - `GET /payments/{id}/refunds` lists each refund settled (`succeeded` or `failed`), the
///   succeeded ones adding up to `refunded_amount`;
/// - `GET /admin/ledger` is balanced and lists no divergences.
pub async fn money_disagreements(
    surface: &Surface,
    viewers: &Viewers<'_>,
    payment: &Payment,
    answers: &[(&str, &Answer)],
) -> Vec<Finding> {
    let mut found = Vec::new();
    let id = payment.id;
    for (call, answer) in answers {
        if answer.status.as_u16() != 200 && !allowed_refusal(answer) {
            found.push(finding(
                format!("{call} answered {}", answered(answer)),
                format!("payment {id}: {}", answer.body),
            ));
        }
    }

    let status = surface
        .get(&format!("/payments/{id}/status"), viewers.buyer)
        .await;
    let status = status.assert_status(200).clone();
    let refunded = status["refunded_amount"].as_i64().unwrap_or(-1);
    let paid = status["amount"].as_i64().unwrap_or(-1);
    let gateway = surface.gateway_payment(&payment.imp_uid).await;
    let cancelled = gateway["cancel_amount"].as_i64().unwrap_or(-1);
    let settlements = surface.get("/settlements", viewers.seller).await;
    let settlements: Vec<Value> = settlements.assert_status(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s["payment_id"] == id)
        .collect();
    let released: i64 = settlements
        .iter()
        .filter_map(|s| s["gross_amount"].as_i64())
        .sum();
    let amounts = format!(
        "payment {id}: paid {paid}, our refunded {refunded}, released {released}, gateway cancel_amount {cancelled}; {} / {}",
        status["order_status"], status["escrow_status"]
    );

    if paid != payment.amount {
        found.push(finding("the status shows another amount", &amounts));
    }
    if refunded != cancelled {
        found.push(finding(
            format!("our refunded_amount {refunded} ≠ the gateway's cancel_amount {cancelled}"),
            &amounts,
        ));
    }
    if released > 0 && cancelled + released > payment.amount {
        found.push(finding(
            format!(
                "paid twice: the gateway refunded {cancelled} while we released {released} of {}",
                payment.amount
            ),
            &amounts,
        ));
    }
    if refunded + released > payment.amount {
        found.push(finding("our refunded + released > paid", &amounts));
    }
    if settlements.len() > 1 {
        found.push(finding("more than one settlement", &amounts));
    }

    let refunds = surface
        .get(&format!("/payments/{id}/refunds"), viewers.buyer)
        .await;
    if refunds.status.as_u16() == 200 {
        let items = refunds.body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let unsettled: Vec<&Value> = items
            .iter()
            .filter(|r| r["status"] != "succeeded" && r["status"] != "failed")
            .collect();
        if !unsettled.is_empty() {
            found.push(finding(
                "a refund neither succeeded nor failed after the round",
                format!("{amounts}; refunds {:#}", refunds.body),
            ));
        }
        let succeeded: i64 = items
            .iter()
            .filter(|r| r["status"] == "succeeded")
            .filter_map(|r| r["amount"].as_i64())
            .sum();
        if succeeded != refunded {
            found.push(finding(
                format!(
                    "the succeeded refunds add up to {succeeded}, not refunded_amount {refunded}"
                ),
                format!("{amounts}; refunds {:#}", refunds.body),
            ));
        }
    } else {
        found.push(finding(
            format!(
                "GET /payments/{{id}}/refunds answered {}",
                answered(&refunds)
            ),
            format!("payment {id}"),
        ));
    }

    let ledger = surface.get("/admin/ledger", viewers.admin).await;
    let ledger = ledger.assert_status(200).clone();
    if ledger["balanced"] != true {
        found.push(finding(
            "the ledger is not balanced",
            format!("after payment {id}: {ledger}"),
        ));
    }
    match ledger["divergences"].as_array() {
        Some(divergences) if divergences.is_empty() => {}
        Some(_) => found.push(finding(
            "the ledger lists divergences",
            format!("after payment {id}: {ledger}"),
        )),
        None => found.push(finding(
            "the ledger has no `divergences` list",
            format!("after payment {id}"),
        )),
    }
    found
}

/// `money_disagreements`, failing at once with everything found.
pub async fn assert_money_agrees_with_gateway(
    surface: &Surface,
    viewers: &Viewers<'_>,
    payment: &Payment,
    answers: &[(&str, &Answer)],
) {
    let findings = money_disagreements(surface, viewers, payment, answers).await;
    assert!(
        findings.is_empty(),
        "the money does not agree:\n{}",
        listed(&findings)
    );
}

/// Findings one per line, each with its evidence.
pub fn listed(findings: &[Finding]) -> String {
    let lines: Vec<String> = findings
        .iter()
        .map(|f| format!("- {}\n    {}", f.what, f.evidence))
        .collect();
    lines.join("\n")
}
