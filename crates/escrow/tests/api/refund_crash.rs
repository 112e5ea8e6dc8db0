//! A crash at the worst moment of a refund: the gateway has refunded, our database does not
//! know yet (`after-gateway-cancel`). The service (`escrow serve`) is aborted there and
//! restarted; the gateway (`escrow sandbox`) lives on, as the real one does. Until
//! reconciliation settles the refund, nothing may release the money it took; afterwards
//! the refund is recorded once and every money invariant holds.

use crate::crash::{escrow, KillOnDrop};
use crate::money::{
    assert_money_agrees_with_gateway, listed, money_disagreements, Payment, Surface, Viewers,
};
use crate::standalone_sandbox::{up, StandaloneSandbox};
use crate::support::{free_port, Api, Backend, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "refund-crash-secret-refund-crash-secret-01";
const PRICE: i64 = 10_000;
const REFUND: i64 = 4_000;

/// `escrow serve` on `port`, speaking `api` to `sandbox`, aborting at `crash_points`. The
/// jobs and reconciliation wait an hour, so that only the test's own calls settle what the
/// crash left.
fn serve(
    database_url: &str,
    (sandbox, api): (&StandaloneSandbox, Api),
    port: u16,
    crash_points: &str,
) -> KillOnDrop {
    KillOnDrop(
        escrow()
            .arg("serve")
            .envs(sandbox.service_env(api))
            .env("ESCROW_DATABASE_URL", database_url)
            .env("ESCROW_LISTEN", format!("127.0.0.1:{port}"))
            .env("ESCROW_JWT_SECRET", SECRET)
            .env("PORTONE_TIMEOUT", "2s")
            .env("ESCROW_JOB_INTERVAL", "1h")
            .env("ESCROW_RECONCILE_INTERVAL", "1h")
            .env("ESCROW_CRASH_POINTS", crash_points)
            .spawn()
            .unwrap(),
    )
}

async fn signed_up(surface: &Surface, role: &str) -> String {
    let email = format!("{role}-{}@example.kr", uuid::Uuid::new_v4().simple());
    let password = "password-123";
    let body = json!({"email": email, "password": password, "name": "N", "role": role});
    surface
        .post("/auth/signup", None, body)
        .await
        .assert_status(201);
    logged_in(surface, &email, password).await
}

async fn logged_in(surface: &Surface, email: &str, password: &str) -> String {
    let login = json!({"email": email, "password": password});
    let answer = surface.post("/auth/login", None, login).await;
    answer.assert_status(200)["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A delivered escrow payment of `PRICE`, paid at the gateway (through the face `api`) and
/// completed by the buyer.
async fn delivered_payment(
    surface: &Surface,
    (sandbox, api): (&StandaloneSandbox, Api),
    buyer: &str,
    seller: &str,
) -> Payment {
    let product = json!({"name": "충돌 환불", "description": "설명", "price": PRICE, "stock": 10});
    let product = surface.post("/products", Some(seller), product).await;
    let product_id = product.assert_status(201)["product_id"].as_i64().unwrap();
    let shipping = json!({"receiver_name": "홍길동", "receiver_phone": "010-1234-5678", "address": "서울", "postcode": "04524"});
    let order = json!({"items": [{"product_id": product_id, "quantity": 1}], "shipping": shipping});
    let order = surface.post("/orders", Some(buyer), order).await;
    let order_id = order.assert_status(201)["orders"][0]["order_id"]
        .as_i64()
        .unwrap();
    let checkout = surface
        .post("/payments", Some(buyer), json!({"order_id": order_id}))
        .await;
    let checkout = checkout.assert_status(201).clone();
    let id = checkout["payment_id"].as_i64().unwrap();
    let imp_uid = sandbox
        .pay(&surface.client, api, &checkout["checkout"], "card")
        .await
        .expect("the sandbox takes the payment");
    let path = |action: &str| format!("/payments/{id}/{action}");
    surface
        .post(&path("complete"), Some(buyer), json!({"imp_uid": imp_uid}))
        .await
        .assert_status(200);
    let shipment = json!({"courier": "CJGLS", "invoice_number": "7770001"});
    surface
        .post(&path("shipment"), Some(seller), shipment)
        .await
        .assert_status(200);
    surface
        .post(&path("delivered"), Some(seller), json!({}))
        .await
        .assert_status(200);
    Payment {
        id,
        imp_uid,
        amount: PRICE,
    }
}

async fn a_crash_after_the_gateway_refunded_is_settled_by_reconciliation(
    backend: Backend,
    api: Api,
) {
    let database = TestDatabase::create(backend).await;
    let client = reqwest::Client::new();
    let sandbox = StandaloneSandbox::start().await;
    let port = free_port();
    // The checks and faults go through the V1 face: it sees both faces' payments.
    let surface = Surface {
        client: client.clone(),
        service: format!("http://127.0.0.1:{port}"),
        gateway: sandbox.v1.clone(),
    };
    let mut service = serve(
        &database.url,
        (&sandbox, api),
        port,
        "after-gateway-cancel:1",
    );
    up(&client, &format!("{}/healthz", surface.service)).await;

    // Every webhook is lost: only our own calls learn what the gateway did.
    let drop_webhooks = json!({"target": "webhook", "mode": "drop", "count": 10_000});
    surface
        .sandbox(Method::POST, "faults", Some(drop_webhooks))
        .await;
    let buyer = signed_up(&surface, "buyer").await;
    let seller = signed_up(&surface, "seller").await;
    let admin_email = format!("admin-{}@example.kr", uuid::Uuid::new_v4().simple());
    let created = escrow()
        .args(["admin", "create", "--email", &admin_email])
        .args(["--password", "admin-password-1"])
        .env("ESCROW_DATABASE_URL", &database.url)
        .status()
        .unwrap();
    assert!(created.success());
    let admin = logged_in(&surface, &admin_email, "admin-password-1").await;
    let payment = delivered_payment(&surface, (&sandbox, api), &buyer, &seller).await;
    let path = |action: &str| format!("/payments/{}/{action}", payment.id);

    // The gateway refunds; the service dies before recording it.
    let refund = client
        .post(format!("{}{}", surface.service, path("refund")))
        .bearer_auth(&seller)
        .json(&json!({"reason": "일부 환불", "amount": REFUND}))
        .send()
        .await;
    assert!(
        refund.is_err(),
        "the service answered instead of crashing: {refund:?}"
    );
    let exited = service.0.wait().unwrap();
    assert!(!exited.success(), "aborted at the crash point");
    let at_gateway = surface.gateway_payment(&payment.imp_uid).await;
    assert_eq!(at_gateway["cancel_amount"], REFUND, "{at_gateway:#}");

    // Restarted while the gateway cannot answer: the refund cannot be settled yet, so it
    // still blocks the release.
    let gateway_down = json!({"target": "api", "mode": "error_500", "count": 10_000});
    surface
        .sandbox(Method::POST, "faults", Some(gateway_down))
        .await;
    service = serve(&database.url, (&sandbox, api), port, "");
    up(&client, &format!("{}/healthz", surface.service)).await;
    let viewers = Viewers {
        buyer: &buyer,
        seller: &seller,
        admin: &admin,
    };
    let early = surface
        .post(&path("confirm"), Some(&buyer), json!({}))
        .await;
    if early.status != 409 || early.body["code"] != "refund_in_progress" {
        surface.sandbox(Method::DELETE, "faults", None).await;
        let findings = money_disagreements(&surface, &viewers, &payment, &[]).await;
        panic!(
            "a confirm while the refund is unsettled answered {} {}; then:\n{}",
            early.status,
            early.body,
            listed(&findings)
        );
    }

    // The gateway is back; reconciliation settles the refund from its record.
    // The request that made it died, which nobody can tell from a slow one: the refund is
    // settled once the gateway's timeout has passed since it was made.
    surface.sandbox(Method::DELETE, "faults", None).await;
    let mut refunds = Value::Null;
    for _ in 0..100 {
        surface
            .post("/admin/reconcile", Some(&admin), json!({}))
            .await
            .assert_status(200);
        let listed = surface.get(&path("refunds"), &buyer).await;
        refunds = listed.assert_status(200)["items"].clone();
        if refunds[0]["status"] != "requested" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{refunds:#}");
    assert_eq!(refunds[0]["status"], "succeeded", "{refunds:#}");
    assert_eq!(refunds[0]["amount"], REFUND, "{refunds:#}");

    // What is left is released once, and the money agrees.
    let confirm = surface
        .post(&path("confirm"), Some(&buyer), json!({}))
        .await;
    confirm.assert_status(200);
    let settlements = surface.get("/settlements", &seller).await;
    assert_eq!(
        settlements.assert_status(200)["total_gross"],
        PRICE - REFUND
    );
    assert_money_agrees_with_gateway(
        &surface,
        &viewers,
        &payment,
        &[("confirm after the crash", &early), ("confirm", &confirm)],
    )
    .await;
    drop(service);
}

on_both_backends!(on_both_apis => a_crash_after_the_gateway_refunded_is_settled_by_reconciliation);
