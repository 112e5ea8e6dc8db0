//! `/auth/*`: sign-up, login, tokens and throttling.

use base64::Engine;
use serde_json::json;

on_both_databases! {
    async fn signup_login_and_me(app: TestApp) {
        let signup = app
            .post("/auth/signup", None, json!({
                "email": "Kim@Example.kr", "password": "password-123", "name": "김철수",
                "username": "kim_cs", "phone": "010-1234-5678", "role": "seller"
            }))
            .await;
        let body = signup.assert_status(201);
        assert_eq!(body["success"], true);
        let user_id = body["user_id"].as_i64().unwrap();

        // The e-mail is matched case-insensitively.
        let login = app.login("kim@example.KR", "password-123").await;
        let body = login.assert_status(200).clone();
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].as_u64().unwrap() > 0);
        let token = body["token"].as_str().unwrap();

        let me = app.get("/auth/me", Some(token)).await;
        let me = me.assert_status(200);
        assert_eq!(me["user_id"], user_id);
        assert_eq!(me["email"], "kim@example.kr");
        assert_eq!(me["name"], "김철수");
        assert_eq!(me["role"], "seller");
        assert!(me.get("password_hash").is_none() && me.get("password").is_none());
        assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

        app.get("/auth/me", None).await.assert_problem(401, "unauthorized");
    }

    async fn duplicate_email_is_refused(app: TestApp) {
        let body = json!({"email": "dup@example.kr", "password": "password-123", "name": "A"});
        app.post("/auth/signup", None, body).await.assert_status(201);
        let again = json!({"email": "DUP@example.kr", "password": "other-pass-456", "name": "B"});
        app.post("/auth/signup", None, again).await.assert_problem(409, "email_taken");
        assert_eq!(app.count("users").await, 1);
    }

    async fn admin_role_cannot_be_chosen_at_signup(app: TestApp) {
        let body = json!({"email": "x@example.kr", "password": "password-123", "name": "X", "role": "admin"});
        app.post("/auth/signup", None, body).await.assert_problem(422, "validation_failed");
        assert_eq!(app.count("users").await, 0);
    }

    async fn unknown_email_and_wrong_password_answer_alike(app: TestApp) {
        let member = app.buyer().await;
        let wrong = app.login(&member.email, "not-the-password").await;
        let unknown = app.login("nobody@example.kr", "not-the-password").await;
        wrong.assert_problem(401, "invalid_credentials");
        unknown.assert_problem(401, "invalid_credentials");
        assert_eq!(wrong.body, unknown.body);
    }

    async fn repeated_failed_logins_are_throttled(app: TestApp) {
        let member = app.buyer().await;
        for _ in 0..5 {
            app.login(&member.email, "wrong-password").await.assert_problem(401, "invalid_credentials");
        }
        let throttled = app.login(&member.email, "wrong-password").await;
        throttled.assert_problem(429, "rate_limited");
        assert!(throttled.headers.contains_key("retry-after"));
        // Even the right password waits out the window: guessing cannot be confirmed.
        app.login(&member.email, &member.password).await.assert_problem(429, "rate_limited");
        // Another account from the same client is not locked by it.
        let other = app.buyer().await;
        app.login(&other.email, &other.password).await.assert_status(200);
    }

    async fn tampered_and_unsigned_tokens_are_refused(app: TestApp) {
        let member = app.seller().await;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = member.token.split('.').collect();
        assert_eq!(parts.len(), 3);

        // Claims rewritten to another role and user, signature kept.
        let mut claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = json!("admin");
        claims["sub"] = json!("1");
        let forged_claims = engine.encode(claims.to_string());
        let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        app.get("/auth/me", Some(&tampered)).await.assert_problem(401, "unauthorized");

        // `alg: none` with no signature.
        let none_header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
        for unsigned in [format!("{none_header}.{forged_claims}."), format!("{none_header}.{forged_claims}")] {
            app.get("/auth/me", Some(&unsigned)).await.assert_problem(401, "unauthorized");
        }

        // Signed with another key.
        let other_key = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
        )
        .unwrap();
        app.get("/auth/me", Some(&other_key)).await.assert_problem(401, "unauthorized");

        // Expired, though correctly signed.
        claims["sub"] = json!(member.id.to_string());
        claims["exp"] = json!(1_000_000_000);
        let expired = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(app.config.jwt_secret().as_bytes()),
        )
        .unwrap();
        app.get("/auth/me", Some(&expired)).await.assert_problem(401, "unauthorized");

        for garbage in ["", "x", "a.b.c", "Bearer"] {
            app.get("/auth/me", Some(garbage)).await.assert_problem(401, "unauthorized");
        }
        app.get("/auth/me", Some(&member.token)).await.assert_status(200);
    }
}
