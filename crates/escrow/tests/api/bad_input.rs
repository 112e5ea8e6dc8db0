//! Malformed and hostile input always gets a 4xx problem+json and writes nothing.

use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

on_both_databases! {
    async fn malformed_bodies_are_client_errors(app: TestApp) {
        let seller = app.seller().await;
        let token = Some(seller.token.as_str());
        let products_before = app.count("products").await;

        for (body, status, code) in [
            ("{", 400, "malformed_json"),
            ("", 400, "malformed_json"),
            ("not json", 400, "malformed_json"),
            (r#"{"name": "a", "price": 1000, "stock": 1} trailing"#, 400, "malformed_json"),
            ("[]", 422, "validation_failed"),
            ("null", 422, "validation_failed"),
            (r#"{"name": "a", "price": "1000", "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 10.5, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": 5, "price": 1000, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": -1, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 0, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 1000, "stock": -1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 99999999999999999999999, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 9223372036854775807, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "a", "price": 1000, "stock": 1e300}"#, 422, "validation_failed"),
            (r#"{"name": "", "price": 1000, "stock": 1}"#, 422, "validation_failed"),
            (r#"{"name": "   ", "price": 1000, "stock": 1}"#, 422, "validation_failed"),
        ] {
            let answer = app.raw(Method::POST, "/products", token, "application/json", body).await;
            answer.assert_problem(status, code);
        }

        // The failing field is named.
        let answer = app.raw(Method::POST, "/products", token, "application/json", r#"{"name": "a", "price": "x", "stock": 1}"#).await;
        assert_eq!(answer.body["errors"][0]["field"], "price");
        let answer = app.post("/products", token, json!({"name": "", "price": -5, "stock": 1})).await;
        let fields: Vec<&str> = answer.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["name", "price"]);

        let answer = app.raw(Method::POST, "/products", token, "text/plain", "{}").await;
        answer.assert_problem(415, "unsupported_media_type");

        // Unknown enum values.
        let answer = app.post("/auth/signup", None, json!({"email": "e@example.kr", "password": "password-1", "name": "E", "role": "superuser"})).await;
        answer.assert_problem(422, "validation_failed");

        assert_eq!(app.count("products").await, products_before);
        assert_eq!(app.count("users").await, 1);
    }

    async fn oversized_input_is_refused(app: TestApp) {
        let seller = app.seller().await;
        let token = Some(seller.token.as_str());
        let long = "가".repeat(100_000 / 3);
        // A 100 kB string fits the body limit but not the field.
        let answer = app.post("/products", token, json!({"name": long, "price": 1000, "stock": 1})).await;
        answer.assert_problem(422, "validation_failed");
        let answer = app.post("/products", token, json!({"name": "a", "description": "x".repeat(100_000), "price": 1000, "stock": 1})).await;
        answer.assert_problem(422, "validation_failed");
        let answer = app.post("/auth/signup", None, json!({"email": format!("{}@example.kr", "a".repeat(100_000)), "password": "password-1", "name": "x"})).await;
        answer.assert_problem(422, "validation_failed");
        let answer = app.post("/auth/signup", None, json!({"email": "big@example.kr", "password": "p".repeat(100_000), "name": "x"})).await;
        answer.assert_problem(422, "validation_failed");
        let answer = app.post("/auth/login", None, json!({"email": "big@example.kr", "password": "p".repeat(100_000)})).await;
        answer.assert_problem(401, "invalid_credentials");
        // Past the body limit: 413 before anything is parsed.
        // The server answers before reading such a body, so the client may see its write cut
        // off instead of the answer; it tries again until it reads the answer.
        let huge = format!(r#"{{"name": "{}", "price": 1000, "stock": 1}}"#, "x".repeat(2_000_000));
        let mut answered = None;
        for _ in 0..10 {
            let sent = app
                .client
                .post(format!("{}/products", app.base))
                .bearer_auth(&seller.token)
                .header("content-type", "application/json")
                .body(huge.clone())
                .send()
                .await;
            if let Ok(response) = sent {
                answered = Some(TestApp::answer(response).await);
                break;
            }
        }
        answered.expect("an answer to the oversized body").assert_problem(413, "payload_too_large");
        assert_eq!(app.count("products").await, 0);
        assert_eq!(app.count("users").await, 1);
    }

    async fn bad_ids_cursors_and_queries(app: TestApp) {
        let seller = app.seller().await;
        for path in ["/products/abc", "/products/0", "/products/-1", "/products/1.5", "/products/99999999999999999999999"] {
            let answer = app.get(path, None).await;
            assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
            assert!(answer.content_type.starts_with("application/problem+json"), "{path}");
        }
        app.get("/products/424242", None).await.assert_problem(404, "not_found");
        let update = json!({"name": "a", "price": 1, "stock": 1});
        app.put("/products/abc", Some(&seller.token), update).await.assert_problem(422, "validation_failed");

        for query in [
            "cursor=garbage", "cursor=%00%01", "cursor=djE6LTU", "limit=0", "limit=101", "limit=-1",
            "limit=abc", "limit=99999999999999999999", "seller_id=abc",
        ] {
            let answer = app.get(&format!("/products?{query}"), None).await;
            answer.assert_problem(422, "validation_failed");
        }
        let long_q = "q".repeat(5000);
        app.get(&format!("/products?q={long_q}"), None).await.assert_problem(422, "validation_failed");
        // Injection strings are just text.
        for q in ["' OR 1=1 --", "\"; DROP TABLE products; --", "%' UNION SELECT * FROM users --"] {
            let answer = app.client.get(format!("{}/products", app.base)).query(&[("q", q)]).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        assert_eq!(app.count("users").await, 1);
    }
}

/// Strings that attack SQL, HTML, templates and paths, in every string field a member can
/// write: stored and returned verbatim where they fit the field, refused with a 4xx where
/// not, never a 5xx, and the tables intact.
const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "\"; DROP TABLE users; --",
    "1; DELETE FROM products WHERE 1=1",
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "${jndi:ldap://127.0.0.1/x}",
    "../../../../etc/passwd",
    "%00%27%22",
    "\\\\' \\\" \\\\",
    "😀 한글 混合 \u{202e}",
];

on_both_databases! {
    async fn injection_strings_are_just_text(app: TestApp) {
        use crate::escrow_support::EscrowApp;
        let seller = app.seller().await;
        let buyer = app.buyer().await;
        for (index, text) in INJECTIONS.iter().enumerate() {
            let created = app
                .post("/products", Some(&seller.token), json!({"name": text, "description": text, "price": 1000 + index as i64, "stock": 3}))
                .await;
            let id = created.assert_status(201)["product_id"].as_i64().unwrap();
            let product = app.get(&format!("/products/{id}"), None).await;
            let product = product.assert_status(200);
            assert_eq!(product["name"].as_str(), Some(text.trim()), "name");
            assert_eq!(product["description"].as_str(), Some(text.trim()));
            let search = app.client.get(format!("{}/products", app.base)).query(&[("q", text)]).send().await.unwrap();
            assert_eq!(search.status(), 200, "{text}");

            let signup = app
                .post("/auth/signup", None, json!({"email": format!("inj{index}@example.kr"), "password": text.repeat(3), "name": text, "username": text, "phone": text}))
                .await;
            assert!(signup.status.is_client_error() || signup.status == 201, "{text}: {}", signup.status);

            let phone_only = json!({"receiver_name": "R", "receiver_phone": text, "address": "A", "postcode": "04524"});
            let refused = app.post("/orders", Some(&buyer.token), json!({"items": [{"product_id": id, "quantity": 1}], "shipping": phone_only})).await;
            assert!(refused.status.is_client_error() || refused.status == 201, "{text}: {}", refused.status);
            let shipping = json!({"receiver_name": text, "receiver_phone": "010-1234-5678", "address": text, "postcode": "04524"});
            let order = app.post("/orders", Some(&buyer.token), json!({"items": [{"product_id": id, "quantity": 1}], "shipping": shipping})).await;
            let order = order.assert_status(201).clone();
            assert_eq!(order["orders"][0]["shipping"]["address"].as_str(), Some(text.trim()));
            let payment = app.post("/payments", Some(&buyer.token), json!({"order_id": order["orders"][0]["order_id"]})).await;
            let payment_id = payment.assert_status(201)["payment_id"].as_i64().unwrap();
            let cancel = app.act(Some(&buyer), payment_id, "cancel", json!({"reason": text})).await;
            cancel.assert_status(200);
            let status = app.status(payment_id, &buyer.token).await;
            assert!(status["history"].as_array().unwrap().iter().any(|h| h["reason"].as_str() == Some(text.trim())));
            let webhook = app.post("/webhooks/portone", None, json!({"imp_uid": text, "merchant_uid": text, "status": text})).await;
            assert!(webhook.status.is_client_error(), "{text}: {}", webhook.status);
        }
        assert_eq!(app.count("products").await, INJECTIONS.len() as i64);
        assert!(app.count("users").await >= 2);
    }
}
