//! The API contract's edges: what a client developer trips over.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

backend_tests!(
    an_invitee_who_never_signed_in_is_not_another_super_admin,
    bodies_that_are_not_objects_are_refused,
    rotations_publish_at_most_five_keys,
    allow_names_the_methods_of_the_path_itself,
    admin_routes_check_the_role_before_the_body,
    head_is_answered_like_get_without_a_body,
);

async fn an_invitee_who_never_signed_in_is_not_another_super_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.new_super_admin().await;
    let invitee = unique_email();
    let response = app
        .send(
            Method::POST,
            "/v1/admin/users",
            &root.access,
            json!({"email": invitee, "role": "SUPER-ADMIN"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let me = format!("/v1/admin/users/{}", root.user_id);
    for (method, path, body) in [
        (Method::PATCH, me.clone(), json!({"role": "ADMIN"})),
        (Method::POST, format!("{me}/ban"), json!({"reason": "oops"})),
        (Method::DELETE, me.clone(), json!({})),
    ] {
        let (status, problem) = problem(app.send(method, &path, &root.access, body).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}");
        assert_eq!(problem["type"], "urn:portcullis:problem:last-super-admin");
    }
    let body = json!({"password": PASSWORD});
    let (status, _) = problem(
        app.send(Method::DELETE, "/v1/users/me", &root.access, body)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "nor by deleting the account");
    // Once the invitee has signed in (proving the address), they count.
    let code = app.mail.wait_for(&invitee).await.code();
    let response = app
        .confirm(&json!({"action": "sign_in", "email": invitee, "code": code}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .send(Method::PATCH, &me, &root.access, json!({"role": "ADMIN"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn bodies_that_are_not_objects_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let response = app
        .patch_me(
            &tokens.access,
            &json!({"username": "grace", "name": "Grace"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for body in [json!([null, null]), json!("text"), json!(42), json!(null)] {
        let (status, problem) = problem(app.patch_me(&tokens.access, &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem["detail"], "the request body must be a JSON object");
    }
    let me: Value = app
        .get("/v1/users/me", Some(&tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "grace", "nothing was cleared");
    assert_eq!(me["name"], "Grace");
    let (status, _) = problem(
        app.post_json("/v1/sessions", &json!([email, PASSWORD]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn rotate(app: &TestApp, actor: &Tokens) -> reqwest::Response {
    app.send(
        Method::POST,
        "/v1/admin/keys/rotate",
        &actor.access,
        json!({}),
    )
    .await
}

/// Retired keys stay until their last token has expired; rotating in a loop
/// must not grow the JWKS without bound.
async fn rotations_publish_at_most_five_keys(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.key_rotation_lead_secs = 1;
        s.access_token_ttl_secs = 60;
    })
    .await;
    let root = app.new_super_admin().await;
    let email = root_email(&app, &root).await;
    for _ in 0..4 {
        assert_eq!(rotate(&app, &root).await.status(), StatusCode::CREATED);
    }
    let (status, body) = problem(rotate(&app, &root).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:portcullis:problem:too-many-keys");
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kids(&jwks).len(), 5);
    // Once the retired keys' last tokens have expired, rotation works again.
    app.advance(std::time::Duration::from_secs(120));
    let root = app.signed_in(&email).await;
    assert_eq!(rotate(&app, &root).await.status(), StatusCode::CREATED);
}

async fn root_email(app: &TestApp, tokens: &Tokens) -> String {
    let me: Value = app
        .get("/v1/users/me", Some(&tokens.access))
        .await
        .json()
        .await
        .unwrap();
    me["email"].as_str().unwrap().to_string()
}

/// `/v1/sessions/refresh` also matches `/v1/sessions/{id}`: the literal
/// route owns the path, so `Allow` names only its methods.
async fn allow_names_the_methods_of_the_path_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, allow) in [
        ("/v1/sessions/refresh", "POST"),
        ("/v1/sessions/current", "GET, DELETE, HEAD"),
        (
            "/v1/sessions/0190a5e4-0000-7000-8000-000000000000",
            "DELETE",
        ),
    ] {
        let response = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
    // `DELETE /v1/sessions/{id}` matches these paths too, but they belong to
    // literal routes without DELETE: 405, not a 400 for a malformed id.
    let user = app.register(&unique_email(), PASSWORD).await;
    for (path, allow) in [
        ("/v1/sessions/refresh", "POST"),
        ("/v1/accounts/link", "POST"),
    ] {
        let response = app
            .send(Method::DELETE, path, &user.access, Value::Null)
            .await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
}

/// A VIEWER learns nothing about an admin route's fields: 403 before any 400.
async fn admin_routes_check_the_role_before_the_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let viewer = app.register(&unique_email(), PASSWORD).await;
    let user = format!("/v1/admin/users/{}", viewer.user_id);
    for (method, path) in [
        (Method::POST, "/v1/admin/users".to_string()),
        (Method::PATCH, user.clone()),
        (Method::POST, format!("{user}/ban")),
        (Method::POST, "/v1/admin/service-clients".to_string()),
    ] {
        let body = json!({"no such field": [1, 2, 3]});
        let (status, _) = problem(app.send(method, &path, &viewer.access, body).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // Nor from path segments, query parameters or unknown admin paths; and
    // without a token, 401 before any of them.
    for (method, path) in [
        (Method::GET, "/v1/admin/users/not-a-uuid"),
        (Method::DELETE, "/v1/admin/users/x/sessions/y"),
        (Method::GET, "/v1/admin/users?limit=ten&rol=ADMIN"),
        (Method::GET, "/v1/admin/audit-events?from=yesterday"),
        (Method::GET, "/v1/admin/no-such-resource"),
    ] {
        let (status, _) = problem(
            app.send(method.clone(), path, &viewer.access, Value::Null)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = problem(app.send(method, path, "", Value::Null).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// Load balancers probe with HEAD: every GET route answers it, headers and
/// status as for GET, no body.
async fn head_is_answered_like_get_without_a_body(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, status) in [
        ("/health/live", StatusCode::OK),
        ("/health/ready", StatusCode::OK),
        ("/.well-known/jwks.json", StatusCode::OK),
        ("/v1/users/me", StatusCode::UNAUTHORIZED),
    ] {
        let get = app.client.get(app.url(path)).send().await.unwrap();
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), status, "{path}");
        assert_eq!(get.status(), status, "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
}
