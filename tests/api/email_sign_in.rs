//! Passwordless sign-in by emailed code or link, and what every code action
//! shares: binding to address and action, single use, attempts, expiry,
//! resend cool-down and the per-address cap.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

backend_tests!(
    sign_in_by_code_and_by_link,
    the_sessions_endpoint_takes_a_code_too,
    unknown_addresses_get_the_same_answer_and_no_mail,
    codes_are_bound_to_action_and_address,
    the_right_code_fails_after_five_wrong_ones,
    sign_in_codes_expire,
    sixteen_concurrent_confirms_one_success,
    a_new_request_kills_the_previous_code,
    resend_cool_down_and_hourly_cap,
    banned_users_get_no_code,
);

async fn sign_in_by_code_and_by_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;

    let mail = app.code_mail(&email, "sign_in").await;
    assert_eq!(mail.subject(), "Your sign-in code");
    let code = mail.code();
    let response = app
        .confirm(&json!({"action": "sign_in", "email": email, "code": code}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    let by_code = Tokens::from_body(&body);
    assert_eq!(by_code.user_id, first.user_id);
    assert_ne!(by_code.session_id, first.session_id, "a new session");
    let me = app.get("/v1/users/me", Some(&by_code.access)).await;
    assert_eq!(me.status(), StatusCode::OK);

    // The link: its token goes into the body, never a query string.
    let mail = app.code_mail(&email, "sign_in").await;
    let link = mail.body();
    assert!(link.contains("http://127.0.0.1/sign-in#token="), "{link}");
    let response = app
        .confirm(&json!({"action": "sign_in", "token": mail.link_token()}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, _) = problem(
        app.confirm(&json!({"action": "sign_in", "token": mail.link_token()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the link works once");

    // The audit log names the method.
    let admin = app.new_super_admin().await;
    let events: serde_json::Value = app
        .get_json(
            &format!(
                "/v1/admin/audit-events?user_id={}&type=sign_in.succeeded",
                first.user_id
            ),
            Some(&admin.access),
        )
        .await;
    let methods: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods.iter().filter(|m| **m == "email_code").count(), 2);
}

async fn unknown_addresses_get_the_same_answer_and_no_mail(backend: Backend) {
    let app = spawn_app(backend).await;
    let known = unique_email();
    app.register(&known, PASSWORD).await;
    let unknown = unique_email();
    for action in ["sign_in", "reset_password"] {
        let a = app.request_code(&known, action).await;
        let b = app.request_code(&unknown, action).await;
        assert_eq!(a.status(), StatusCode::ACCEPTED);
        assert_eq!(b.status(), StatusCode::ACCEPTED);
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    }
    assert_eq!(app.settled_mail_count(&unknown).await, 0);
    assert_eq!(app.mail.to(&known).len(), 3, "verification + 2 codes");
    // change_email codes only come from POST /v1/users/me/email.
    let (status, body) = problem(app.request_code(&known, "change_email").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "action");
}

async fn codes_are_bound_to_action_and_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (unique_email(), unique_email());
    app.register(&a, PASSWORD).await;
    app.register(&b, PASSWORD).await;
    let reset = app.code_mail(&a, "reset_password").await;
    let sign_in_b = app.code_mail(&b, "sign_in").await;

    for action in ["sign_in", "verify_email", "change_email"] {
        let (status, _) = problem(
            app.confirm(&json!({"action": action, "email": a, "code": reset.code()}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reset code as {action}");
        let (status, _) = problem(
            app.confirm(&json!({"action": action, "token": reset.link_token()}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reset link as {action}");
    }
    // b's code with a's address.
    let (status, _) = problem(
        app.confirm(&json!({"action": "sign_in", "email": a, "code": sign_in_b.code()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Both codes still work where they belong.
    let response = app
        .confirm(&json!({"action": "sign_in", "email": b, "code": sign_in_b.code()}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .confirm(
            &json!({"action": "reset_password", "email": a, "code": reset.code(),
                         "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn the_right_code_fails_after_five_wrong_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "sign_in").await.code();
    let wrong = wrong_code(&code);
    for _ in 0..5 {
        let (status, _) = problem(
            app.confirm(&json!({"action": "sign_in", "email": email, "code": wrong}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = problem(
        app.confirm(&json!({"action": "sign_in", "email": email, "code": code}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the code is dead");
}

async fn sign_in_codes_expire(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sign_in_code_ttl_secs = 1).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let mail = app.code_mail(&email, "sign_in").await;
    assert!(mail.body().contains("expire in 1 minutes"));
    app.advance(Duration::from_millis(1500));
    let (status, _) = problem(
        app.confirm(&json!({"action": "sign_in", "email": email, "code": mail.code()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fresh = app.code_mail(&email, "sign_in").await;
    let response = app
        .confirm(&json!({"action": "sign_in", "email": email, "code": fresh.code()}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn sixteen_concurrent_confirms_one_success(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "sign_in").await.code();
    let body = json!({"action": "sign_in", "email": email, "code": code});
    let attempts = (0..16).map(|_| app.confirm(&body));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST));
}

async fn a_new_request_kills_the_previous_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let old = app.code_mail(&email, "sign_in").await;
    let new = app.code_mail(&email, "sign_in").await;
    for body in [
        json!({"action": "sign_in", "email": email, "code": old.code()}),
        json!({"action": "sign_in", "token": old.link_token()}),
    ] {
        if old.code() != new.code() || body.get("token").is_some() {
            let (status, _) = problem(app.confirm(&body).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }
    }
    let response = app
        .confirm(&json!({"action": "sign_in", "email": email, "code": new.code()}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn resend_cool_down_and_hourly_cap(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.mail_cooldown_secs = 60;
        s.rate_limits.mail_per_address = portcullis::config::RateLimit::new(4, 3600);
    })
    .await;
    let minute = Duration::from_secs(61);
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    // Registration sent the first mail. The cool-down counts per action: a
    // sign-in code and a reset code still go out; more sign-in codes within
    // the minute do not (with the same 202), and, held back, they do not
    // count against the hourly limit either: someone who keeps asking at
    // normal speed is not locked out for an hour.
    for action in ["sign_in", "reset_password"]
        .into_iter()
        .chain(["sign_in"; 8])
    {
        let response = app.request_code(&email, action).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{action}");
    }
    assert_eq!(
        app.settled_mail_count(&email).await,
        3,
        "one mail a minute per action"
    );
    app.advance(minute);
    assert_eq!(
        app.request_code(&email, "sign_in").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.settled_mail_count(&email).await, 4);
    // The fifth mail for the address in the hour from this client (the
    // sign-up counts): 429, known or not.
    app.advance(minute);
    let response = app.request_code(&email, "sign_in").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = retry_after(&response);
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    let unknown = unique_email();
    for _ in 0..4 {
        for _ in 0..3 {
            assert_eq!(
                app.request_code(&unknown, "sign_in").await.status(),
                StatusCode::ACCEPTED
            );
        }
        app.advance(minute);
    }
    let (status, _) = problem(app.request_code(&unknown, "sign_in").await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

async fn banned_users_get_no_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "sign_in").await.code();
    let response = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/admin/users/{}/ban", user.user_id),
            &admin.access,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // A code from before the ban does not open a session.
    let (status, _) = problem(
        app.confirm(&json!({"action": "sign_in", "email": email, "code": code}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let before = app.mail.to(&email).len();
    assert_eq!(
        app.request_code(&email, "sign_in").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.settled_mail_count(&email).await, before);
}

async fn the_sessions_endpoint_takes_a_code_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "sign_in").await.code();
    let wrong = wrong_code(&code);
    let (status, for_wrong_code) = problem(
        app.post_json("/v1/sessions", &json!({"email": email, "code": wrong}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, wrong_password) = problem(app.sign_in(&email, "not the password").await).await;
    assert_eq!(for_wrong_code["detail"], wrong_password["detail"]);
    for body in [
        json!({"email": email, "code": code, "password": PASSWORD}),
        json!({"username": "someone", "code": code}),
        json!({"email": email}),
    ] {
        let (status, _) = problem(app.post_json("/v1/sessions", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let response = app
        .post_json("/v1/sessions", &json!({"email": email, "code": code}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(tokens.user_id, user.user_id);
}
