//! The account-takeover and owner-lock-out paths found in review, each
//! reproduced black-box: a pending email change that outlives a reset,
//! unthrottled current-password checks, a stranger using up the owner's mail,
//! wrong codes that start over with every new code.

use crate::backend_tests;
use crate::helpers::*;
use futures_util::future::join_all;
use portcullis::config::{LockoutSettings, RateLimit};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use std::time::Duration;

backend_tests!(
    a_reset_ends_a_pending_email_change,
    a_password_change_and_signing_out_everywhere_end_it_too,
    a_completed_email_change_tells_the_old_address,
    a_banned_user_cannot_complete_an_email_change,
    password_checks_have_a_limit_of_their_own,
    password_checks_count_in_the_account_lockout,
    one_client_cannot_fill_the_hashing_queue,
    a_stranger_cannot_use_up_the_owners_reset_mail,
    wrong_codes_are_capped_across_successive_codes,
    guesses_from_many_clients_meet_a_ceiling,
    many_strangers_meet_a_mail_ceiling,
    starting_social_flows_is_limited_per_client,
);

async fn start_change(app: &TestApp, tokens: &Tokens, new: &str) -> Response {
    let body = json!({"new_email": new, "password": PASSWORD});
    app.send(Method::POST, "/v1/users/me/email", &tokens.access, body)
        .await
}

async fn confirm_change(app: &TestApp, new: &str, code: &str) -> Response {
    app.confirm(&json!({"action": "change_email", "email": new, "code": code}))
        .await
}

/// A thief with the password starts an email change; the owner resets.
async fn a_reset_ends_a_pending_email_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = unique_email();
    let tokens = app.register(&owner, PASSWORD).await;
    let thief = unique_email();
    assert_eq!(
        start_change(&app, &tokens, &thief).await.status(),
        StatusCode::ACCEPTED
    );
    let code = app.mail.wait_for(&thief).await.code();
    app.mail.wait_for_nth(&owner, 2).await; // "about to change"

    let reset = app.code_mail(&owner, "reset_password").await.code();
    let body = json!({"action": "reset_password", "email": owner, "code": reset,
                      "new_password": "the owner's new passphrase"});
    assert_eq!(app.confirm(&body).await.status(), StatusCode::NO_CONTENT);

    let (status, _) = problem(confirm_change(&app, &thief, &code).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.sign_in(&owner, "the owner's new passphrase")
            .await
            .status(),
        StatusCode::CREATED,
        "the account kept its address"
    );
}

async fn a_password_change_and_signing_out_everywhere_end_it_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = unique_email();
    let tokens = app.register(&owner, PASSWORD).await;

    let thief = unique_email();
    start_change(&app, &tokens, &thief).await;
    let code = app.mail.wait_for(&thief).await.code();
    let body = json!({"current_password": PASSWORD, "new_password": "another good passphrase"});
    let response = app
        .send(Method::PUT, "/v1/users/me/password", &tokens.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        problem(confirm_change(&app, &thief, &code).await).await.0,
        StatusCode::BAD_REQUEST
    );

    let tokens = app.signed_in_with(&owner, "another good passphrase").await;
    let body = json!({"new_email": thief, "password": "another good passphrase"});
    app.send(Method::POST, "/v1/users/me/email", &tokens.access, body)
        .await;
    let code = app.mail.wait_for_nth(&thief, 2).await.code();
    for scope in ["others", "all"] {
        let response = app
            .delete(&format!("/v1/sessions?scope={scope}"), &tokens.access)
            .await;
        assert!(response.status().is_success(), "{scope}");
    }
    assert_eq!(
        problem(confirm_change(&app, &thief, &code).await).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn a_completed_email_change_tells_the_old_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = unique_email();
    let tokens = app.register(&old, PASSWORD).await;
    let new = unique_email();
    start_change(&app, &tokens, &new).await;
    let code = app.mail.wait_for(&new).await.code();
    app.mail.wait_for_nth(&old, 2).await; // "about to change"
    assert_eq!(
        confirm_change(&app, &new, &code).await.status(),
        StatusCode::OK
    );
    let notice = app.mail.wait_for_nth(&old, 3).await;
    assert_eq!(notice.subject(), "Your email address was changed");
    assert!(notice.body().contains(&new));
}

