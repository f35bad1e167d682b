use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

backend_tests!(
    confirming_by_link_creates_the_user_and_signs_in,
    a_code_works_only_once,
    five_wrong_codes_kill_the_code,
    four_wrong_codes_leave_the_code_alive,
    codes_expire,
    a_code_is_bound_to_its_address,
    resend_sends_the_same_code_until_it_is_used_up,
    resend_for_unknown_or_verified_addresses_sends_nothing,
    confirm_needs_either_a_code_or_a_token,
    secrets_are_stored_only_as_hashes,
    housekeeping_purges_what_expired,
);

async fn confirming_by_link_creates_the_user_and_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let token = app.mail.wait_for(&email).await.link_token();

    let response = app.confirm_token(&token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["email_verified"], true);
    assert_eq!(body["user"]["role"], "VIEWER");
    assert_eq!(body["user"]["auth_provider"], "email");
    assert_eq!(body["token_type"], "Bearer");
    let tokens = Tokens::from_body(&body);
    let me = app.get("/v1/users/me", Some(&tokens.access)).await;
    assert_eq!(me.status(), StatusCode::OK);

    let (status, _) = problem(app.confirm_token(&token).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a link works once");
}

async fn a_code_works_only_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let mail = app.mail.wait_for(&email).await;
    assert_eq!(
        app.confirm_code(&email, &mail.code()).await.status(),
        StatusCode::CREATED
    );
    let (status, body) = problem(app.confirm_code(&email, &mail.code()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:portcullis:problem:invalid-code");
    let (status, _) = problem(app.confirm_token(&mail.link_token()).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "code and link are one secret"
    );
}

async fn five_wrong_codes_kill_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let mail = app.mail.wait_for(&email).await;
    for n in 0..5 {
        let (status, _) = problem(
            app.confirm_code(&email, &nth_wrong_code(&mail.code(), n))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, _) = problem(app.confirm_code(&email, &mail.code()).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the right code is dead now"
    );
    let (status, _) = problem(app.confirm_token(&mail.link_token()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "and so is the link");
}

async fn four_wrong_codes_leave_the_code_alive(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let code = app.mail.wait_for(&email).await.code();
    for n in 0..4 {
        app.confirm_code(&email, &nth_wrong_code(&code, n)).await;
    }
    assert_eq!(
        app.confirm_code(&email, &code).await.status(),
        StatusCode::CREATED
    );
}

async fn codes_expire(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.verify_email_ttl_secs = 1).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let mail = app.mail.wait_for(&email).await;
    app.advance(Duration::from_millis(1300));
    let (status, _) = problem(app.confirm_code(&email, &mail.code()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = problem(app.confirm_token(&mail.link_token()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A new code works (the pending registration lives longer than its codes).
    assert_eq!(
        app.request_code(&email, "verify_email").await.status(),
        StatusCode::ACCEPTED
    );
    let fresh = app.mail.wait_for_nth(&email, 2).await;
    assert_eq!(
        app.confirm_code(&email, &fresh.code()).await.status(),
        StatusCode::CREATED
    );
}

async fn a_code_is_bound_to_its_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = unique_email();
    let bob = unique_email();
    app.sign_up(&alice, PASSWORD).await;
    app.sign_up(&bob, PASSWORD).await;
    let alice_code = app.mail.wait_for(&alice).await.code();
    app.mail.wait_for(&bob).await;
    let (status, _) = problem(app.confirm_code(&bob, &alice_code).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.confirm_code(&alice, &alice_code).await.status(),
        StatusCode::CREATED
    );
}

/// Asking again re-sends the live code (whoever asks): the code already in
/// the mailbox keeps working. Only a code with no attempts left is replaced.
async fn resend_sends_the_same_code_until_it_is_used_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let first = app.mail.wait_for_nth(&email, 1).await;
    assert_eq!(
        app.request_code(&email, "verify_email").await.status(),
        StatusCode::ACCEPTED
    );
    let second = app.mail.wait_for_nth(&email, 2).await;
    assert_eq!(first.code(), second.code());
    assert_eq!(first.link_token(), second.link_token());
    // Used up by wrong guesses: the next request brings a new code.
    let wrong = wrong_code(&first.code());
    for _ in 0..5 {
        let (status, _) = problem(app.confirm_code(&email, &wrong).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    app.request_code(&email, "verify_email").await;
    let third = app.mail.wait_for_nth(&email, 3).await;
    assert_ne!(third.code(), first.code());
    let (status, _) = problem(app.confirm_code(&email, &first.code()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.confirm_code(&email, &third.code()).await.status(),
        StatusCode::CREATED
    );
}

async fn resend_for_unknown_or_verified_addresses_sends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = unique_email();
    let verified = unique_email();
    app.register(&verified, PASSWORD).await;

    let a = app.request_code(&unknown, "verify_email").await;
    let b = app.request_code(&verified, "verify_email").await;
    assert_eq!(a.status(), StatusCode::ACCEPTED);
    assert_eq!(b.status(), StatusCode::ACCEPTED);
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(app.settled_mail_count(&unknown).await, 0);
    assert_eq!(
        app.settled_mail_count(&verified).await,
        1,
        "only the first verification mail"
    );

    let (status, _) = problem(app.request_code(&unknown, "launch_missiles").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn confirm_needs_either_a_code_or_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    for body in [
        json!({"action": "verify_email"}),
        json!({"action": "verify_email", "email": email}),
        json!({"action": "verify_email", "code": "12345678"}),
        json!({"action": "verify_email", "email": email, "code": "12345678", "token": "abc"}),
        json!({"action": "verify_email", "email": email, "code": "1234abcd"}),
        json!({"action": "verify_email", "token": ""}),
        json!({"action": "verify_email", "token": "x".repeat(600)}),
        json!({"email": email, "code": "12345678"}),
    ] {
        let response = app
            .post_json("/v1/email-verification-codes/confirm", &body)
            .await;
        let (status, _) = problem(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

async fn secrets_are_stored_only_as_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let mail = app.mail.wait_for(&email).await;
    let dump = app.db.dump().await;
    assert!(dump.contains(&email), "the dump sees the data");
    assert!(!dump.contains(&mail.code()), "the code is stored in clear");
    assert!(
        !dump.contains(&mail.link_token()),
        "the link token is stored in clear"
    );
    assert!(!dump.contains(PASSWORD), "the password is stored in clear");
    assert!(
        dump.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "Argon2id with OWASP parameters"
    );

    let body: serde_json::Value = app
        .confirm_code(&email, &mail.code())
        .await
        .json()
        .await
        .unwrap();
    let tokens = Tokens::from_body(&body);
    let dump = app.db.dump().await;
    assert!(
        !dump.contains(&tokens.refresh),
        "the refresh token is stored in clear"
    );
}

async fn housekeeping_purges_what_expired(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.verify_email_ttl_secs = 1;
        s.pending_registration_ttl_secs = 1;
    })
    .await;
    let live = app.register(&unique_email(), PASSWORD).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    app.mail.wait_for(&email).await;
    app.advance(Duration::from_millis(1200));

    let store = portcullis::store::connect(&app.settings, false)
        .await
        .unwrap();
    let deleted = portcullis::housekeeping::purge_once(store.as_ref(), &app.settings, app.now())
        .await
        .unwrap();
    assert!(
        deleted >= 3,
        "two codes and a pending registration, got {deleted}"
    );
    assert_eq!(app.db.count_rows("pending_registrations").await, 0);
    assert_eq!(app.db.count_rows("email_verification_codes").await, 0);
    assert_eq!(app.db.count_rows("sessions").await, 1);
    // Live sessions are kept.
    assert_eq!(app.refresh(&live.refresh).await.status(), StatusCode::OK);

    // Audit events are kept for `audit_retention_days` (0: forever).
    let events = app.db.count_rows("audit_events").await;
    assert!(events >= 3, "sign-ups, a verification: {events}");
    app.db.age_audit_events(89).await;
    portcullis::housekeeping::purge_once(store.as_ref(), &app.settings, app.now())
        .await
        .unwrap();
    assert_eq!(
        app.db.count_rows("audit_events").await,
        events,
        "within 90 days"
    );
    app.db.age_audit_events(2).await;
    let mut forever = app.settings.clone();
    forever.audit_retention_days = 0;
    portcullis::housekeeping::purge_once(store.as_ref(), &forever, app.now())
        .await
        .unwrap();
    assert_eq!(
        app.db.count_rows("audit_events").await,
        events,
        "kept forever"
    );
    portcullis::housekeeping::purge_once(store.as_ref(), &app.settings, app.now())
        .await
        .unwrap();
    assert_eq!(
        app.db.count_rows("audit_events").await,
        0,
        "older than 90 days"
    );
}
