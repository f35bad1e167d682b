//! Token validation for other services: introspection with service
//! clients, signing-key rotation, several instances on one database.

use crate::backend_tests;
use crate::helpers::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    introspection_tells_active_tokens_from_everything_else,
    introspection_needs_client_credentials,
    rotation_publishes_first_signs_later_and_retires_after_expiry,
    instances_share_sign_outs_and_rotations,
);

/// Creates a service client; returns (client_id, secret).
pub(crate) async fn service_client(app: &TestApp, admin: &Tokens) -> (String, String) {
    let response = app
        .client
        .post(app.url("/v1/admin/service-clients"))
        .bearer_auth(&admin.access)
        .json(&json!({"name": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (
        body["client_id"].as_str().unwrap().to_string(),
        body["client_secret"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn introspect(
    base: &str,
    credentials: Option<(&str, &str)>,
    token: &str,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&token_type_hint=access_token",
            browser::urlencode(token)
        ));
    if let Some((id, secret)) = credentials {
        request = request.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    request.send().await.unwrap()
}

async fn rotate(app: &TestApp, actor: &Tokens) -> reqwest::Response {
    app.client
        .post(app.url("/v1/admin/keys/rotate"))
        .bearer_auth(&actor.access)
        .send()
        .await
        .unwrap()
}

async fn introspection_tells_active_tokens_from_everything_else(backend: Backend) {
    // Long enough that a loaded machine does not expire a token mid-test;
    // expiry itself is reached by moving the clock.
    let app = spawn_app_with(backend, |s| {
        s.access_token_ttl_secs = 30;
        s.jwt_leeway_secs = 0;
    })
    .await;
    let admin_email = unique_email();
    app.register(&admin_email, PASSWORD).await;
    let admin = app.make_super_admin(&admin_email).await;
    let (id, secret) = service_client(&app, &admin).await;
    let creds = Some((id.as_str(), secret.as_str()));
    let user = app.register(&unique_email(), PASSWORD).await;

    let response = introspect(&app.address, creds, &user.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let active: Value = response.json().await.unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], user.user_id.as_str());
    assert_eq!(active["sid"], user.session_id.as_str());
    assert_eq!(active["role"], "VIEWER");
    assert_eq!(active["iss"], "http://127.0.0.1");
    assert_eq!(active["aud"], "portcullis");
    assert_eq!(active["token_type"], "Bearer");
    assert!(active["exp"].as_i64().unwrap() > active["iat"].as_i64().unwrap());

    let inactive = json!({"active": false});
    // A ban or a role change: inactive at once.
    let banned = app.register(&unique_email(), PASSWORD).await;
    let promoted = app.register(&unique_email(), PASSWORD).await;
    let admin = app.signed_in(&admin_email).await;
    for (path, body) in [
        (format!("/v1/admin/users/{}/ban", banned.user_id), None),
        (
            format!("/v1/admin/users/{}", promoted.user_id),
            Some(json!({"role": "EDITOR"})),
        ),
    ] {
        let request = match body {
            None => app.client.post(app.url(&path)).json(&json!({})),
            Some(body) => app.client.patch(app.url(&path)).json(&body),
        };
        let response = request.bearer_auth(&admin.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for tokens in [&banned, &promoted] {
        let body: Value = introspect(&app.address, creds, &tokens.access)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body, inactive);
    }
    for token in [user.refresh.as_str(), "garbage", "a.b.c", ""] {
        let body: Value = introspect(&app.address, creds, token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body, inactive, "{token}");
    }
    // Revoked session: inactive at once.
    let other = app.signed_in(&app_email(&app, &user).await).await;
    let signed_out = app.delete("/v1/sessions/current", &other.access).await;
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    let body: Value = introspect(&app.address, creds, &other.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, inactive);
    // Expired (expiry is checked in whole seconds: move past the next one).
    app.advance(Duration::from_millis(31_100));
    let body: Value = introspect(&app.address, creds, &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, inactive);

    let discovery: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert_eq!(
        discovery["introspection_endpoint"],
        "http://127.0.0.1/v1/introspect"
    );
}

/// The address of a registered user, from the admin view of the user list.
async fn app_email(app: &TestApp, user: &Tokens) -> String {
    let me: Value = app.me(&user.access).await;
    me["email"].as_str().unwrap().to_string()
}

async fn introspection_needs_client_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (id, secret) = service_client(&app, &admin).await;
    let user = app.register(&unique_email(), PASSWORD).await;
    for creds in [
        None,
        Some((id.as_str(), "wrong secret")),
        Some(("svc_unknown", secret.as_str())),
    ] {
        let response = introspect(&app.address, creds, &user.access).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"portcullis\""
        );
        let (status, body) = problem(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["type"], "urn:portcullis:problem:invalid-client");
    }
    // A user's access token is not a client credential.
    let bearer = reqwest::Client::new()
        .post(app.url("/v1/introspect"))
        .bearer_auth(&user.access)
        .form(&[("token", user.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    // The secret is shown once: the list has none.
    let list: Value = app
        .get_json("/v1/admin/service-clients", Some(&admin.access))
        .await;
    assert!(!list.to_string().contains(&secret));
    assert_eq!(list["clients"][0]["client_id"], id.as_str());
    // Deleted clients are refused.
    let client_uuid = list["clients"][0]["id"].as_str().unwrap().to_string();
    let deleted = app
        .delete(
            &format!("/v1/admin/service-clients/{client_uuid}"),
            &admin.access,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let response = introspect(
        &app.address,
        Some((id.as_str(), secret.as_str())),
        &user.access,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Not a form.
    let json = reqwest::Client::new()
        .post(app.url("/v1/introspect"))
        .json(&json!({"token": user.access}))
        .send()
        .await
        .unwrap();
    assert!(json.status().is_client_error());
}

async fn rotation_publishes_first_signs_later_and_retires_after_expiry(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.key_rotation_lead_secs = 2;
        // Long enough that a loaded machine does not expire the admin's
        // token mid-test; expiry itself is reached by moving the clock.
        s.access_token_ttl_secs = 30;
        s.jwt_leeway_secs = 0;
    })
    .await;
    let admin = app.new_super_admin().await;
    // Only a SUPER-ADMIN rotates.
    let (_, plain_admin) = app.user_with_role(&admin, "ADMIN").await;
    let response = rotate(&app, &plain_admin).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let email = unique_email();
    let before = app.register(&email, PASSWORD).await;
    let old_kid = kid_of(&before.access);
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(
        jwks.headers()["cache-control"],
        "public, max-age=1",
        "half the lead"
    );

    let response = rotate(&app, &admin).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let rotation: Value = response.json().await.unwrap();
    let new_kid = rotation["kid"].as_str().unwrap().to_string();
    assert_eq!(rotation["retiring"], json!([old_kid]));

    // Published at once, not yet signing.
    let published = kids(&app.get_json("/.well-known/jwks.json", None).await);
    assert!(published.contains(&old_kid) && published.contains(&new_kid));
    assert_eq!(kid_of(&app.signed_in(&email).await.access), old_kid);

    app.advance(Duration::from_millis(2200));
    let after = app.signed_in(&email).await;
    assert_eq!(
        kid_of(&after.access),
        new_kid,
        "the new key signs after the lead"
    );
    // Tokens of the old key are good until they expire...
    let still = app.signed_in(&email).await; // (signed by the new key)
    assert_eq!(
        app.get("/v1/users/me", Some(&still.access)).await.status(),
        StatusCode::OK
    );
    // ...and the old key leaves the JWKS once its last token has expired
    // (at the instance's next periodic reload of its key set).
    app.advance(Duration::from_millis(31_000));
    let mut published = Vec::new();
    for _ in 0..40 {
        published = kids(&app.get_json("/.well-known/jwks.json", None).await);
        if published == vec![new_kid.clone()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(published, vec![new_kid]);
}

async fn instances_share_sign_outs_and_rotations(backend: Backend) {
    let first = spawn_app_with(backend, |s| s.key_rotation_lead_secs = 2).await;
    let second = first.second_instance().await;
    let admin = first.new_super_admin().await;
    let (id, secret) = service_client(&first, &admin).await;
    let creds = Some((id.as_str(), secret.as_str()));
    let user = first.register(&unique_email(), PASSWORD).await;

    // Signed by one, accepted by the other; a sign-out on one is seen by
    // introspection on the other at once.
    let body: Value = introspect(&second.address, creds, &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true);
    first.delete("/v1/sessions/current", &user.access).await;
    let body: Value = introspect(&second.address, creds, &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"active": false}));

    // A key rotated on one instance is used by both.
    let rotation: Value = rotate(&first, &admin).await.json().await.unwrap();
    let new_kid = rotation["kid"].as_str().unwrap().to_string();
    first.advance(Duration::from_millis(2500));
    // The other instance learns of the key at its next periodic reload.
    for _ in 0..60 {
        let jwks: Value = second.get_json("/.well-known/jwks.json", None).await;
        if kids(&jwks).contains(&new_kid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let email = unique_email();
    first.register(&email, PASSWORD).await;
    let on_second = second
        .post_json(
            "/v1/sessions",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(on_second.status(), StatusCode::CREATED);
    let on_second: Value = on_second.json().await.unwrap();
    let token = on_second["access_token"].as_str().unwrap();
    assert_eq!(
        kid_of(token),
        new_kid,
        "the other instance signs with the rotated key"
    );
    assert_eq!(
        first.get("/v1/users/me", Some(token)).await.status(),
        StatusCode::OK
    );

    // A service client deleted on one instance is refused by the other at
    // once, though that one remembers it between introspections.
    for _ in 0..3 {
        let response = introspect(&second.address, creds, token).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let list: Value = first
        .get_json("/v1/admin/service-clients", Some(&admin.access))
        .await;
    let client_uuid = list["clients"][0]["id"].as_str().unwrap();
    let deleted = first
        .delete(
            &format!("/v1/admin/service-clients/{client_uuid}"),
            &admin.access,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let response = introspect(&second.address, creds, token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
