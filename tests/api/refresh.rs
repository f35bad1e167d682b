use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    refresh_rotates_the_refresh_token,
    reusing_a_rotated_token_revokes_the_session,
    unknown_and_malformed_refresh_tokens_are_refused,
    an_idle_session_ends,
    refreshing_never_passes_the_absolute_lifetime,
);

async fn refresh_rotates_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;

    let response = app.refresh(&first.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let second = Tokens::from_body(&body);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.session_id, first.session_id, "same session");
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(
        app.get("/v1/users/me", Some(&second.access)).await.status(),
        StatusCode::OK
    );

    let third = Tokens::from_body(&app.refresh(&second.refresh).await.json().await.unwrap());
    assert_eq!(
        app.get("/v1/users/me", Some(&third.access)).await.status(),
        StatusCode::OK
    );
}

async fn reusing_a_rotated_token_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let r1 = app.register(&email, PASSWORD).await;
    let r2 = Tokens::from_body(&app.refresh(&r1.refresh).await.json().await.unwrap());
    let r3 = Tokens::from_body(&app.refresh(&r2.refresh).await.json().await.unwrap());

    let (status, body) = problem(app.refresh(&r1.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:portcullis:problem:invalid-refresh-token");
    // The whole session is gone: the newest refresh token and access token too.
    app.assert_session_ended(&r3).await;
    // Other sessions of the user are untouched.
    let other = app.signed_in(&email).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK);
}

async fn unknown_and_malformed_refresh_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = problem(
        app.refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Spaces never occur in a token: refused as malformed, before any lookup.
    let (status, _) = problem(app.refresh("' OR 1=1 --").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = problem(app.refresh("'OR/**/1=1--").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = problem(app.refresh("").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = problem(
        app.post_json("/v1/sessions/refresh", &json!({"refresh_token": 42}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An access token is not a refresh token.
    let tokens = app.register(&unique_email(), PASSWORD).await;
    assert!(tokens.access.len() <= 1024, "within the field's length");
    let (status, body) = problem(app.refresh(&tokens.access).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:portcullis:problem:invalid-refresh-token");
}

/// An application whose sessions end after 2 s idle or `absolute_secs` in
/// all, with access tokens for 1 s.
async fn short_sessions(backend: Backend, absolute_secs: u64) -> TestApp {
    spawn_app_with(backend, |s| {
        s.access_token_ttl_secs = 1;
        s.session_idle_ttl_secs = 2;
        s.session_absolute_ttl_secs = absolute_secs;
    })
    .await
}

async fn an_idle_session_ends(backend: Backend) {
    let app = short_sessions(backend, 60).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    app.advance(Duration::from_millis(2300));
    let (status, _) = problem(app.refresh(&tokens.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn refreshing_never_passes_the_absolute_lifetime(backend: Backend) {
    let app = short_sessions(backend, 3).await;
    let mut tokens = app.register(&unique_email(), PASSWORD).await;
    for _ in 0..2 {
        app.advance(Duration::from_millis(1200));
        let response = app.refresh(&tokens.refresh).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "still inside both lifetimes"
        );
        tokens = Tokens::from_body(&response.json().await.unwrap());
    }
    app.advance(Duration::from_millis(1200));
    let (status, _) = problem(app.refresh(&tokens.refresh).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "past the absolute lifetime"
    );
}
