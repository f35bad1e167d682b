use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

backend_tests!(
    sign_in_returns_a_token_pair_with_session_and_user,
    failures_are_indistinguishable,
    the_password_is_checked_exactly,
    every_sign_in_opens_a_new_session,
    there_are_no_default_accounts,
    unknown_accounts_cost_as_much_as_wrong_passwords,
    sign_in_needs_exactly_one_identifier,
);

async fn sign_in_returns_a_token_pair_with_session_and_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let browser = ("user-agent", "Firefox/200 (tests)");
    let body = json!({"email": email, "password": PASSWORD});
    let response = app.post_json_with("/v1/sessions", browser, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    assert_eq!(body["session"]["user_agent"], "Firefox/200 (tests)");
    assert_eq!(body["session"]["ip"], "127.0.0.1");
    assert_eq!(body["session"]["current"], true);
    assert_eq!(body["user"]["email"], email.as_str());
    assert!(body["user"].get("password_hash").is_none());
    let created = time::OffsetDateTime::parse(
        body["session"]["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        body["session"]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - created).whole_days(), 30, "absolute lifetime");
}

/// The problem body without the fields that differ per request.
fn comparable(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("request_id");
    body
}

async fn failures_are_indistinguishable(backend: Backend) {
    let app = spawn_app(backend).await;
    let known = unique_email();
    let pending = unique_email();
    app.register(&known, PASSWORD).await;
    app.sign_up(&pending, PASSWORD).await;

    let (s1, unknown_body) = problem(app.sign_in(&unique_email(), PASSWORD).await).await;
    let (s2, wrong_body) = problem(app.sign_in(&known, "not the password").await).await;
    let (s3, pending_body) = problem(app.sign_in(&pending, PASSWORD).await).await;
    assert_eq!([s1, s2, s3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(comparable(unknown_body.clone()), comparable(wrong_body));
    assert_eq!(comparable(unknown_body), comparable(pending_body));
}

async fn the_password_is_checked_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let password = "Long passphrase with Case, 72+ bytes: ".repeat(2) + "end";
    app.register(&email, &password).await;
    for wrong in [
        format!("{password} "),
        password.to_uppercase(),
        password[..72].to_string(),
        password.trim_end_matches("end").to_string(),
    ] {
        assert_eq!(
            app.sign_in(&email, &wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.sign_in(&email, &password).await.status(),
        StatusCode::CREATED
    );
}

async fn every_sign_in_opens_a_new_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let a = app.signed_in(&email).await;
    let b = app.signed_in(&email).await;
    assert_ne!(a.session_id, b.session_id);
    assert_ne!(a.refresh, b.refresh);
    let list: Value = app.get_json("/v1/sessions", Some(&a.access)).await;
    let ids = strings(&list["sessions"], "id");
    assert!(ids.contains(&a.session_id.as_str()) && ids.contains(&b.session_id.as_str()));
}

async fn there_are_no_default_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    for (email, password) in [
        ("admin@localhost.localdomain", "admin"),
        ("admin@example.com", "admin"),
        ("root@example.com", "root"),
    ] {
        assert_eq!(
            app.sign_in(email, password).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for username in ["admin", "root"] {
        let response = app
            .post_json(
                "/v1/sessions",
                &json!({"username": username, "password": username}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

/// No timing oracle: an unknown address is checked against a dummy hash,
/// so it costs one Argon2 verification like a wrong password does. (Not a
/// speed assertion: a quick exit would be ~50x faster than Argon2.)
async fn unknown_accounts_cost_as_much_as_wrong_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    let known = unique_email();
    app.register(&known, PASSWORD).await;
    let mut unknown_times = Vec::new();
    let mut known_times = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        app.sign_in(&unique_email(), "wrong password").await;
        unknown_times.push(started.elapsed());
        let started = Instant::now();
        app.sign_in(&known, "wrong password").await;
        known_times.push(started.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (unknown, known) = (median(&mut unknown_times), median(&mut known_times));
    assert!(
        unknown * 2 > known,
        "unknown accounts answer much faster ({unknown:?} vs {known:?})"
    );
}

async fn sign_in_needs_exactly_one_identifier(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in [
        json!({"password": PASSWORD}),
        json!({"email": unique_email(), "username": "ada", "password": PASSWORD}),
        json!({"email": unique_email(), "password": ""}),
        json!({"email": unique_email()}),
    ] {
        let (status, _) = problem(app.post_json("/v1/sessions", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}
