//! One error shape for every kind of bad input: body, query string, path
//! segment, form. Always 400 `invalid-request`, every invalid field named.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

backend_tests!(
    every_invalid_field_of_a_body_is_named_at_once,
    query_path_and_form_errors_share_the_body_shape,
    unknown_query_parameters_are_refused_but_cache_busters_pass,
);

/// The `errors[]` of a 400 `invalid-request`, as (field, message) pairs.
async fn invalid_fields(response: reqwest::Response) -> Vec<(String, String)> {
    let (status, problem) = problem(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["type"], "urn:portcullis:problem:invalid-request");
    let errors = problem["errors"].as_array().cloned().unwrap_or_default();
    let pair = |e: &Value| {
        (
            e["field"].as_str().unwrap().to_string(),
            e["message"].as_str().unwrap().to_string(),
        )
    };
    errors.iter().map(pair).collect()
}

fn names(fields: &[(String, String)]) -> Vec<&str> {
    let mut names: Vec<&str> = fields.iter().map(|(field, _)| field.as_str()).collect();
    names.sort_unstable();
    names
}

async fn every_invalid_field_of_a_body_is_named_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"email": "nope", "password": "short", "username": "x", "nickname": "a"});
    let fields = invalid_fields(app.post_json("/v1/users", &body).await).await;
    assert_eq!(
        names(&fields),
        ["email", "nickname", "password", "username"],
        "{fields:?}"
    );
    let unknown = fields.iter().find(|(field, _)| field == "nickname");
    assert!(unknown.is_some_and(|(_, message)| message.contains("unknown field")));

    let fields = invalid_fields(app.post_json("/v1/users", &json!({})).await).await;
    let required = ("is required".to_string(), "is required".to_string());
    assert_eq!(names(&fields), ["email", "password"]);
    assert!(fields.iter().all(|(_, message)| *message == required.0));

    let fields = invalid_fields(app.post_json("/v1/sessions/refresh", &json!({})).await).await;
    assert_eq!(fields, [("refresh_token".to_string(), required.1)]);

    // A refused body leaves nothing behind: no registration, no mail.
    let address = unique_email();
    let body = json!({"email": address, "password": "short", "nickname": 1});
    let fields = invalid_fields(app.post_json("/v1/users", &body).await).await;
    assert_eq!(names(&fields), ["nickname", "password"]);
    assert_eq!(app.settled_mail_count(&address).await, 0);
}

async fn query_path_and_form_errors_share_the_body_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let get = |path: &'static str| app.send(Method::GET, path, &admin.access, Value::Null);
    let fields = invalid_fields(get("/v1/admin/users?limit=ten").await).await;
    assert_eq!(names(&fields), ["limit"]);
    let fields = invalid_fields(get("/v1/admin/audit-events?from=yesterday").await).await;
    assert_eq!(names(&fields), ["from"]);

    // A malformed id is bad input (400), not a missing resource (404).
    let fields = invalid_fields(get("/v1/admin/users/not-a-uuid").await).await;
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "id");
    let path = format!("/v1/admin/users/{}/sessions/12", admin.user_id);
    let response = app
        .send(Method::DELETE, &path, &admin.access, Value::Null)
        .await;
    assert_eq!(names(&invalid_fields(response).await), ["session_id"]);
    let response = app
        .send(
            Method::DELETE,
            "/v1/sessions/xyz",
            &admin.access,
            Value::Null,
        )
        .await;
    assert_eq!(names(&invalid_fields(response).await), ["id"]);

    let form = app
        .client
        .post(app.url("/v1/introspect"))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalid_fields(form).await,
        [("token".to_string(), "is required".to_string())]
    );
    let json_instead = app
        .post_json("/v1/introspect", &json!({"token": "x"}))
        .await;
    let (status, problem) = problem(json_instead).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("x-www-form-urlencoded"));
}

/// A misspelled filter must not widen a listing silently; a cache-buster
/// (a name starting with `_`) must not break it.
async fn unknown_query_parameters_are_refused_but_cache_busters_pass(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    for path in [
        "/v1/admin/users?_=1733300000",
        "/v1/admin/audit-events?limit=5&_ts=x",
    ] {
        let response = app
            .send(Method::GET, path, &admin.access, Value::Null)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let path = "/v1/admin/users?rol=ADMIN&_=1";
    let response = app
        .send(Method::GET, path, &admin.access, Value::Null)
        .await;
    assert_eq!(names(&invalid_fields(response).await), ["rol"]);
}
