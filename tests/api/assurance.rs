//! How and when the user proved who they are, in every access token and in
//! introspection: `aal`, `amr` (RFC 8176) and `auth_time`. Tokens are read
//! without the server's code (base64 and JSON only).

use crate::backend_tests;
use crate::helpers::*;
use crate::services::{introspect, service_client};
use crate::social::{identity, setup};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    each_first_factor_is_named_and_dated,
    a_refresh_keeps_when_and_how,
    introspection_agrees_with_the_token,
    a_provider_sign_in_is_federated,
);

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Checks the claims; `auth_time` must fall within `when` (the application's
/// clock runs on between the test's reads).
fn assert_assurance(access: &str, amr: &str, when: std::ops::RangeInclusive<i64>) -> i64 {
    let claims = claims(access);
    assert_eq!(claims["aal"], "aal1", "{claims}");
    assert_eq!(claims["amr"], json!([amr]), "{claims}");
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(when.contains(&auth_time), "{claims} not in {when:?}");
    auth_time
}

async fn each_first_factor_is_named_and_dated(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let now = || app.now().unix_seconds();
    // Confirming the sign-up code opens the first session.
    let before = now();
    let first = app.register(&email, PASSWORD).await;
    assert_assurance(&first.access, "otp", before..=now());

    app.advance(Duration::from_secs(30));
    let before = now();
    let response = app.sign_in(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let password = Tokens::from_body(&response.json().await.unwrap());
    assert_assurance(&password.access, "pwd", before..=now());

    app.advance(Duration::from_secs(30));
    let code = app.code_mail(&email, "sign_in").await.code();
    let body = json!({"action": "sign_in", "email": email, "code": code});
    let before = now();
    let response = app.confirm(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let emailed = Tokens::from_body(&response.json().await.unwrap());
    assert_assurance(&emailed.access, "otp", before..=now());
}

async fn a_refresh_keeps_when_and_how(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let tokens = app.signed_in_with(&email, PASSWORD).await;
    let signed_in = assert_assurance(&tokens.access, "pwd", 0..=i64::MAX);
    app.advance(Duration::from_secs(600));
    let response = app.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = Tokens::from_body(&response.json().await.unwrap());
    assert_assurance(&refreshed.access, "pwd", signed_in..=signed_in);
    let iat = claims(&refreshed.access)["iat"].as_i64().unwrap();
    assert!(iat >= signed_in + 600, "a new token, the old proof");
}

async fn introspection_agrees_with_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (id, secret) = service_client(&app, &admin).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let tokens = app.signed_in_with(&email, PASSWORD).await;
    let response = introspect(&app.address, Some((&id, &secret)), &tokens.access).await;
    let verdict: Value = response.json().await.unwrap();
    let claims = claims(&tokens.access);
    assert_eq!(verdict["active"], true);
    for claim in ["aal", "amr", "auth_time"] {
        assert_eq!(verdict[claim], claims[claim], "{claim}: {verdict}");
    }
}

async fn a_provider_sign_in_is_federated(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.idp
        .login_as(identity("assurance", &unique_email(), true))
        .await;
    let before = s.app.now().unix_seconds();
    let tokens = s.signed_in().await;
    assert_assurance(&tokens.access, "fed", before..=s.app.now().unix_seconds());
}
