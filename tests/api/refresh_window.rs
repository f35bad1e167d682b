//! The refresh reuse window: a token presented again shortly after its own
//! rotation, while its successor is unused, gets that successor again.
//! Anything else that presents a rotated token ends the session.

use crate::backend_tests;
use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

backend_tests!(
    a_retry_within_the_window_gets_the_same_successor,
    reuse_after_the_window_revokes_the_session,
    an_older_ancestor_inside_the_window_revokes_the_session,
    a_window_of_zero_switches_it_off,
    two_instances_share_the_window,
);

async fn refreshed(response: Response) -> (bool, Tokens) {
    assert_eq!(response.status(), StatusCode::OK);
    let replayed = response
        .headers()
        .get("portcullis-refresh-replayed")
        .is_some_and(|v| v == "true");
    let body: Value = response.json().await.unwrap();
    (replayed, Tokens::from_body(&body))
}

async fn audit_count(app: &TestApp, event: &str) -> i64 {
    app.db
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE event_type = '{event}'"
        ))
        .await
}

async fn a_retry_within_the_window_gets_the_same_successor(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    let first = app.register(&unique_email(), PASSWORD).await;
    let (replayed, second) = refreshed(app.refresh(&first.refresh).await).await;
    assert!(!replayed);
    // The answer was lost; the client tries again with the same token.
    let (replayed, again) = refreshed(app.refresh(&first.refresh).await).await;
    assert!(replayed);
    assert_eq!(again.refresh, second.refresh);
    assert_ne!(again.access, second.access, "a fresh access token");
    assert_eq!(again.session_id, first.session_id);
    assert_eq!(audit_count(&app, "refresh_token.replayed").await, 1);
    // Nothing is stored in clear: only hashes of the tokens.
    let dump = app.db.dump().await;
    assert!(!dump.contains(&second.refresh));
    // The successor goes on working.
    let (replayed, _) = refreshed(app.refresh(&second.refresh).await).await;
    assert!(!replayed);
    assert_eq!(refreshes_counted(&app, "rotated").await, 2.0);
    assert_eq!(refreshes_counted(&app, "reuse_window").await, 1.0);
}

async fn refreshes_counted(app: &TestApp, result: &str) -> f64 {
    let metrics = crate::metrics::scrape(app).await.1;
    crate::metrics::value(
        &metrics,
        "portcullis_refreshes_total",
        &[("result", result)],
    )
}

async fn reuse_after_the_window_revokes_the_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.refresh_reuse_window_secs = 1;
        s.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let first = app.register(&unique_email(), PASSWORD).await;
    let (_, second) = refreshed(app.refresh(&first.refresh).await).await;
    app.advance(Duration::from_millis(1100));
    let (status, _) = problem(app.refresh(&first.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&second.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "the whole session was revoked"
    );
    assert_eq!(
        app.get("/v1/users/me", Some(&second.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(audit_count(&app, "refresh_token.reused").await, 1);
    assert_eq!(refreshes_counted(&app, "reuse_revoked").await, 1.0);
    assert_eq!(refreshes_counted(&app, "reuse_window").await, 0.0);
}

async fn an_older_ancestor_inside_the_window_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register(&unique_email(), PASSWORD).await;
    let (_, second) = refreshed(app.refresh(&first.refresh).await).await;
    let (_, third) = refreshed(app.refresh(&second.refresh).await).await;
    // `first`'s successor is no longer current: a copy of it is in other hands.
    let (status, _) = problem(app.refresh(&first.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&third.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_window_of_zero_switches_it_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.refresh_reuse_window_secs = 0).await;
    let first = app.register(&unique_email(), PASSWORD).await;
    let (_, second) = refreshed(app.refresh(&first.refresh).await).await;
    let (status, _) = problem(app.refresh(&first.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&second.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn two_instances_share_the_window(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.second_instance().await;
    let first = app.register(&unique_email(), PASSWORD).await;
    let body = serde_json::json!({ "refresh_token": first.refresh });
    let requests = (0..10).map(|i| {
        let url = if i % 2 == 0 {
            app.url("/v1/sessions/refresh")
        } else {
            other.url("/v1/sessions/refresh")
        };
        app.client.post(url).json(&body).send()
    });
    let responses: Vec<Response> = join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut successors = std::collections::HashSet::new();
    for response in responses {
        successors.insert(refreshed(response).await.1.refresh);
    }
    assert_eq!(successors.len(), 1);
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(app.refresh(&successor).await.status(), StatusCode::OK);
}
