//! `mfa.required_for_roles`: a user in such a role without a second factor
//! signs in to an enrolment-only session, which reaches factor enrolment and
//! nothing else, here or (by its audience) at any other service.

use crate::backend_tests;
use crate::helpers::*;
use crate::mfa::{code_now, enrol};
use crate::services::{introspect, service_client};
use crate::tokens::verified_claims;
use portcullis::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

backend_tests!(
    an_administrator_without_a_factor_reaches_only_enrolment,
    a_promoted_administrator_needs_the_second_factor_on_the_admin_api,
);

async fn policy_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.mfa.required_for_roles = vec![Role::SuperAdmin, Role::Admin];
    })
    .await
}

async fn an_administrator_without_a_factor_reaches_only_enrolment(backend: Backend) {
    let app = policy_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    // `make_super_admin` signs in again after the change: 201, restricted.
    let response = {
        app.make_super_admin(&email).await;
        app.sign_in(&email, PASSWORD).await
    };
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_enrolment_required"], true);
    let restricted = Tokens::from_body(&body);
    let claims = verified_claims(&app, &restricted.access).await;
    assert_eq!(
        claims["aud"], "portcullis:mfa-enrolment",
        "no other service takes it"
    );
    assert_eq!(claims["aal"], "aal1");

    for path in ["/v1/admin/users", "/v1/users/me", "/v1/sessions"] {
        let response = app.get(path, Some(&restricted.access)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("insufficient_user_authentication"),
            "{challenge}"
        );
        assert!(challenge.contains("acr_values=\"aal2\""), "{challenge}");
    }
    let factors = app
        .get_json("/v1/users/me/factors", Some(&restricted.access))
        .await;
    assert_eq!(factors["factors"], json!([]));
    let current = app
        .get_json("/v1/sessions/current", Some(&restricted.access))
        .await;
    assert_eq!(current["session"]["aal"], "aal1");
    // A refresh keeps it restricted.
    let refreshed = app.refresh(&restricted.refresh).await;
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["mfa_enrolment_required"], true);
    let restricted = Tokens::from_body(&refreshed);

    // Enrolment ends it: the new pair reaches everything.
    let user = enrol(&app, &email, &restricted).await;
    let users = app.get("/v1/admin/users", Some(&user.tokens.access)).await;
    assert_eq!(users.status(), StatusCode::OK);
    let claims = verified_claims(&app, &user.tokens.access).await;
    assert_eq!(claims["aud"], "portcullis");
    assert_eq!(claims["aal"], "aal2");
    // Introspection: the enrolment-only token is not active anywhere.
    let (id, secret) = service_client(&app, &user.tokens).await;
    let verdict: Value = introspect(&app.address, Some((&id, &secret)), &restricted.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict, json!({"active": false}));
    // The role must keep a second factor: the last one cannot go.
    let path = format!("/v1/users/me/factors/{}", user.factor_id);
    let response = app.delete(&path, &user.tokens.access).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

async fn a_promoted_administrator_needs_the_second_factor_on_the_admin_api(backend: Backend) {
    let app = policy_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    app.make_super_admin(&email).await;
    let restricted = app.signed_in(&email).await;
    let root = enrol(&app, &email, &restricted).await;
    // A new ADMIN signs in: enrolment-only until they enrol.
    let (admin_email, admin) = app.user_with_role(&root.tokens, "ADMIN").await;
    let response = app.get("/v1/admin/users", Some(&admin.access)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let enrolled = enrol(&app, &admin_email, &admin).await;
    let response = app
        .get("/v1/admin/users", Some(&enrolled.tokens.access))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // Signing in again asks for the second factor before anything.
    let response = app.sign_in(&admin_email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let pending: Value = response.json().await.unwrap();
    app.advance(std::time::Duration::from_secs(30));
    let body = json!({"mfa_token": pending["mfa_token"], "code": code_now(&app, &enrolled.totp)});
    let response = app.post_json("/v1/sessions/mfa", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    let response = app
        .send(Method::GET, "/v1/admin/users", &tokens.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
