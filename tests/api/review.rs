//! What an adversarial review of the contract found, each reproduced.

use crate::backend_tests;
use crate::helpers::*;
use portcullis::config::RateLimit;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    no_sequence_of_changes_leaves_no_super_admin,
    a_refused_code_request_does_not_hold_back_the_next,
    only_a_cors_preflight_passes_the_admin_gate_unauthenticated,
);

/// Unverifying the last SUPER-ADMIN's address used to take it out of the
/// count, after which it could be banned: nobody left to administer.
async fn no_sequence_of_changes_leaves_no_super_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let me = format!("/v1/admin/users/{}", root.user_id);
    for (method, path, body) in [
        (Method::PATCH, me.clone(), json!({"email_verified": false})),
        (Method::POST, format!("{me}/ban"), json!({"reason": "oops"})),
        (Method::PATCH, me.clone(), json!({"role": "ADMIN"})),
        (Method::DELETE, me.clone(), json!({})),
    ] {
        let (status, problem) = problem(app.send(method, &path, &root.access, body).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}");
        assert_eq!(problem["type"], "urn:portcullis:problem:last-super-admin");
    }
    // With a second one, either may lose their standing, but not both.
    let other = app.new_super_admin().await;
    let theirs = format!("/v1/admin/users/{}", other.user_id);
    let body = json!({"email_verified": false});
    let response = app
        .send(Method::PATCH, &theirs, &root.access, body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = problem(app.send(Method::PATCH, &me, &root.access, body).await).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the other one no longer counts"
    );
    let ban = json!({"reason": "gone"});
    let banned = app
        .send(Method::POST, &format!("{theirs}/ban"), &root.access, ban)
        .await;
    assert_eq!(
        banned.status(),
        StatusCode::OK,
        "an unusable SUPER-ADMIN may go"
    );
}

/// A stranger over their own per-address limit used to claim the cool-down
/// slot with the refused request, so the owner's next request was held back.
async fn a_refused_code_request_does_not_hold_back_the_next(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.mail_cooldown_secs = 60;
        s.rate_limits.mail_per_address = RateLimit::new(1, 3600);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let before = app.settled_mail_count(&email).await;
    let stranger = "203.0.113.9";
    let response = app.request_code_from(stranger, &email, "sign_in").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.advance(Duration::from_secs(61));
    let (status, _) = problem(app.request_code_from(stranger, &email, "sign_in").await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The owner, at once, from elsewhere: the mail goes out.
    let response = app
        .request_code_from("198.51.100.5", &email, "sign_in")
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.mail.wait_for_nth(&email, before + 2).await;
}

/// `OPTIONS` answered 405 with the admin routes' methods to anyone; only a
/// CORS preflight (which carries no credentials) may pass unauthenticated.
async fn only_a_cors_preflight_passes_the_admin_gate_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/v1/admin/users", "/v1/admin/keys/rotate", "/v1/admin/nope"] {
        let response = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .send()
            .await
            .unwrap();
        let (status, _) = problem(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let viewer = app.register(&unique_email(), PASSWORD).await;
    let response = app
        .send(
            Method::OPTIONS,
            "/v1/admin/users",
            &viewer.access,
            Value::Null,
        )
        .await;
    assert_eq!(problem(response).await.0, StatusCode::FORBIDDEN);
}
