//! Concurrency: single use and uniqueness must hold when requests race.

use crate::backend_tests;
use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

backend_tests!(
    concurrent_refreshes_with_one_token_share_one_successor,
    concurrent_sign_ups_and_confirms_make_one_user,
    concurrent_confirms_of_one_code_have_one_winner,
    concurrent_sign_ins_open_distinct_sessions,
    two_super_admins_demoting_each_other_leave_one,
    a_role_change_racing_a_refresh_never_leaves_the_old_role,
    a_ban_during_a_sign_in_leaves_no_session,
    a_sign_in_racing_a_password_change_keeps_no_session,
);

fn tally(statuses: &[StatusCode]) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_default() += 1;
    }
    counts
}

/// Two tabs, or an app and its background task: 20 refreshes of one token
/// at once all succeed with the same successor, and the session lives.
async fn concurrent_refreshes_with_one_token_share_one_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let responses = join_all((0..20).map(|_| app.refresh(&tokens.refresh))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&200), Some(&20), "{counts:?}");
    let replayed = responses
        .iter()
        .filter(|r| r.headers().contains_key("portcullis-refresh-replayed"))
        .count();
    assert_eq!(
        replayed, 19,
        "all but the winner were answered from the window"
    );
    let mut successors = std::collections::HashSet::new();
    for response in responses {
        let body: serde_json::Value = response.json().await.unwrap();
        successors.insert(body["refresh_token"].as_str().unwrap().to_string());
    }
    assert_eq!(successors.len(), 1, "one successor for all");
    let successor = successors.into_iter().next().unwrap();
    let next = app.refresh(&successor).await;
    assert_eq!(next.status(), StatusCode::OK, "the session lives on");
    assert!(!next.headers().contains_key("portcullis-refresh-replayed"));
}

async fn concurrent_sign_ups_and_confirms_make_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let variants: Vec<String> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                email.clone()
            } else {
                email.to_uppercase()
            }
        })
        .collect();
    let sign_ups = join_all(variants.iter().map(|e| app.sign_up(e, PASSWORD))).await;
    assert!(sign_ups.iter().all(|r| r.status() == StatusCode::ACCEPTED));
    app.mail.wait_for_nth(&email, 20).await;
    // The first sign-up made the registration; every later one re-sent its
    // link (links, not codes: 19 wrong codes would use up the attempts).
    let links: Vec<String> = app.mail.to(&email).iter().map(|m| m.link_token()).collect();

    let confirms = join_all(links.iter().map(|token| app.confirm_token(token))).await;
    let statuses: Vec<StatusCode> = confirms.iter().map(|r| r.status()).collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&201), Some(&1), "{counts:?}");
    assert!(statuses.iter().all(|s| !s.is_server_error()), "{counts:?}");
    // One account: a new sign-up now only notifies its owner.
    let before = app.mail.to(&email).len();
    app.sign_up(&email, PASSWORD).await;
    let notice = app.mail.wait_for_nth(&email, before + 1).await;
    assert_eq!(
        notice.subject(),
        "Someone tried to sign up with your address"
    );
}

async fn concurrent_confirms_of_one_code_have_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let code = app.mail.wait_for(&email).await.code();
    let statuses: Vec<StatusCode> = join_all((0..16).map(|_| app.confirm_code(&email, &code)))
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&201), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&400), Some(&15), "{counts:?}");
}

async fn concurrent_sign_ins_open_distinct_sessions(backend: Backend) {
    // The lockout counts every sign-in in flight until a success clears the
    // count: twelve at once would meet it (a guard against parallel guesses,
    // tested in protection.rs). Out of the way here, so that only the
    // sessions decide.
    let app = spawn_app_with(backend, |s| s.lockout.free_attempts = 1000).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let responses = join_all((0..12).map(|_| app.sign_in(&email, PASSWORD))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let list: serde_json::Value = app.get_json("/v1/sessions", Some(&tokens.access)).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 13);
}

/// The last-SUPER-ADMIN rule under a race: the only two SUPER-ADMINs demote
/// each other at the same moment. Exactly one wins; one always remains.
async fn two_super_admins_demoting_each_other_leave_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut survivor = app.new_super_admin().await;
    for round in 0..5 {
        let (_, other) = app.user_with_role(&survivor, "SUPER-ADMIN").await;
        let demote = |actor: &Tokens, target: &Tokens| {
            app.client
                .patch(app.url(&format!("/v1/admin/users/{}", target.user_id)))
                .bearer_auth(&actor.access)
                .json(&json!({"role": "ADMIN"}))
                .send()
        };
        let (first, second) = tokio::join!(demote(&survivor, &other), demote(&other, &survivor));
        let (first, second) = (first.unwrap().status(), second.unwrap().status());
        let wins = [first, second]
            .iter()
            .filter(|s| **s == StatusCode::OK)
            .count();
        assert_eq!(wins, 1, "round {round}: {first} and {second}");
        let remaining = app
            .db
            .scalar("SELECT count(*) FROM users WHERE role = 'SUPER-ADMIN'")
            .await;
        assert_eq!(remaining, 1, "round {round}");
        if second == StatusCode::OK {
            survivor = other;
        }
    }
}