async fn a_banned_user_cannot_complete_an_email_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let old = unique_email();
    let tokens = app.register(&old, PASSWORD).await;
    let new = unique_email();
    start_change(&app, &tokens, &new).await;
    let code = app.mail.wait_for(&new).await.code();
    let ban = app
        .send(
            Method::POST,
            &format!("/v1/admin/users/{}/ban", tokens.user_id),
            &admin.access,
            json!({}),
        )
        .await;
    assert_eq!(ban.status(), StatusCode::OK);
    let (status, _) = problem(confirm_change(&app, &new, &code).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let address = app
        .db
        .scalar(&format!("SELECT COUNT(*) FROM users WHERE email = '{new}'"))
        .await;
    assert_eq!(address, 0, "the address did not move");
}

async fn wrong_password_change(app: &TestApp, tokens: &Tokens, from: &str) -> Response {
    let body = json!({"current_password": "a wrong guess", "new_password": "whatever passphrase"});
    let path = "/v1/users/me/password";
    app.send_from(from, Method::PUT, path, Some(&tokens.access), &body)
        .await
}

/// A stolen access token is no licence to guess the password at full
/// hashing speed: the checks have a per-client limit of their own.
async fn password_checks_have_a_limit_of_their_own(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.reauthentication = RateLimit::new(3, 60);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    for _ in 0..3 {
        let response = wrong_password_change(&app, &tokens, "198.51.100.20").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    for path in [
        "/v1/users/me/password",
        "/v1/users/me/email",
        "/v1/users/me",
    ] {
        let method = match path {
            "/v1/users/me/password" => Method::PUT,
            "/v1/users/me/email" => Method::POST,
            _ => Method::DELETE,
        };
        let body = match path {
            "/v1/users/me/password" => json!({"current_password": PASSWORD,
                                              "new_password": "whatever passphrase"}),
            "/v1/users/me/email" => json!({"new_email": unique_email(), "password": PASSWORD}),
            _ => json!({"password": PASSWORD}),
        };
        let response = app
            .send_from("198.51.100.20", method, path, Some(&tokens.access), &body)
            .await;
        let (status, _) = problem(response).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    // Another client is not affected.
    let response = wrong_password_change(&app, &tokens, "198.51.100.21").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn password_checks_count_in_the_account_lockout(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.lockout = LockoutSettings {
            free_attempts: 3,
            base_delay_secs: 600,
            max_delay_secs: 3600,
            ..LockoutSettings::default()
        };
    })
    .await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    for _ in 0..3 {
        let response = wrong_password_change(&app, &tokens, "198.51.100.30").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    // The account is locked now: neither the right current password nor a
    // sign-in gets through, and the answers do not say so.
    let body = json!({"current_password": PASSWORD, "new_password": "whatever passphrase"});
    let response = app
        .send(Method::PUT, "/v1/users/me/password", &tokens.access, body)
        .await;
    assert_eq!(problem(response).await.0, StatusCode::FORBIDDEN);
    let (status, _) = problem(app.sign_in(&email, PASSWORD).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let failures = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_events WHERE event_type = 'reauthentication.failed'")
        .await;
    assert_eq!(failures, 4);
}

/// One client hammering password checks gets 429 for its excess; another
/// client's sign-in meanwhile still gets a hashing slot, not a 503.
async fn one_client_cannot_fill_the_hashing_queue(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.hash_concurrency = 1;
        s.hash_queue_limit = 7;
        s.hash_client_share_percent = 50; // 4 of the 8 places
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let hammer = join_all((0..12).map(|_| wrong_password_change(&app, &tokens, "203.0.113.66")));
    let bystander = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        app.sign_in_from("198.51.100.77", &email, PASSWORD)
            .await
            .status()
    };
    let (hammered, bystander) = tokio::join!(hammer, bystander);
    let statuses: Vec<StatusCode> = hammered.iter().map(|r| r.status()).collect();
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        !statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert_eq!(bystander, StatusCode::CREATED);
}

/// Strangers asking for codes for the owner's address (sign-in codes and
/// resets alike) leave the owner's own reset request its mail.
async fn a_stranger_cannot_use_up_the_owners_reset_mail(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.mail_cooldown_secs = 60;
        s.rate_limits.mail_per_address = RateLimit::new(4, 3600);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let before = app.settled_mail_count(&email).await;
    // The stranger asks once a minute (asking faster is held back by the
    // cool-down and costs nothing): four mails, then 429.
    for _ in 0..4 {
        let response = app
            .request_code_from("203.0.113.9", &email, "sign_in")
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        app.advance(Duration::from_secs(61));
    }
    let (status, _) = problem(
        app.request_code_from("203.0.113.9", &email, "sign_in")
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger is capped"
    );
    // The owner, from their own address, still gets a reset mail at once.
    let response = app
        .request_code_from("198.51.100.5", &email, "reset_password")
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // The outbox does not promise an order between the five.
    app.mail.wait_for_nth(&email, before + 5).await;
    let subjects: Vec<String> = app.mail.to(&email).iter().map(|m| m.subject()).collect();
    assert!(
        subjects.iter().any(|s| s == "Reset your password"),
        "{subjects:?}"
    );
}

/// Each new code has fresh attempts; the count of wrong codes per address and
/// client does not start over with it. Another client (the owner) is not
/// blocked by a stranger's guesses.
async fn wrong_codes_are_capped_across_successive_codes(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.code_failures_per_address = RateLimit::new(8, 3600);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let guesser = "203.0.113.50";
    let mut last_code = String::new();
    for round in 0..2 {
        last_code = app.code_mail(&email, "sign_in").await.code();
        let wrong = wrong_code(&last_code);
        for _ in 0..4 {
            let body = json!({"action": "sign_in", "email": email, "code": wrong});
            let response = app.confirm_from(guesser, &body).await;
            assert_eq!(
                problem(response).await.0,
                StatusCode::BAD_REQUEST,
                "round {round}"
            );
        }
    }
    // Eight wrong guesses over two codes: even a fresh, right code is refused
    // to that client until the window ends.
    let code = app.code_mail(&email, "sign_in").await.code();
    assert_ne!(code, last_code);
    let body = json!({"action": "sign_in", "email": email, "code": code});
    let response = app.confirm_from(guesser, &body).await;
    assert_eq!(problem(response).await.0, StatusCode::TOO_MANY_REQUESTS);
    // The owner, elsewhere, is not locked out by the stranger's guesses.
    let response = app.confirm_from("198.51.100.8", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Guesses from many clients meet a ceiling per address and action (ten
/// times the per-client limit); other actions keep their own.
async fn guesses_from_many_clients_meet_a_ceiling(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.code_failures_per_address = RateLimit::new(1, 3600);
        s.code_max_attempts = 100;
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_mail(&email, "sign_in").await.code();
    let wrong = wrong_code(&code);
    for n in 0..10 {
        let body = json!({"action": "sign_in", "email": email, "code": wrong});
        let response = app.confirm_from(&format!("203.0.113.{n}"), &body).await;
        assert_eq!(problem(response).await.0, StatusCode::BAD_REQUEST);
    }
    let body = json!({"action": "sign_in", "email": email, "code": code});
    let response = app.confirm_from("198.51.100.9", &body).await;
    assert_eq!(problem(response).await.0, StatusCode::TOO_MANY_REQUESTS);
    // A reset for the same address is counted apart.
    let reset = app.code_mail(&email, "reset_password").await.code();
    let body = json!({"action": "reset_password", "email": email, "code": reset,
                      "new_password": "a brand new passphrase"});
    assert_eq!(app.confirm(&body).await.status(), StatusCode::NO_CONTENT);
}

/// Mail-bombing from many client addresses meets a ceiling per address and
/// action; the owner's reset has a budget of its own.
async fn many_strangers_meet_a_mail_ceiling(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.mail_per_address = RateLimit::new(5, 3600);
        s.rate_limits.mail_per_address_total = RateLimit::new(3, 3600);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    for n in 0..3 {
        let response = app
            .request_code_from(&format!("203.0.113.{n}"), &email, "sign_in")
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let response = app
        .request_code_from("203.0.113.200", &email, "sign_in")
        .await;
    assert_eq!(problem(response).await.0, StatusCode::TOO_MANY_REQUESTS);
    let response = app
        .request_code_from("198.51.100.5", &email, "reset_password")
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// Every started flow writes a row: `authorize` (and starting a link) has a
/// per-client limit.
async fn starting_social_flows_is_limited_per_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.oauth_authorize = RateLimit::new(2, 60);
    })
    .await;
    let url = app.url("/v1/oauth/nope/authorize?redirect_to=http%3A%2F%2Fapp.test%2Fcallback");
    for _ in 0..2 {
        let (status, _) = problem(app.client.get(&url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let response = app.client.get(&url).send().await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(problem(response).await.0, StatusCode::TOO_MANY_REQUESTS);
}
