//! A user's own account: moving to another address, deleting the account,
//! exporting its data.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

backend_tests!(
    change_email_moves_the_account_after_the_new_address_confirms,
    two_users_racing_for_one_address_one_wins,
    delete_me_needs_the_password_and_ends_everything,
    password_less_users_delete_with_a_sign_in_code,
    the_last_super_admin_cannot_delete_itself,
    export_holds_everything_but_secrets,
);

async fn start_change(
    app: &TestApp,
    tokens: &Tokens,
    new_email: &str,
    password: &str,
) -> reqwest::Response {
    app.send(
        Method::POST,
        "/v1/users/me/email",
        &tokens.access,
        json!({"new_email": new_email, "password": password}),
    )
    .await
}

async fn email_of(app: &TestApp, tokens: &Tokens) -> String {
    let me: Value = app.me(&tokens.access).await;
    me["email"].as_str().unwrap().to_string()
}

async fn change_email_moves_the_account_after_the_new_address_confirms(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = unique_email();
    let tokens = app.register(&old, PASSWORD).await;
    let new = unique_email();

    let (status, _) = problem(start_change(&app, &tokens, &new, "wrong password").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = problem(
        app.send(
            Method::POST,
            "/v1/users/me/email",
            &tokens.access,
            json!({"new_email": new}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.settled_mail_count(&new).await, 0);

    let response = start_change(&app, &tokens, &new.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(email_of(&app, &tokens).await, old, "nothing changed yet");
    let code_mail = app.mail.wait_for(&new).await;
    assert_eq!(code_mail.subject(), "Confirm your new email address");
    let notice = app.mail.wait_for_nth(&old, 2).await;
    assert_eq!(notice.subject(), "Your email address is about to change");
    assert!(
        !notice.body().contains(&code_mail.code()),
        "no code to the old address"
    );

    // The code is bound to the new address.
    let (status, _) = problem(
        app.confirm(&json!({"action": "change_email", "email": old, "code": code_mail.code()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let response = app
        .confirm(&json!({"action": "change_email", "email": new, "code": code_mail.code()}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], new.as_str());
    assert_eq!(user["email_verified"], true);
    assert_eq!(email_of(&app, &tokens).await, new);
    assert_eq!(
        app.sign_in(&old, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&new, PASSWORD).await.status(),
        StatusCode::CREATED
    );

    // A taken address gets no code, with the same answer.
    let other = unique_email();
    app.register(&other, PASSWORD).await;
    let response = start_change(&app, &tokens, &other, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.settled_mail_count(&other).await,
        1,
        "only its verification"
    );
}

async fn two_users_racing_for_one_address_one_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (unique_email(), unique_email());
    let ta = app.register(&a, PASSWORD).await;
    let tb = app.register(&b, PASSWORD).await;
    let target = unique_email();
    for tokens in [&ta, &tb] {
        assert_eq!(
            start_change(&app, tokens, &target, PASSWORD).await.status(),
            StatusCode::ACCEPTED
        );
    }
    app.mail.wait_for_nth(&target, 2).await;
    let mails = app.mail.to(&target);
    let bodies: Vec<Value> = mails
        .iter()
        .map(|m| json!({"action": "change_email", "token": m.link_token()}))
        .collect();
    let (first, second) =
        futures_util::future::join(app.confirm(&bodies[0]), app.confirm(&bodies[1])).await;
    let mut statuses = vec![first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let emails = [email_of(&app, &ta).await, email_of(&app, &tb).await];
    assert_eq!(
        emails.iter().filter(|e| **e == target).count(),
        1,
        "{emails:?}"
    );
}

async fn delete_me_needs_the_password_and_ends_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let other = app.signed_in(&email).await;
    let delete = |body: Value| app.send(Method::DELETE, "/v1/users/me", &tokens.access, body);

    let (status, _) = problem(delete(json!({"password": "wrong password"})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = problem(delete(json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // With a password, a mailed code is not enough.
    let code = app.code_mail(&email, "sign_in").await.code();
    let (status, body) = problem(delete(json!({"code": code})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "code");
    assert_eq!(
        app.get("/v1/users/me", Some(&tokens.access)).await.status(),
        StatusCode::OK
    );

    let response = delete(json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for t in [&tokens, &other] {
        assert_eq!(
            app.get("/v1/users/me", Some(&t.access)).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let refresh = app
            .post_json("/v1/sessions/refresh", &json!({"refresh_token": t.refresh}))
            .await;
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The address is free again.
    app.register(&email, PASSWORD).await;
}

async fn password_less_users_delete_with_a_sign_in_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let email = unique_email();
    let (tokens, code) = app.invited(&admin, &email).await;
    let delete = |body: Value| app.send(Method::DELETE, "/v1/users/me", &tokens.access, body);

    // The used invitation code is no proof any more.
    let (status, _) = problem(delete(json!({"code": code})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = problem(delete(json!({"password": ""})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let fresh = app.code_mail(&email, "sign_in").await.code();
    assert_eq!(
        delete(json!({"code": fresh})).await.status(),
        StatusCode::NO_CONTENT
    );
    let user = app
        .get(
            &format!("/v1/admin/users/{}", tokens.user_id),
            Some(&admin.access),
        )
        .await;
    assert_eq!(user.status(), StatusCode::NOT_FOUND);
}

async fn the_last_super_admin_cannot_delete_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let (status, body) = problem(
        app.send(
            Method::DELETE,
            "/v1/users/me",
            &root.access,
            json!({"password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["type"].as_str().unwrap().ends_with("last-super-admin"));
    let second = app.new_super_admin().await;
    let response = app
        .send(
            Method::DELETE,
            "/v1/users/me",
            &second.access,
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn export_holds_everything_but_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    app.sign_in(&email, "a wrong password").await;
    let response = app.get("/v1/users/me/export", Some(&tokens.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["user"]["email"], email.as_str());
    assert_eq!(export["accounts"], json!([]));
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    let types = strings(&export["security_events"], "type");
    assert!(types.contains(&"email.verified"), "{types:?}");
    assert!(types.contains(&"sign_in.failed"), "{types:?}");
    for secret in ["password_hash", "$argon2", &tokens.refresh, "token_enc"] {
        assert!(!text.contains(secret), "{secret} in the export");
    }
    assert_eq!(
        app.get("/v1/users/me/export", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