/// An administrator demotes a user while the user refreshes. Whichever
/// wins, no usable token carries the old role afterwards.
async fn a_role_change_racing_a_refresh_never_leaves_the_old_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    for round in 0..8 {
        let (_, user) = app.user_with_role(&root, "EDITOR").await;
        let demote = app
            .client
            .patch(app.url(&format!("/v1/admin/users/{}", user.user_id)))
            .bearer_auth(&root.access)
            .json(&json!({"role": "VIEWER"}))
            .send();
        // Staggered starts, so that each side wins in some rounds.
        let refresh = async {
            tokio::time::sleep(std::time::Duration::from_millis(round)).await;
            app.refresh(&user.refresh).await
        };
        let (demoted, refreshed) = tokio::join!(demote, refresh);
        assert_eq!(demoted.unwrap().status(), StatusCode::OK, "round {round}");
        if refreshed.status() != StatusCode::OK {
            assert_eq!(
                refreshed.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}"
            );
            continue;
        }
        let tokens = Tokens::from_body(&refreshed.json().await.unwrap());
        let me = app.get("/v1/users/me", Some(&tokens.access)).await.status();
        if claims_of(&tokens.access)["role"] == "EDITOR" {
            assert_eq!(
                me,
                StatusCode::UNAUTHORIZED,
                "round {round}: an old-role token works"
            );
            let again = app.refresh(&tokens.refresh).await.status();
            assert_eq!(again, StatusCode::UNAUTHORIZED, "round {round}");
        } else {
            assert_eq!(me, StatusCode::OK, "round {round}");
        }
    }
}

/// After a race, a sign-in's answer must leave no session the change
/// should have ended: it failed, or its tokens no longer work.
async fn assert_no_surviving_session(app: &TestApp, signed_in: reqwest::Response) {
    match signed_in.status() {
        StatusCode::CREATED => {
            let tokens = Tokens::from_body(&signed_in.json().await.unwrap());
            let me = app.get("/v1/users/me", Some(&tokens.access)).await;
            assert_eq!(
                me.status(),
                StatusCode::UNAUTHORIZED,
                "the session survived"
            );
            let refreshed = app.refresh(&tokens.refresh).await;
            assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
        }
        status => assert_eq!(status, StatusCode::UNAUTHORIZED),
    }
}

/// A ban that lands while a sign-in's password check is under way: the
/// sign-in read the account before the ban, and must not open a session
/// after the ban ended all the others.
async fn a_ban_during_a_sign_in_leaves_no_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    let ban = format!("/v1/admin/users/{}/ban", user.user_id);
    for round in 0..8 {
        let sign_in = app.sign_in(&email, PASSWORD);
        let banning = async {
            tokio::time::sleep(Duration::from_millis(2 + round * 3)).await;
            app.call(Method::POST, &ban, &root.access, Some(json!({})))
                .await
        };
        let (signed_in, banned) = tokio::join!(sign_in, banning);
        assert_eq!(banned.status(), StatusCode::OK);
        assert_no_surviving_session(&app, signed_in).await;
        let unbanned = app.call(Method::DELETE, &ban, &root.access, None).await;
        assert!(unbanned.status().is_success());
    }
}

/// The owner changes a leaked password (ending the other sessions) while
/// someone signs in with the old one: that sign-in keeps no session.
async fn a_sign_in_racing_a_password_change_keeps_no_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let mut password = PASSWORD.to_string();
    app.register(&email, &password).await;
    for round in 0..12 {
        let owner = app.signed_in_with(&email, &password).await;
        let new_password = format!("{PASSWORD} number {round}");
        let body = json!({"current_password": password, "new_password": new_password,
                          "revoke_other_sessions": true});
        let change = app.call(
            Method::PUT,
            "/v1/users/me/password",
            &owner.access,
            Some(body),
        );
        let old = password.clone();
        let intruder = async {
            tokio::time::sleep(Duration::from_millis(round * 5)).await;
            app.sign_in(&email, &old).await
        };
        let (changed, signed_in) = tokio::join!(change, intruder);
        assert_eq!(changed.status(), StatusCode::NO_CONTENT);
        assert_no_surviving_session(&app, signed_in).await;
        password = new_password;
    }
}
