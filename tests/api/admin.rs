//! Roles and the admin API: the role × operation matrix, escalation, the
//! last SUPER-ADMIN, bans and role changes, search and pagination, a user's
//! sessions, the audit log.

use crate::backend_tests;
use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

backend_tests!(
    every_role_gets_exactly_its_operations,
    nobody_escalates_beyond_their_role,
    the_last_super_admin_is_protected,
    a_ban_ends_sessions_and_blocks_sign_in_and_refresh,
    a_role_change_ends_sessions_and_new_tokens_carry_it,
    users_are_searched_filtered_sorted_and_paged,
    an_admin_ends_a_users_sessions,
    the_audit_log_records_and_filters_events,
);

impl TestApp {
    /// GETs `path` (with its query string) and expects a 200 JSON answer.
    async fn get_ok(&self, path: String, token: &str) -> Value {
        let response = self.call(Method::GET, &path, token, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

fn role_of(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["role"].as_str().unwrap().to_string()
}

/// Every admin operation, run by `actor` against fresh targets; returns the
/// status of each.
async fn operations(app: &TestApp, actor: &Tokens, super_admin: &Tokens) -> Vec<(String, u16)> {
    let target = app.register(&unique_email(), PASSWORD).await;
    let other_target = app.register(&unique_email(), PASSWORD).await;
    let id = &target.user_id;
    // A client to delete, made by the SUPER-ADMIN.
    let made: Value = app
        .call(
            Method::POST,
            "/v1/admin/service-clients",
            &super_admin.access,
            Some(json!({"name": "to delete"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let client_id = made["id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("list users", Method::GET, "/v1/admin/users".into(), None),
        (
            "get user",
            Method::GET,
            format!("/v1/admin/users/{id}"),
            None,
        ),
        (
            "update profile",
            Method::PATCH,
            format!("/v1/admin/users/{id}"),
            Some(json!({"city": "Paris"})),
        ),
        (
            "change role",
            Method::PATCH,
            format!("/v1/admin/users/{}", other_target.user_id),
            Some(json!({"role": "EDITOR"})),
        ),
        (
            "list sessions",
            Method::GET,
            format!("/v1/admin/users/{id}/sessions"),
            None,
        ),
        (
            "revoke session",
            Method::DELETE,
            format!("/v1/admin/users/{id}/sessions/{}", target.session_id),
            None,
        ),
        (
            "revoke sessions",
            Method::DELETE,
            format!("/v1/admin/users/{id}/sessions"),
            None,
        ),
        (
            "ban",
            Method::POST,
            format!("/v1/admin/users/{id}/ban"),
            Some(json!({"reason": "spam"})),
        ),
        (
            "unban",
            Method::DELETE,
            format!("/v1/admin/users/{id}/ban"),
            None,
        ),
        (
            "invite user",
            Method::POST,
            "/v1/admin/users".into(),
            Some(json!({"email": unique_email()})),
        ),
        (
            "audit events",
            Method::GET,
            "/v1/admin/audit-events".into(),
            None,
        ),
        (
            "create service client",
            Method::POST,
            "/v1/admin/service-clients".into(),
            Some(json!({"name": "svc"})),
        ),
        (
            "list service clients",
            Method::GET,
            "/v1/admin/service-clients".into(),
            None,
        ),
        (
            "delete service client",
            Method::DELETE,
            format!("/v1/admin/service-clients/{client_id}"),
            None,
        ),
        (
            "rotate keys",
            Method::POST,
            "/v1/admin/keys/rotate".into(),
            None,
        ),
        (
            "delete user",
            Method::DELETE,
            format!("/v1/admin/users/{id}"),
            None,
        ),
    ];
    let mut results = Vec::new();
    for (name, method, path, body) in cases {
        let status = app
            .call(method, &path, &actor.access, body)
            .await
            .status()
            .as_u16();
        results.push((name.to_string(), status));
    }
    results
}

async fn every_role_gets_exactly_its_operations(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let (_, admin) = app.user_with_role(&root, "ADMIN").await;
    let (_, editor) = app.user_with_role(&root, "EDITOR").await;
    let (_, viewer) = app.user_with_role(&root, "VIEWER").await;
    let super_only = ["delete service client", "rotate keys"];
    for (role, actor) in [
        ("SUPER-ADMIN", &root),
        ("ADMIN", &admin),
        ("EDITOR", &editor),
        ("VIEWER", &viewer),
    ] {
        assert_eq!(role_of(&actor.access), role);
        for (operation, status) in operations(&app, actor, &root).await {
            let expected: &[u16] = match role {
                "SUPER-ADMIN" => &[200, 201, 204],
                "ADMIN" if super_only.contains(&operation.as_str()) => &[403],
                "ADMIN" => &[200, 201, 204],
                _ => &[403],
            };
            assert!(expected.contains(&status), "{role} {operation}: {status}");
        }
    }
    // Without a token: 401.
    let anonymous = app
        .client
        .get(app.url("/v1/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn nobody_escalates_beyond_their_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let (_, admin) = app.user_with_role(&root, "ADMIN").await;
    let (_, editor) = app.user_with_role(&root, "EDITOR").await;
    let viewer = app.register(&unique_email(), PASSWORD).await;

    let promote =
        |target: &str, role: &str| (format!("/v1/admin/users/{target}"), json!({"role": role}));
    let (path, body) = promote(&admin.user_id, "SUPER-ADMIN");
    let (status, problem) = problem(
        app.call(Method::PATCH, &path, &admin.access, Some(body))
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an ADMIN cannot make itself SUPER-ADMIN"
    );
    assert_eq!(problem["type"], "urn:portcullis:problem:forbidden");
    let (path, body) = promote(&viewer.user_id, "SUPER-ADMIN");
    assert_eq!(
        app.call(Method::PATCH, &path, &admin.access, Some(body))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // An ADMIN cannot touch a SUPER-ADMIN at all.
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/admin/users/{}", root.user_id),
            Some(json!({"city": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/admin/users/{}/ban", root.user_id),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/v1/admin/users/{}", root.user_id),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/admin/users/{}/sessions", root.user_id),
            None,
        ),
    ] {
        assert_eq!(
            app.call(method, &path, &admin.access, body).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Granting one's own role is fine; an EDITOR grants nothing.
    let (path, body) = promote(&viewer.user_id, "ADMIN");
    assert_eq!(
        app.call(Method::PATCH, &path, &admin.access, Some(body))
            .await
            .status(),
        StatusCode::OK
    );
    let (path, body) = promote(&editor.user_id, "ADMIN");
    assert_eq!(
        app.call(Method::PATCH, &path, &editor.access, Some(body))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A role is not user-writable through the profile either.
    let response = app
        .patch_me(&editor.access, &json!({"role": "ADMIN"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn the_last_super_admin_is_protected(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let me = format!("/v1/admin/users/{}", root.user_id);
    for (method, path, body) in [
        (Method::PATCH, me.clone(), Some(json!({"role": "ADMIN"}))),
        (
            Method::POST,
            format!("{me}/ban"),
            Some(json!({"reason": "oops"})),
        ),
        (Method::DELETE, me.clone(), None),
    ] {
        let (status, problem) = problem(app.call(method, &path, &root.access, body).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}");
        assert_eq!(problem["type"], "urn:portcullis:problem:last-super-admin");
    }
    // With a second SUPER-ADMIN, the first may step down.
    let (_, second) = app.user_with_role(&root, "SUPER-ADMIN").await;
    assert_eq!(
        app.call(
            Method::PATCH,
            &me,
            &root.access,
            Some(json!({"role": "ADMIN"}))
        )
        .await
        .status(),
        StatusCode::OK
    );
    let back = format!("/v1/admin/users/{}", second.user_id);
    let (status, _) = problem(
        app.call(
            Method::PATCH,
            &back,
            &second.access,
            Some(json!({"role": "ADMIN"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "now the second one is the last"
    );
}

async fn a_ban_ends_sessions_and_blocks_sign_in_and_refresh(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    let ban = format!("/v1/admin/users/{}/ban", user.user_id);

    let response = app
        .call(
            Method::POST,
            &ban,
            &root.access,
            Some(json!({"reason": "abuse"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["banned"], true);
    assert_eq!(body["ban_reason"], "abuse");
    app.assert_session_ended(&user).await;
    let (_, banned) = problem(app.sign_in(&email, PASSWORD).await).await;
    let (_, wrong) = problem(app.sign_in(&email, "not the password").await).await;
    assert_eq!(
        banned["type"], wrong["type"],
        "a ban looks like any failed sign-in"
    );

    assert_eq!(
        app.call(Method::DELETE, &ban, &root.access, None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );

    // A ban with an end lifts itself.
    let until = (time::OffsetDateTime::now_utc() + Duration::from_millis(1500))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"until": until});
    assert_eq!(
        app.call(Method::POST, &ban, &root.access, Some(body))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.advance(Duration::from_millis(1700));
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let (status, _) = problem(
        app.call(
            Method::POST,
            &ban,
            &root.access,
            Some(json!({"until": "2001-01-01T00:00:00Z"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an end in the past");

    // The last instant a client can write, in a negative offset, is past
    // what the service holds in UTC: held at that end, not a dropped
    // connection (a panic in the worker before).
    let last = "9999-12-31T23:59:59-01:00";
    let response = app
        .call(
            Method::POST,
            &ban,
            &root.access,
            Some(json!({ "until": last })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let banned: Value = response.json().await.unwrap();
    assert!(
        banned.to_string().contains("9999-12-31T23:59:59.999Z"),
        "{banned}"
    );
    app.get_ok(format!("/v1/admin/audit-events?to={last}"), &root.access)
        .await;
}

async fn a_role_change_ends_sessions_and_new_tokens_carry_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    assert_eq!(role_of(&user.access), "VIEWER");
    let path = format!("/v1/admin/users/{}", user.user_id);
    let response = app
        .call(
            Method::PATCH,
            &path,
            &root.access,
            Some(json!({"role": "EDITOR"})),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "EDITOR");
    // The old tokens carried VIEWER: they are gone, never refreshed as VIEWER.
    app.assert_session_ended(&user).await;
    let fresh = app.signed_in(&email).await;
    assert_eq!(role_of(&fresh.access), "EDITOR");
    let refreshed = Tokens::from_body(&app.refresh(&fresh.refresh).await.json().await.unwrap());
    assert_eq!(role_of(&refreshed.access), "EDITOR");
}

async fn users_are_searched_filtered_sorted_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut ids = Vec::new();
    for n in 0..7 {
        let email = format!("{tag}-{n}@example.com");
        let tokens = app.register(&email, PASSWORD).await;
        let name = if n % 2 == 0 {
            "Grace Hopper"
        } else {
            "Alan Turing"
        };
        app.patch_me(&tokens.access, &json!({"name": name})).await;
        ids.push(tokens.user_id);
    }
    let list = |query: String| app.get_ok(format!("/v1/admin/users?{query}"), &root.access);
    let page = list(format!("q={tag}")).await;
    assert_eq!(page["total"], 7);
    let page = list(format!("q={tag}&limit=3&sort=email")).await;
    assert_eq!(page["total"], 7);
    let mut seen = Vec::new();
    let mut cursor = page["next_cursor"].as_str().map(String::from);
    seen.extend(
        strings(&page["users"], "email")
            .into_iter()
            .map(String::from),
    );
    while let Some(next) = cursor {
        let page = list(format!("q={tag}&limit=3&sort=email&cursor={next}")).await;
        seen.extend(
            strings(&page["users"], "email")
                .into_iter()
                .map(String::from),
        );
        cursor = page["next_cursor"].as_str().map(String::from);
    }
    let expected: Vec<String> = (0..7).map(|n| format!("{tag}-{n}@example.com")).collect();
    assert_eq!(seen, expected, "every user once, in order");
    // Newest first by default, and paging the other way round works too.
    let newest = list(format!("q={tag}&limit=7")).await;
    assert_eq!(newest["users"][0]["id"], ids[6].as_str());
    // Search matches names, case-insensitively; wildcards are literal.
    assert_eq!(list(format!("q={tag}")).await["total"], 7);
    let hoppers = list("q=grace%20hopper".into()).await;
    assert!(hoppers["total"].as_i64().unwrap() >= 4);
    assert_eq!(list(format!("q={tag}%25%25")).await["total"], 0);
    // Filters.
    let ban = format!("/v1/admin/users/{}/ban", ids[0]);
    app.call(Method::POST, &ban, &root.access, Some(json!({})))
        .await;
    assert_eq!(list(format!("q={tag}&banned=true")).await["total"], 1);
    assert_eq!(list(format!("q={tag}&banned=false")).await["total"], 6);
    assert_eq!(list(format!("q={tag}&verified=true")).await["total"], 7);
    assert_eq!(list("role=SUPER-ADMIN".into()).await["total"], 1);
    // Bad parameters.
    for query in [
        "limit=0",
        "limit=500",
        "sort=password",
        "cursor=abc",
        "role=GOD",
        "rol=ADMIN",
    ] {
        let response = app
            .call(
                Method::GET,
                &format!("/v1/admin/users?{query}"),
                &root.access,
                None,
            )
            .await;
        assert_eq!(
            problem(response).await.0,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
    let wrong_cursor = list("limit=1&sort=email".into()).await["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .call(
            Method::GET,
            &format!("/v1/admin/users?cursor={wrong_cursor}"),
            &root.access,
            None,
        )
        .await;
    assert_eq!(
        problem(response).await.0,
        StatusCode::BAD_REQUEST,
        "a cursor of another sort"
    );
}

async fn an_admin_ends_a_users_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let phone = app.register(&email, PASSWORD).await;
    let laptop = app.signed_in(&email).await;
    let base = format!("/v1/admin/users/{}/sessions", phone.user_id);
    let list: Value = app
        .call(Method::GET, &base, &root.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    let one = format!("{base}/{}", laptop.session_id);
    assert_eq!(
        app.call(Method::DELETE, &one, &root.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&laptop.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        problem(app.call(Method::DELETE, &one, &root.access, None).await)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let all: Value = app
        .call(Method::DELETE, &base, &root.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["revoked"], 1);
    assert_eq!(
        app.get("/v1/users/me", Some(&phone.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let nobody = format!("/v1/admin/users/{}/sessions", uuid::Uuid::new_v4());
    assert_eq!(
        problem(app.call(Method::GET, &nobody, &root.access, None).await)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn the_audit_log_records_and_filters_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let user = app.register(&email, PASSWORD).await;
    app.client
        .post(app.url("/v1/sessions"))
        .header("user-agent", "audit-probe/1")
        .json(&json!({"email": email, "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    app.signed_in(&email).await;
    app.call(
        Method::PATCH,
        &format!("/v1/admin/users/{}", user.user_id),
        &root.access,
        Some(json!({"role": "EDITOR"})),
    )
    .await;

    let events =
        |query: String| app.get_ok(format!("/v1/admin/audit-events?{query}"), &root.access);
    let mine = events(format!("user_id={}", user.user_id)).await;
    let types = strings(&mine["events"], "type");
    for expected in [
        "email.verified",
        "sign_in.failed",
        "sign_in.succeeded",
        "admin.role_changed",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    assert_eq!(types[0], "admin.role_changed", "newest first");
    let failed = events(format!("user_id={}&type=sign_in.failed", user.user_id)).await;
    let event = &failed["events"][0];
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["user_agent"], "audit-probe/1");
    assert!(event["request_id"].as_str().unwrap().len() >= 32);
    assert_eq!(event["details"]["reason"], "invalid_credentials");
    let role = events(format!("user_id={}&type=admin.role_changed", user.user_id)).await;
    assert_eq!(role["events"][0]["actor_id"], root.user_id.as_str());
    assert_eq!(role["events"][0]["details"]["to"], "EDITOR");

    // Pages of one, every event once.
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("user_id={}&limit=1&cursor={c}", user.user_id),
            None => format!("user_id={}&limit=1", user.user_id),
        };
        let page = events(query).await;
        for e in page["events"].as_array().unwrap() {
            assert!(seen.insert(e["id"].as_str().unwrap().to_string()));
        }
        cursor = page["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), types.len());
    // A time range.
    let future = (time::OffsetDateTime::now_utc() + Duration::from_secs(60))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let later = events(format!("from={}", future.replace('+', "%2B"))).await;
    assert_eq!(later["events"], json!([]));
    for query in ["from=yesterday", "kind=sign_in.failed"] {
        let path = format!("/v1/admin/audit-events?{query}");
        let response = app.call(Method::GET, &path, &root.access, None).await;
        assert_eq!(
            problem(response).await.0,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
}
