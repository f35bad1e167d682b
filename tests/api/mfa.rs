//! Multi-factor sign-in, black-box: TOTP codes come from `totp-rs` (not the
//! service's own implementation), fed only with the `otpauth://` URI the API
//! returned, at the application's clock.

use crate::backend_tests;
use crate::helpers::*;
use crate::services::{introspect, service_client};
use crate::social::{identity, setup, VERIFIER};
use crate::tokens::verified_claims;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use totp_rs::TOTP;

backend_tests!(
    enrolment_activates_and_raises_the_session,
    a_password_sign_in_asks_for_the_second_factor,
    a_code_works_once,
    sixteen_racing_uses_of_one_code_make_one_session,
    sixteen_racing_uses_of_one_recovery_code_make_one_session,
    emailed_codes_and_links_ask_for_the_second_factor,
    a_social_sign_in_asks_for_the_second_factor,
    sensitive_changes_need_a_recent_second_factor,
    wrong_codes_kill_the_token_and_lock_the_account,
    removing_and_resetting_factors,
    the_export_lists_factors_without_secrets,
    a_token_from_before_a_step_up_does_not_share_in_it,
    administrators_do_not_reset_their_own_factors,
    racing_removals_keep_a_required_factor,
    a_password_change_ends_pending_second_steps,
);

/// A user with an active authenticator app, as the tests need it.
pub(crate) struct Enrolled {
    pub email: String,
    /// The session that enrolled, raised to `aal2`.
    pub tokens: Tokens,
    pub totp: TOTP,
    pub factor_id: String,
    pub recovery_codes: Vec<String>,
}

/// The independent authenticator: `totp-rs` reads the URI as an app would.
pub(crate) fn authenticator(otpauth_uri: &str) -> TOTP {
    TOTP::from_url(otpauth_uri).expect("a valid otpauth URI")
}

/// The code the authenticator shows at the application's "now".
pub(crate) fn code_now(app: &TestApp, totp: &TOTP) -> String {
    totp.generate(app.now().unix_seconds() as u64)
}

/// A six-digit code that is none of the codes around "now".
fn wrong_totp(app: &TestApp, totp: &TOTP) -> String {
    let now = app.now().unix_seconds() as u64;
    let near: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| totp.generate(*t))
        .collect();
    (0..10u32)
        .map(|n| format!("{:06}", 111_111 * n))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Starts an enrolment with a fresh session (no password needed).
