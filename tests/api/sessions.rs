use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

backend_tests!(
    list_and_current_session,
    sign_out_takes_effect_at_once,
    a_user_can_revoke_only_their_own_sessions,
    revoke_others_then_all,
    protected_endpoints_need_a_valid_bearer_token,
    the_current_session_shows_its_last_refresh,
);

async fn list_and_current_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;
    let second = app.signed_in(&email).await;

    let list: Value = app.get_json("/v1/sessions", Some(&second.access)).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0]["id"],
        second.session_id.as_str(),
        "newest first"
    );
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["id"], first.session_id.as_str());
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[1]["user_agent"], "portcullis-tests/1.0");

    let current: Value = app
        .get_json("/v1/sessions/current", Some(&first.access))
        .await;
    assert_eq!(current["session"]["id"], first.session_id.as_str());
    assert_eq!(current["user"]["email"], email.as_str());
}

async fn sign_out_takes_effect_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let other = app.signed_in(&email).await;

    let response = app.delete("/v1/sessions/current", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The access token is still within its lifetime, but its session is gone.
    let (status, _) = problem(app.get("/v1/users/me", Some(&tokens.access)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/users/me", Some(&other.access)).await.status(),
        StatusCode::OK
    );
}

async fn a_user_can_revoke_only_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = unique_email();
    let bob = unique_email();
    let alice_phone = app.register(&alice, PASSWORD).await;
    let alice_laptop = app.signed_in(&alice).await;
    let bob_tokens = app.register(&bob, PASSWORD).await;

    let path = format!("/v1/sessions/{}", bob_tokens.session_id);
    let (status, _) = problem(app.delete(&path, &alice_phone.access).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/users/me", Some(&bob_tokens.access))
            .await
            .status(),
        StatusCode::OK
    );

    let path = format!("/v1/sessions/{}", alice_laptop.session_id);
    assert_eq!(
        app.delete(&path, &alice_phone.access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&alice_laptop.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = problem(app.delete(&path, &alice_phone.access).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already revoked");
    let (status, _) = problem(
        app.delete("/v1/sessions/not-a-uuid", &alice_phone.access)
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a malformed id is bad input"
    );
}

async fn revoke_others_then_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let a = app.register(&email, PASSWORD).await;
    let b = app.signed_in(&email).await;
    let c = app.signed_in(&email).await;

    let (status, _) = problem(app.delete("/v1/sessions", &a.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "scope is required");
    let (status, _) = problem(app.delete("/v1/sessions?scope=everything", &a.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let response = app.delete("/v1/sessions?scope=others", &a.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 2);
    assert_eq!(
        app.get("/v1/users/me", Some(&a.access)).await.status(),
        StatusCode::OK
    );
    for gone in [&b, &c] {
        assert_eq!(
            app.get("/v1/users/me", Some(&gone.access)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    let body: Value = app
        .delete("/v1/sessions?scope=all", &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["revoked"], 1);
    assert_eq!(
        app.get("/v1/users/me", Some(&a.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn protected_endpoints_need_a_valid_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let attempts = [
        app.client
            .get(app.url("/v1/users/me"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url(&format!("/v1/users/me?access_token={}", tokens.access)))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/v1/users/me"))
            .header("authorization", format!("Basic {}", tokens.access))
            .send()
            .await
            .unwrap(),
        app.get("/v1/users/me", Some("garbage")).await,
        app.get("/v1/sessions", Some("a.b.c")).await,
        app.get("/v1/sessions/current", Some(&"x".repeat(10_000)))
            .await,
    ];
    let mut details = Vec::new();
    for response in attempts {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, body) = problem(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        details.push(body["detail"].clone());
    }
    details.dedup();
    assert_eq!(details.len(), 1, "one message, whatever was wrong");
}

/// The instance remembers the session between requests; a refresh there
/// shows in the next answer (its last use, and so its idle expiry).
async fn the_current_session_shows_its_last_refresh(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let before = app
        .get_json("/v1/sessions/current", Some(&tokens.access))
        .await;
    app.advance(std::time::Duration::from_secs(5));
    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let fresh = Tokens::from_body(&refreshed.json().await.unwrap());
    for access in [&tokens.access, &fresh.access] {
        let after = app.get_json("/v1/sessions/current", Some(access)).await;
        let (after, before) = (&after["session"], &before["session"]);
        assert!(after["last_used_at"].is_string(), "{after}");
        assert_ne!(after["last_used_at"], before["last_used_at"], "{after}");
        assert_ne!(after["idle_expires_at"], before["idle_expires_at"]);
    }
}
