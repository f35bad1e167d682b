use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    sign_up_creates_a_pending_registration_and_mails_a_code,
    sign_up_answers_the_same_for_a_taken_address,
    a_second_sign_up_never_decides_the_password,
    racing_sign_ups_leave_one_registration,
    sign_up_refuses_invalid_input,
    sign_up_accepts_long_unicode_passphrases,
    emails_are_case_insensitive,
    usernames_are_unique,
    mail_cool_down_limits_mails_per_address,
);

async fn sign_up_creates_a_pending_registration_and_mails_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();

    let response = app.sign_up(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let mail = app.mail.wait_for(&email).await;
    assert_eq!(mail.subject(), "Verify your email address");
    let code = mail.code();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    let token = mail.link_token();
    assert_eq!(token.len(), 43, "256-bit base64url token");
    assert!(mail.body().contains("http://127.0.0.1/verify-email#token="));
    // Not a user yet: signing in fails like any wrong password.
    let (status, body) = problem(app.sign_in(&email, PASSWORD).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:portcullis:problem:invalid-credentials");
}

async fn sign_up_answers_the_same_for_a_taken_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.sign_up(&email, PASSWORD).await;
    let first_status = first.status();
    let first_body = first.text().await.unwrap();
    let code = app.mail.wait_for(&email).await.code();
    assert_eq!(
        app.confirm_code(&email, &code).await.status(),
        StatusCode::CREATED
    );

    let second = app.sign_up(&email, "another fine passphrase").await;
    assert_eq!(second.status(), first_status);
    assert_eq!(second.text().await.unwrap(), first_body);

    // The owner is told, and gets no code.
    let notice = app.mail.wait_for_nth(&email, 2).await;
    assert_eq!(
        notice.subject(),
        "Someone tried to sign up with your address"
    );
    assert!(!notice.body().contains("code is"));
    // The first password still works, the second never did.
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.sign_in(&email, "another fine passphrase")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The takeover from review: a stranger signs up second for the owner's
/// unverified address with their own password. Whichever code the owner
/// confirms, the account carries the owner's password.
async fn a_second_sign_up_never_decides_the_password(backend: Backend) {
    for confirm_with in [0, 1] {
        let app = spawn_app(backend).await;
        let email = unique_email();
        let owner = "the owner's own passphrase";
        let stranger = "the stranger's passphrase";
        app.sign_up(&email, owner).await;
        let first = app.mail.wait_for_nth(&email, 1).await;
        // The stranger, from elsewhere; the answer is the usual 202.
        assert_eq!(
            app.sign_up(&email, stranger).await.status(),
            StatusCode::ACCEPTED
        );
        let second = app.mail.wait_for_nth(&email, 2).await;
        assert_eq!(first.code(), second.code(), "the same code, re-sent");
        assert_eq!(first.link_token(), second.link_token());

        let code = [first.code(), second.code()][confirm_with].clone();
        assert_eq!(
            app.confirm_code(&email, &code).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(
            app.sign_in(&email, owner).await.status(),
            StatusCode::CREATED
        );
        let (status, _) = problem(app.sign_in(&email, stranger).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// Two sign-ups racing for one address: one registration, one password.
async fn racing_sign_ups_leave_one_registration(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let passwords: Vec<String> = (0..6).map(|i| format!("racing passphrase {i}")).collect();
    let responses =
        futures_util::future::join_all(passwords.iter().map(|p| app.sign_up(&email, p))).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::ACCEPTED));
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM pending_registrations")
            .await,
        1
    );
    let mails = app.mail.wait_for_nth(&email, 6).await;
    let codes: std::collections::HashSet<String> =
        app.mail.to(&email).iter().map(|m| m.code()).collect();
    assert_eq!(codes.len(), 1, "every mail carries the one code");
    assert_eq!(
        app.confirm_code(&email, &mails.code()).await.status(),
        StatusCode::CREATED
    );
    // One after the other, and past any lock the wrong ones earn (five
    // wrong passwords lock the account for a while; whichever request won
    // the race may be the last one tried).
    let mut winners = 0;
    for password in &passwords {
        if app.sign_in(&email, password).await.status() == StatusCode::CREATED {
            winners += 1;
        }
        app.advance(std::time::Duration::from_secs(3600));
    }
    assert_eq!(winners, 1);
}

async fn sign_up_refuses_invalid_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let local = email.split('@').next().unwrap().to_string();
    let cases = [
        (json!({"email": email, "password": "1234567"}), "password"),
        (
            json!({"email": email, "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": email, "password": "password1234"}),
            "password",
        ),
        (
            json!({"email": email, "password": "qwertyuiop123"}),
            "password",
        ),
        (
            json!({"email": email, "password": format!("{local}2025!")}),
            "password",
        ),
        (
            json!({"email": "not-an-address", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@example.com\r\nBcc: x@evil.test", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": email, "password": PASSWORD, "username": "no spaces"}),
            "username",
        ),
        (
            json!({"email": email, "password": PASSWORD, "first_name": "a\nb"}),
            "first_name",
        ),
        (json!({"email": email, "password": 12345678}), "password"),
    ];
    for (body, field) in cases {
        let (status, problem) = problem(app.post_json("/v1/users", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) = problem(
        app.post_json(
            "/v1/users",
            &json!({"email": email, "password": PASSWORD, "role": "SUPER-ADMIN"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("unknown field `role`"));
    assert_eq!(
        app.settled_mail_count(&email).await,
        0,
        "nothing was mailed"
    );
}

async fn sign_up_accepts_long_unicode_passphrases(backend: Backend) {
    let app = spawn_app(backend).await;
    for password in [
        "😀😀😀😀😀😀😀😀".to_string(),
        "a long passphrase with spaces, ümlauts and emoji 🐢 ".repeat(2),
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..64]
            .to_string(),
    ] {
        let email = unique_email();
        app.register(&email, &password).await;
        assert_eq!(
            app.sign_in(&email, &password).await.status(),
            StatusCode::CREATED
        );
    }
}

async fn emails_are_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let shouted = email.to_uppercase();
    app.register(&shouted, PASSWORD).await;
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // The lower-cased address is the same account: the owner gets a notice.
    app.sign_up(&email, "a different passphrase").await;
    let notice = app.mail.wait_for_nth(&email, 2).await;
    assert_eq!(
        notice.subject(),
        "Someone tried to sign up with your address"
    );
}

async fn usernames_are_unique(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let handle = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    app.post_json(
        "/v1/users",
        &json!({"email": email, "password": PASSWORD, "username": handle.to_uppercase()}),
    )
    .await;
    let code = app.mail.wait_for(&email).await.code();
    let body: serde_json::Value = app.confirm_code(&email, &code).await.json().await.unwrap();
    assert_eq!(body["user"]["username"], handle.as_str());

    let response = app
        .post_json(
            "/v1/users",
            &json!({"email": unique_email(), "password": PASSWORD, "username": handle}),
        )
        .await;
    let (status, body) = problem(response).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:portcullis:problem:username-taken");
    // Sign-in by username works.
    let response = app
        .post_json(
            "/v1/sessions",
            &json!({"username": handle, "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn mail_cool_down_limits_mails_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.mail_cooldown_secs = 60).await;
    let email = unique_email();
    assert_eq!(
        app.sign_up(&email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    let first = app.mail.wait_for(&email).await;
    assert_eq!(
        app.sign_up(&email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.request_code(&email, "verify_email").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.settled_mail_count(&email).await,
        1,
        "one mail per minute"
    );
    // The first code is still the live one.
    assert_eq!(
        app.confirm_code(&email, &first.code()).await.status(),
        StatusCode::CREATED
    );
}
