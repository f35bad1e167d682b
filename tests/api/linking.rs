//! Linking a provider identity: proof of the owner to start, a one-time
//! link code bound to the user who started, a notice to the owner, and no
//! way to finish after the owner took the account back.

use crate::backend_tests;
use crate::helpers::browser::{browser, query, FRONTEND as APP};
use crate::helpers::*;
use crate::social::{identity, setup, Social};
use reqwest::{Response, StatusCode, Url};
use serde_json::{json, Value};

backend_tests!(
    linking_needs_the_owner_and_tells_them,
    a_link_code_only_works_for_the_user_who_started,
    a_victim_sent_someone_elses_link_flow_links_nothing,
    an_identity_linked_elsewhere_is_a_conflict,
    the_last_sign_in_method_cannot_be_unlinked,
    a_reset_names_linked_identities_ends_link_flows_and_can_unlink,
);

async fn post_link(s: &Social, access: Option<&str>, body: Value) -> Response {
    let mut request = s.app.client.post(s.app.url("/v1/accounts/oidc/link"));
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    request.json(&body).send().await.unwrap()
}

/// Starts a link with the password and returns the provider's URL.
async fn start_link(s: &Social, access: &str) -> String {
    let response = post_link(
        s,
        Some(access),
        json!({"redirect_to": APP, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["authorize_url"].as_str().unwrap().to_string()
}

/// Runs the provider part of a started link in a fresh browser and returns
/// the `link_code` the frontend receives.
async fn link_code(s: &Social, authorize_url: String) -> String {
    let landing: Url = s.follow(&browser(), authorize_url, false).await.unwrap();
    let pairs: Vec<(String, String)> = landing.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 1, "only the link code travels: {landing}");
    query(&landing, "link_code").expect("a link_code in the redirect")
}

async fn complete(s: &Social, access: Option<&str>, link_code: &str) -> Response {
    let mut request = s.app.client.post(s.app.url("/v1/accounts/link"));
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    request
        .json(&json!({ "link_code": link_code }))
        .send()
        .await
        .unwrap()
}

async fn accounts(s: &Social, access: &str) -> Vec<Value> {
    let body: Value = s.app.get_json("/v1/accounts", Some(access)).await;
    body["accounts"].as_array().unwrap().clone()
}

async fn linking_needs_the_owner_and_tells_them(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    let local = s.app.register(&email, PASSWORD).await;
    // A stolen access token alone starts nothing.
    for (body, expected) in [
        // No proof at all.
        (json!({"redirect_to": APP}), StatusCode::BAD_REQUEST),
        // The wrong password.
        (
            json!({"redirect_to": APP, "password": "not the password"}),
            StatusCode::FORBIDDEN,
        ),
        // A code, from an account that has a password: the weaker proof.
        (
            json!({"redirect_to": APP, "code": "12345678"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _) = problem(post_link(&s, Some(&local.access), body.clone()).await).await;
        assert_eq!(status, expected, "{body}");
    }
    let body = json!({"redirect_to": APP, "password": PASSWORD});
    assert_eq!(
        problem(post_link(&s, None, body).await).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.app.db.count_rows("oauth_states").await, 0);

    s.idp
        .login_as(identity("linked-id", &unique_email(), false))
        .await;
    let code = link_code(&s, start_link(&s, &local.access).await).await;
    assert!(accounts(&s, &local.access).await.is_empty(), "not yet");
    let response = complete(&s, Some(&local.access), &code).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let account: Value = response.json().await.unwrap();
    assert_eq!(account["provider"], "oidc");
    assert_eq!(account["subject"], "linked-id");
    assert_eq!(accounts(&s, &local.access).await.len(), 1);
    let notice = s.app.mail.wait_for_nth(&email, 2).await;
    assert!(
        notice.subject().contains("Test IdP"),
        "{}",
        notice.subject()
    );
    assert!(notice.body().contains("Test IdP"));

    // Signing in with that identity now reaches the same user.
    let social = s.signed_in().await;
    assert_eq!(social.user_id, local.user_id);
    let account_id = account["id"].as_str().unwrap();
    let path = format!("/v1/accounts/{account_id}");
    assert_eq!(
        s.app.delete(&path, &local.access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        problem(s.app.delete(&path, &local.access).await).await.0,
        StatusCode::NOT_FOUND
    );
    // Unlinked: the identity (unverified address) no longer signs in.
    assert_eq!(
        problem(s.sign_in().await.unwrap_err()).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn a_link_code_only_works_for_the_user_who_started(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let owner = s.app.register(&unique_email(), PASSWORD).await;
    let other = s.app.register(&unique_email(), PASSWORD).await;
    s.idp
        .login_as(identity("bound-id", &unique_email(), true))
        .await;
    let code = link_code(&s, start_link(&s, &owner.access).await).await;
    // No token, then another user's token: refused, and the code is spent.
    assert_eq!(
        problem(complete(&s, None, &code).await).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = problem(complete(&s, Some(&other.access), &code).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "link_code");
    assert_eq!(
        problem(complete(&s, Some(&owner.access), &code).await)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert!(accounts(&s, &owner.access).await.is_empty());
    assert!(accounts(&s, &other.access).await.is_empty());
    assert_eq!(s.app.db.count_rows("accounts").await, 0);
}

/// A login swap: the attacker starts a link on their own account and makes
/// the victim's browser finish the provider part.
async fn a_victim_sent_someone_elses_link_flow_links_nothing(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let attacker = s.app.register(&unique_email(), PASSWORD).await;
    let victim_email = unique_email();
    let victim = s.app.register(&victim_email, PASSWORD).await;
    let lure = start_link(&s, &attacker.access).await;
    // The victim's browser signs in at the provider as the victim...
    s.idp
        .login_as(identity("victim-at-idp", &victim_email, true))
        .await;
    let code = link_code(&s, lure).await;
    // ...and the victim's frontend posts the code with the victim's token.
    let (status, _) = problem(complete(&s, Some(&victim.access), &code).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.app.db.count_rows("accounts").await, 0);
    // The victim's provider identity still signs in to the victim only.
    let signed_in = s.signed_in().await;
    assert_eq!(signed_in.user_id, victim.user_id);
    assert!(accounts(&s, &attacker.access).await.is_empty());
}

async fn an_identity_linked_elsewhere_is_a_conflict(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.idp
        .login_as(identity("shared-id", &unique_email(), true))
        .await;
    s.signed_in().await; // creates a user for this identity
    let other = s.app.register(&unique_email(), PASSWORD).await;
    let code = link_code(&s, start_link(&s, &other.access).await).await;
    let (status, body) = problem(complete(&s, Some(&other.access), &code).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["type"],
        "urn:portcullis:problem:identity-linked-elsewhere"
    );
}

async fn the_last_sign_in_method_cannot_be_unlinked(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    s.idp.login_as(identity("only-way-in", &email, true)).await;
    let tokens = s.signed_in().await;
    let first = accounts(&s, &tokens.access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = problem(
        s.app
            .delete(&format!("/v1/accounts/{first}"), &tokens.access)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:portcullis:problem:last-sign-in-method");

    // Without a password, a fresh sign-in code proves the owner; the
    // password field is refused.
    let (status, _) = problem(
        post_link(
            &s,
            Some(&tokens.access),
            json!({"redirect_to": APP, "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let code = s.app.code_mail(&email, "sign_in").await.code();
    let response = post_link(
        &s,
        Some(&tokens.access),
        json!({"redirect_to": APP, "code": code}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let url: Value = response.json().await.unwrap();
    s.idp
        .login_as(identity("second-way-in", &unique_email(), true))
        .await;
    let link = link_code(&s, url["authorize_url"].as_str().unwrap().to_string()).await;
    assert_eq!(
        complete(&s, Some(&tokens.access), &link).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.app
            .delete(&format!("/v1/accounts/{first}"), &tokens.access)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

/// Resets the password and returns the notice that follows.
async fn reset(s: &Social, email: &str, unlink: Option<bool>) -> crate::helpers::ReceivedMail {
    let code = s.app.code_mail(email, "reset_password").await.code();
    let mails = s.app.mail.to(email).len();
    let mut body = json!({"action": "reset_password", "email": email, "code": code,
                          "new_password": "a brand new passphrase"});
    if let Some(unlink) = unlink {
        body["unlink_accounts"] = json!(unlink);
    }
    let response = s.app.confirm(&body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    s.app.mail.wait_for_nth(email, mails + 1).await
}

async fn a_reset_names_linked_identities_ends_link_flows_and_can_unlink(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    let local = s.app.register(&email, PASSWORD).await;
    s.idp
        .login_as(identity("thiefs-identity", &unique_email(), true))
        .await;
    let code = link_code(&s, start_link(&s, &local.access).await).await;
    assert_eq!(
        complete(&s, Some(&local.access), &code).await.status(),
        StatusCode::CREATED
    );
    // Two more flows in flight: one at the provider, one waiting for its code.
    let started = start_link(&s, &local.access).await;
    s.idp
        .login_as(identity("another-identity", &unique_email(), true))
        .await;
    let waiting = link_code(&s, start_link(&s, &local.access).await).await;

    let notice = reset(&s, &email, None).await;
    assert_eq!(notice.subject(), "Your password was changed");
    assert!(notice.body().contains("Test IdP"), "{}", notice.body());
    // Both flows died with the reset.
    let (status, _) = problem(s.follow(&browser(), started, false).await.unwrap_err()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fresh = s.app.signed_in_with(&email, "a brand new passphrase").await;
    assert_eq!(
        problem(complete(&s, Some(&fresh.access), &waiting).await)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        accounts(&s, &fresh.access).await.len(),
        1,
        "kept unless asked"
    );

    // A reset can remove every linked identity in the same step.
    let notice = reset(&s, &email, Some(true)).await;
    let fresh = s.app.signed_in_with(&email, "a brand new passphrase").await;
    assert!(accounts(&s, &fresh.access).await.is_empty());
    assert!(notice.body().contains("were removed"), "{}", notice.body());
}