pub(crate) async fn start_enrolment(app: &TestApp, access: &str) -> Value {
    let response = app
        .send(Method::POST, "/v1/users/me/factors/totp", access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// Activates an enrolment with the authenticator's current code.
pub(crate) async fn activate(app: &TestApp, access: &str, enrolment: &Value) -> Value {
    let totp = authenticator(enrolment["otpauth_uri"].as_str().unwrap());
    let path = format!(
        "/v1/users/me/factors/{}/verify",
        enrolment["factor_id"].as_str().unwrap()
    );
    let body = json!({ "code": code_now(app, &totp) });
    let response = app.send(Method::POST, &path, access, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A registered user with an active authenticator app.
pub(crate) async fn enrolled_user(app: &TestApp) -> Enrolled {
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    enrol(app, &email, &tokens).await
}

pub(crate) async fn enrol(app: &TestApp, email: &str, tokens: &Tokens) -> Enrolled {
    let enrolment = start_enrolment(app, &tokens.access).await;
    let activated = activate(app, &tokens.access, &enrolment).await;
    Enrolled {
        email: email.to_string(),
        tokens: Tokens::from_body(&activated["tokens"]),
        totp: authenticator(enrolment["otpauth_uri"].as_str().unwrap()),
        factor_id: enrolment["factor_id"].as_str().unwrap().to_string(),
        recovery_codes: recovery_codes(&activated),
    }
}

/// The `recovery_codes` of an answer.
fn recovery_codes(body: &Value) -> Vec<String> {
    let codes = body["recovery_codes"].as_array().expect("recovery codes");
    codes
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// The `mfa_token` of a password sign-in that asks for the second factor.
async fn first_step(app: &TestApp, email: &str) -> String {
    let response = app.sign_in(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, mfa_token: &str, proof: Value) -> reqwest::Response {
    let mut body = proof;
    body["mfa_token"] = json!(mfa_token);
    app.post_json("/v1/sessions/mfa", &body).await
}

/// Moves the clock to the next 30-second step: a code of the step just used
/// is refused, by design.
fn next_step(app: &TestApp) {
    app.advance(Duration::from_secs(30));
}

async fn enrolment_activates_and_raises_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let enrolment = start_enrolment(&app, &tokens.access).await;
    assert_eq!(enrolment["digits"], 6);
    assert_eq!(enrolment["period"], 30);
    assert_eq!(enrolment["algorithm"], "SHA1");
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let listed = app
        .get_json("/v1/users/me/factors", Some(&tokens.access))
        .await;
    assert_eq!(listed["factors"][0]["status"], "unverified");
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once"
    );

    // A wrong code does not activate it.
    let totp = authenticator(uri);
    let path = format!(
        "/v1/users/me/factors/{}/verify",
        enrolment["factor_id"].as_str().unwrap()
    );
    let wrong = json!({ "code": wrong_totp(&app, &totp) });
    let response = app.send(Method::POST, &path, &tokens.access, wrong).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let activated = activate(&app, &tokens.access, &enrolment).await;
    assert_eq!(activated["factor"]["status"], "active");
    let codes = recovery_codes(&activated);
    assert_eq!(codes.len(), 10);
    let raised = Tokens::from_body(&activated["tokens"]);
    assert_eq!(raised.session_id, tokens.session_id, "the same session");
    let claims = verified_claims(&app, &raised.access).await;
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(
        claims["amr"],
        json!(["otp", "mfa"]),
        "sign-up code, then the app"
    );
    // The session's earlier refresh token is retired.
    assert_eq!(app.refresh(&raised.refresh).await.status(), StatusCode::OK);
    let status = app
        .get_json("/v1/users/me/recovery-codes", Some(&raised.access))
        .await;
    assert_eq!(status["remaining"], 10);
    let notice = app.mail.wait_for_nth(&email, 2).await;
    assert!(
        notice.subject().contains("Two-step sign-in"),
        "{}",
        notice.subject()
    );
}

async fn a_password_sign_in_asks_for_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (client_id, client_secret) = service_client(&app, &admin).await;
    let user = enrolled_user(&app).await;
    let response = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["expires_in"], 300);
    assert_eq!(
        body["factors"],
        json!([{"id": user.factor_id, "type": "totp"}])
    );
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let sessions_before = app.db.count_rows("sessions").await;

    next_step(&app);
    let code = code_now(&app, &user.totp);
    let response = second_step(
        &app,
        body["mfa_token"].as_str().unwrap(),
        json!({"code": code}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(app.db.count_rows("sessions").await, sessions_before + 1);
    let claims = verified_claims(&app, &tokens.access).await;
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let verdict: Value = introspect(
        &app.address,
        Some((&client_id, &client_secret)),
        &tokens.access,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(verdict["active"], true);
    for claim in ["aal", "acr", "amr", "auth_time"] {
        assert_eq!(verdict[claim], claims[claim], "{claim}: {verdict}");
    }
    // A refresh keeps the level.
    let refreshed = app.refresh(&tokens.refresh).await;
    let refreshed = Tokens::from_body(&refreshed.json().await.unwrap());
    assert_eq!(
        verified_claims(&app, &refreshed.access).await["aal"],
        "aal2"
    );
    // The token is spent.
    next_step(&app);
    let code = code_now(&app, &user.totp);
    let response = second_step(
        &app,
        body["mfa_token"].as_str().unwrap(),
        json!({"code": code}),
    )
    .await;
    let (status, problem) = problem(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["type"],
        "urn:portcullis:problem:invalid-second-factor"
    );
}

async fn a_code_works_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    let user = enrolled_user(&app).await;
    next_step(&app);
    let code = code_now(&app, &user.totp);
    let first = first_step(&app, &user.email).await;
    let response = second_step(&app, &first, json!({"code": code})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The same code again, inside its window, for another sign-in.
    let second = first_step(&app, &user.email).await;
    let response = second_step(&app, &second, json!({"code": code})).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Nor does the previous step's code work after a later one was used.
    let earlier = user.totp.generate(app.now().unix_seconds() as u64 - 30);
    let response = second_step(&app, &second, json!({"code": earlier})).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    next_step(&app);
    let fresh = code_now(&app, &user.totp);
    let response = second_step(&app, &second, json!({"code": fresh})).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the next step's code works"
    );
    let (text, metrics) = crate::metrics::scrape(&app).await;
    let checks = |result| {
        let labels = [("factor", "totp"), ("result", result)];
        crate::metrics::value(&metrics, "portcullis_second_factors_total", &labels)
    };
    assert_eq!(checks("success"), 2.0, "{text}");
    assert_eq!(checks("failure"), 2.0, "{text}");
}

/// With the lockout out of the way (16 pending sign-ins of one account), so
/// that only the single use of the code decides.
async fn racing_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.lockout.free_attempts = 1000;
        s.code_max_attempts = 100;
    })
    .await
}

async fn race(app: &TestApp, email: &str, proof: Value) -> Vec<StatusCode> {
    let mut tokens = Vec::new();
    for _ in 0..16 {
        tokens.push(first_step(app, email).await);
    }
    let attempts = tokens.iter().map(|t| second_step(app, t, proof.clone()));
    join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect()
}

async fn sixteen_racing_uses_of_one_code_make_one_session(backend: Backend) {
    let app = racing_app(backend).await;
    let user = enrolled_user(&app).await;
    next_step(&app);
    let code = code_now(&app, &user.totp);
    let statuses = race(&app, &user.email, json!({"code": code})).await;
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

async fn sixteen_racing_uses_of_one_recovery_code_make_one_session(backend: Backend) {
    let app = racing_app(backend).await;
    let user = enrolled_user(&app).await;
    // As shown, or typed in capitals without the hyphens: the same code.
    let typed = user.recovery_codes[0].replace('-', "").to_uppercase();
    let statuses = race(&app, &user.email, json!({"recovery_code": typed})).await;
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    let remaining = app
        .get_json("/v1/users/me/recovery-codes", Some(&user.tokens.access))
        .await;
    assert_eq!(remaining["remaining"], 9);
    let notice = app.mail.wait_for_nth(&user.email, 3).await;
    assert!(
        notice.subject().contains("recovery code"),
        "{}",
        notice.subject()
    );
    // Another code works once more; then regeneration kills the old ones.
    let token = first_step(&app, &user.email).await;
    let body = json!({"recovery_code": user.recovery_codes[1]});
    let response = second_step(&app, &token, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let raised = Tokens::from_body(&response.json().await.unwrap());
    let response = app
        .send(
            Method::POST,
            "/v1/users/me/recovery-codes",
            &raised.access,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let fresh: Value = response.json().await.unwrap();
    assert_eq!(recovery_codes(&fresh).len(), 10);
    let token = first_step(&app, &user.email).await;
    let old = json!({"recovery_code": user.recovery_codes[2]});
    assert_eq!(
        second_step(&app, &token, old).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let new = json!({"recovery_code": fresh["recovery_codes"][0]});
    assert_eq!(
        second_step(&app, &token, new).await.status(),
        StatusCode::CREATED
    );
}

async fn emailed_codes_and_links_ask_for_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = enrolled_user(&app).await;
    // The notice of the new factor first: the code mail comes after it.
    app.mail.wait_for_nth(&user.email, 2).await;
    let mail = app.code_mail(&user.email, "sign_in").await;
    let body = json!({"action": "sign_in", "email": user.email, "code": mail.code()});
    let response = app.confirm(&body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let pending: Value = response.json().await.unwrap();
    assert!(pending.get("access_token").is_none());
    next_step(&app);
    let code = code_now(&app, &user.totp);
    let token = pending["mfa_token"].as_str().unwrap();
    let response = second_step(&app, token, json!({"code": code})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(
        verified_claims(&app, &tokens.access).await["amr"],
        json!(["otp", "mfa"])
    );

    // The link in a sign-in mail, likewise.
    app.advance(Duration::from_secs(61));
    let mail = app.code_mail(&user.email, "sign_in").await;
    let body = json!({"action": "sign_in", "token": mail.link_token()});
    let response = app.confirm(&body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let pending: Value = response.json().await.unwrap();
    assert_eq!(pending["mfa_required"], true);
}

async fn a_social_sign_in_asks_for_the_second_factor(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    s.idp.login_as(identity("mfa-social", &email, true)).await;
    let first = s.signed_in().await;
    // Fresh from the provider: no password needed to enrol.
    let user = crate::mfa::enrol(&s.app, &email, &first).await;
    let landing = s.sign_in().await.expect("the flow ends at the frontend");
    let code = crate::helpers::browser::query(&landing, "code").expect("a code in the redirect");
    let response = s.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let pending: Value = response.json().await.unwrap();
    assert!(pending.get("access_token").is_none());
    next_step(&s.app);
    let body = json!({"code": code_now(&s.app, &user.totp)});
    let response = second_step(&s.app, pending["mfa_token"].as_str().unwrap(), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    let claims = verified_claims(&s.app, &tokens.access).await;
    assert_eq!(claims["amr"], json!(["fed", "otp", "mfa"]));
}

/// The parts of an RFC 9470 challenge.
fn step_up_challenge(response: &reqwest::Response) -> String {
    let header = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(header.starts_with("Bearer "), "{header}");
    assert!(
        header.contains("error=\"insufficient_user_authentication\""),
        "{header}"
    );
    header
}

async fn sensitive_changes_need_a_recent_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;
    // A session opened before the factor existed stays `aal1`.
    let older = app.signed_in(&email).await;
    let user = enrol(&app, &email, &first).await;

    let change =
        |password: &str, new: &str| json!({"current_password": password, "new_password": new});
    app.advance(Duration::from_secs(301));
    let response = app
        .send(
            Method::PUT,
            "/v1/users/me/password",
            &user.tokens.access,
            change(PASSWORD, "a brand new passphrase 1"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = step_up_challenge(&response);
    assert!(challenge.contains("acr_values=\"aal2\""), "{challenge}");
    assert!(challenge.contains("max_age=300"), "{challenge}");
    let (_, problem) = problem(response).await;
    assert_eq!(
        problem["type"],
        "urn:portcullis:problem:insufficient-user-authentication"
    );

    // Step up: same session, new pair, new auth_time.
    let auth_time = verified_claims(&app, &user.tokens.access).await["auth_time"]
        .as_i64()
        .unwrap();
    // Real time still passes under the test clock: keep the one code, so
    // that a 30 s boundary crossed mid-test cannot hand us a fresh one.
    let code = code_now(&app, &user.totp);
    let response = app
        .send(
            Method::POST,
            "/v1/sessions/current/step-up",
            &user.tokens.access,
            json!({"code": code}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let raised = Tokens::from_body(&response.json().await.unwrap());
    assert_eq!(raised.session_id, user.tokens.session_id);
    let claims = verified_claims(&app, &raised.access).await;
    assert!(
        claims["auth_time"].as_i64().unwrap() >= auth_time + 301,
        "{claims}"
    );
    let response = app
        .send(
            Method::PUT,
            "/v1/users/me/password",
            &raised.access,
            change(PASSWORD, "a brand new passphrase 1"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The same code cannot step up twice.
    let response = app
        .send(
            Method::POST,
            "/v1/sessions/current/step-up",
            &raised.access,
            json!({"code": code}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A one-factor session of the same account (opened before enrolment)
    // cannot delete the account, nor add a factor, without the second factor.
    let response = app
        .send(
            Method::DELETE,
            "/v1/users/me",
            &older.access,
            json!({"password": "a brand new passphrase 1"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    step_up_challenge(&response);
    let response = app
        .send(
            Method::POST,
            "/v1/users/me/factors/totp",
            &older.access,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn wrong_codes_kill_the_token_and_lock_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = enrolled_user(&app).await;
    let token = first_step(&app, &user.email).await;
    next_step(&app);
    let wrong = wrong_totp(&app, &user.totp);
    for _ in 0..5 {
        let response = second_step(&app, &token, json!({"code": wrong})).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The token died with its fifth wrong code; the account is locked too:
    // even the right password gets the same 401 as a wrong one.
    let right = json!({"code": code_now(&app, &user.totp)});
    assert_eq!(
        second_step(&app, &token, right).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&user.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let failures = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_events WHERE event_type = 'mfa.failed'")
        .await;
    assert!(failures >= 5, "{failures}");
    // Once the lock has passed, the owner signs in.
    app.advance(Duration::from_secs(901));
    let token = first_step(&app, &user.email).await;
    let right = json!({"code": code_now(&app, &user.totp)});
    assert_eq!(
        second_step(&app, &token, right).await.status(),
        StatusCode::CREATED
    );
}

async fn removing_and_resetting_factors(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let user = enrolled_user(&app).await;
    // An ADMIN cannot reset a SUPER-ADMIN's factors.
    let (_, plain_admin) = app.user_with_role(&admin, "ADMIN").await;
    let path = format!("/v1/admin/users/{}/factors", admin.user_id);
    let response = app
        .send(Method::DELETE, &path, &plain_admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // An administrator resets a user's factors: one factor again.
    let path = format!("/v1/admin/users/{}/factors", user.tokens.user_id);
    let response = app
        .send(Method::DELETE, &path, &plain_admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["removed"], 1);
    assert_eq!(
        app.sign_in(&user.email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let resets = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_events WHERE event_type = 'mfa.reset'")
        .await;
    assert_eq!(resets, 1);
    let notice = app.mail.wait_for_nth(&user.email, 3).await;
    assert!(notice.subject().contains("reset"), "{}", notice.subject());

    // The owner removes their own factor with a recent second factor.
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let owner = enrol(&app, &email, &tokens).await;
    let path = format!("/v1/users/me/factors/{}", owner.factor_id);
    let response = app.delete(&path, &owner.tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let listed = app
        .get_json("/v1/users/me/factors", Some(&owner.tokens.access))
        .await;
    assert_eq!(listed["factors"], json!([]));
    let status = app
        .get_json("/v1/users/me/recovery-codes", Some(&owner.tokens.access))
        .await;
    assert_eq!(
        status["remaining"], 0,
        "the recovery codes went with the last factor"
    );
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn the_export_lists_factors_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let enrolment = start_enrolment(&app, &tokens.access).await;
    let activated = activate(&app, &tokens.access, &enrolment).await;
    let raised = Tokens::from_body(&activated["tokens"]);
    let export = app
        .get_json("/v1/users/me/export", Some(&raised.access))
        .await;
    assert_eq!(export["factors"][0]["id"], enrolment["factor_id"]);
    assert_eq!(export["factors"][0]["type"], "totp");
    assert_eq!(export["recovery_codes_remaining"], 10);
    let text = export.to_string();
    assert!(!text.contains(enrolment["secret"].as_str().unwrap()));
    for code in recovery_codes(&activated) {
        assert!(!text.contains(&code));
    }
}

/// Review finding: the proof is the token's, not the session's. A token
/// issued before the owner stepped up (say, a stolen one) gains nothing.
async fn a_token_from_before_a_step_up_does_not_share_in_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = enrolled_user(&app).await;
    let stolen = user.tokens.access.clone();
    app.advance(Duration::from_secs(301));
    let body = json!({"code": code_now(&app, &user.totp)});
    let response = app
        .send(
            Method::POST,
            "/v1/sessions/current/step-up",
            &user.tokens.access,
            body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let raised = Tokens::from_body(&response.json().await.unwrap());
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 2"});
    for (path, method, body) in [
        ("/v1/users/me/password", Method::PUT, change.clone()),
        ("/v1/users/me/recovery-codes", Method::POST, json!({})),
        ("/v1/users/me/factors/totp", Method::POST, json!({})),
    ] {
        let response = app.send(method, path, &stolen, body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let path = format!("/v1/users/me/factors/{}", user.factor_id);
    assert_eq!(
        app.delete(&path, &stolen).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = app
        .send(Method::PUT, "/v1/users/me/password", &raised.access, change)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// Review finding: the admin route must not bypass the owner's step-up.
async fn administrators_do_not_reset_their_own_factors(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let (email, admin) = app.user_with_role(&root, "ADMIN").await;
    let one_factor = app.signed_in(&email).await;
    let enrolled = enrol(&app, &email, &admin).await;
    let path = format!("/v1/admin/users/{}/factors", enrolled.tokens.user_id);
    for tokens in [&one_factor, &enrolled.tokens] {
        let response = app
            .send(Method::DELETE, &path, &tokens.access, json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    // Resetting someone else needs the actor's own second factor, recently.
    let other = enrolled_user(&app).await;
    let path = format!("/v1/admin/users/{}/factors", other.tokens.user_id);
    let response = app
        .send(Method::DELETE, &path, &one_factor.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .send(Method::DELETE, &path, &enrolled.tokens.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Review finding: two removals at once must not both pass the "last
/// factor" check of a role that must keep one.
async fn racing_removals_keep_a_required_factor(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.mfa.required_for_roles = vec![portcullis::domain::Role::Viewer];
    })
    .await;
    let first = enrolled_user(&app).await;
    let second = start_enrolment(&app, &first.tokens.access).await;
    next_step(&app);
    let activated = activate(&app, &first.tokens.access, &second).await;
    let tokens = Tokens::from_body(&activated["tokens"]);
    let ids = [
        first.factor_id.clone(),
        second["factor_id"].as_str().unwrap().to_string(),
    ];
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/v1/users/me/factors/{id}"))
        .collect();
    let statuses = join_all(paths.iter().map(|p| app.delete(p, &tokens.access))).await;
    let removed = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(removed, 1);
    let listed = app
        .get_json("/v1/users/me/factors", Some(&tokens.access))
        .await;
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1);
}

/// Review finding: taking the account back ends sign-ins that wait for
/// their second factor.
async fn a_password_change_ends_pending_second_steps(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = enrolled_user(&app).await;
    let pending = first_step(&app, &user.email).await;
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 3"});
    let response = app
        .send(
            Method::PUT,
            "/v1/users/me/password",
            &user.tokens.access,
            change,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    next_step(&app);
    let code = json!({"code": code_now(&app, &user.totp)});
    assert_eq!(
        second_step(&app, &pending, code).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
