//! Password reset and password change: screening, sessions, notices, and a
//! reset that works while sign-in is locked.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

backend_tests!(
    reset_replaces_the_password_and_ends_every_session,
    reset_by_link_and_refused_passwords_keep_the_code,
    reset_works_while_sign_in_is_locked,
    wrong_reset_codes_count_and_kill_the_code,
    change_password_needs_the_current_one,
    common_and_context_passwords_are_refused_everywhere,
    password_less_users_set_a_password_by_reset,
);

const NEW_PASSWORD: &str = "correct horse battery staple 42";

async fn reset_replaces_the_password_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;
    let second = app.signed_in(&email).await;

    let mail = app.code_mail(&email, "reset_password").await;
    assert_eq!(mail.subject(), "Reset your password");
    let response = app.reset_password(&email, &mail.code(), NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty(), "no tokens");

    for tokens in [&first, &second] {
        let me = app.get("/v1/users/me", Some(&tokens.access)).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        let refresh = app
            .post_json(
                "/v1/sessions/refresh",
                &json!({"refresh_token": tokens.refresh}),
            )
            .await;
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    }
    let notice = app.mail.wait_for_nth(&email, 3).await;
    assert_eq!(notice.subject(), "Your password was changed");
    assert!(notice.body().contains("every session was signed out"));

    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&email, NEW_PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let again = app
        .reset_password(&email, &mail.code(), "yet another passphrase")
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "single use");
}

async fn reset_by_link_and_refused_passwords_keep_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let mail = app.code_mail(&email, "reset_password").await;
    assert!(mail.body().contains(&format!(
        "http://127.0.0.1/reset-password#token={}",
        mail.link_token()
    )));
    let token = mail.link_token();

    let missing = app
        .confirm(&json!({"action": "reset_password", "token": token}))
        .await;
    let (status, body) = problem(missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "new_password");
    let local = email.split('@').next().unwrap();
    for weak in ["password1234", &format!("{local}2025!")] {
        let (status, body) = problem(
            app.confirm(&json!({"action": "reset_password", "token": token,
                                "new_password": weak}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}");
        assert_eq!(body["errors"][0]["field"], "password");
    }
    // The refusals did not use up the link.
    let response = app
        .confirm(&json!({"action": "reset_password", "token": token,
                         "new_password": NEW_PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.sign_in(&email, NEW_PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // new_password belongs to reset_password only.
    let (status, _) = problem(
        app.confirm(
            &json!({"action": "sign_in", "email": email, "code": "12345678",
                            "new_password": NEW_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn reset_works_while_sign_in_is_locked(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.lockout.free_attempts = 2;
        s.lockout.base_delay_secs = 600;
        s.lockout.max_delay_secs = 600;
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    // Two failures lock sign-in for ten minutes: even the right password
    // is refused.
    for _ in 0..2 {
        app.sign_in(&email, "wrong password here").await;
    }
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "locked"
    );
    app.reset_by_mail(&email, NEW_PASSWORD).await;
    // The reset also cleared the lock.
    assert_eq!(
        app.sign_in(&email, NEW_PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn change_password_needs_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let current = app.register(&email, PASSWORD).await;
    let other = app.signed_in(&email).await;
    let change = |body: serde_json::Value| {
        app.send(Method::PUT, "/v1/users/me/password", &current.access, body)
    };

    let (status, _) = problem(
        change(json!({"current_password": "not the password", "new_password": NEW_PASSWORD})).await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED,
        "unchanged"
    );

    // Keeping the other sessions (the default).
    let response =
        change(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let notice = app.mail.wait_for_nth(&email, 2).await;
    assert_eq!(notice.subject(), "Your password was changed");
    assert!(!notice.body().contains("every session"));
    let me = app.get("/v1/users/me", Some(&other.access)).await;
    assert_eq!(me.status(), StatusCode::OK);

    // Ending them.
    let response = change(json!({"current_password": NEW_PASSWORD,
                                 "new_password": "third passphrase of mine",
                                 "revoke_other_sessions": true}))
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let refresh = app
        .post_json(
            "/v1/sessions/refresh",
            &json!({"refresh_token": other.refresh}),
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    let me = app.get("/v1/users/me", Some(&current.access)).await;
    assert_eq!(me.status(), StatusCode::OK, "this session stays");
    assert_eq!(
        app.sign_in(&email, "third passphrase of mine")
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn common_and_context_passwords_are_refused_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let local = email.split('@').next().unwrap().to_string();
    let weak = ["password1234", "qwertyuiop123", &format!("{local}2025!")];
    for password in weak {
        let (status, body) = problem(app.sign_up(&email, password).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "sign-up {password}");
        assert_eq!(body["errors"][0]["field"], "password");
    }
    let tokens = app.register(&email, PASSWORD).await;
    for password in weak {
        let (status, body) = problem(
            app.send(
                Method::PUT,
                "/v1/users/me/password",
                &tokens.access,
                json!({"current_password": PASSWORD, "new_password": password}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "change {password}");
        assert_eq!(body["errors"][0]["field"], "password");
    }
    let mail = app.code_mail(&email, "reset_password").await;
    for password in weak {
        let (status, _) = problem(app.reset_password(&email, &mail.code(), password).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "reset {password}");
    }
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED,
        "nothing changed"
    );
}

async fn password_less_users_set_a_password_by_reset(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let email = unique_email();
    let (tokens, _) = app.invited(&admin, &email).await;
    // No current password to give: the change endpoint refuses.
    let (status, _) = problem(
        app.send(
            Method::PUT,
            "/v1/users/me/password",
            &tokens.access,
            json!({"current_password": "", "new_password": NEW_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.reset_by_mail(&email, NEW_PASSWORD).await;
    assert_eq!(
        app.sign_in(&email, NEW_PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn wrong_reset_codes_count_and_kill_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "reset_password").await.code();
    let wrong = wrong_code(&code);
    // The same refusal for an address without an account.
    let unknown = unique_email();
    let (status, for_unknown) =
        problem(app.reset_password(&unknown, &wrong, NEW_PASSWORD).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..5 {
        let (status, body) = problem(app.reset_password(&email, &wrong, NEW_PASSWORD).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["detail"], for_unknown["detail"]);
    }
    let (status, _) = problem(app.reset_password(&email, &code, NEW_PASSWORD).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "five wrong guesses killed the code"
    );
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}
