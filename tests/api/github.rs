//! GitHub, the OAuth 2.0 provider without OpenID Connect, against a
//! stand-in for its OAuth and REST endpoints.

use crate::backend_tests;
use crate::helpers::browser::{browser, query, urlencode, FRONTEND as APP};
use crate::helpers::github::FakeGithub;
use crate::helpers::*;
use portcullis::config::{ProviderSettings, SecretString};
use reqwest::{Response, StatusCode, Url};
use serde_json::{json, Value};

backend_tests!(
    github_signs_in_with_its_verified_primary_address,
    github_without_a_verified_address_is_refused,
);

async fn github_app(backend: Backend, emails: Value) -> (TestApp, FakeGithub) {
    let github = FakeGithub::start(
        json!({"id": 583231, "login": "octocat", "name": "The Octocat",
               "avatar_url": "https://avatars.example.com/u/583231"}),
        emails,
    );
    let base = github.base.clone();
    let app = spawn_app_with(backend, |s| {
        s.oauth.redirect_allowlist = vec![APP.into()];
        s.oauth.providers.insert(
            "github".into(),
            ProviderSettings {
                kind: None,
                issuer: None,
                client_id: "gh-client".into(),
                client_secret: SecretString::new("gh-secret"),
                scopes: None,
                display_name: None,
                authorize_url: Some(format!("{base}/login/oauth/authorize")),
                token_url: Some(format!("{base}/login/oauth/access_token")),
                api_url: Some(base.clone()),
            },
        );
    })
    .await;
    (app, github)
}

/// Follows the GitHub flow to the frontend (or to the answer that stops it).
async fn github_flow(app: &TestApp) -> Result<Url, Response> {
    let browser = browser();
    let mut url = app.url(&format!(
        "/v1/oauth/github/authorize?redirect_to={}{}",
        urlencode(APP),
        crate::social::pkce()
    ));
    for _ in 0..5 {
        let response = browser.get(&url).send().await.unwrap();
        if !response.status().is_redirection() {
            return Err(response);
        }
        let location = response.headers()["location"].to_str().unwrap().to_string();
        if location.starts_with(APP) {
            return Ok(Url::parse(&location).unwrap());
        }
        url = match location.strip_prefix("http://127.0.0.1/") {
            Some(rest) => format!("{}/{rest}", app.address),
            None => location,
        };
    }
    panic!("too many redirects");
}

async fn github_signs_in_with_its_verified_primary_address(backend: Backend) {
    let email = unique_email();
    let (app, _github) = github_app(
        backend,
        json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": email, "primary": true, "verified": true},
            {"email": "unverified@example.com", "primary": false, "verified": false}
        ]),
    )
    .await;
    let providers: Value = app.get_json("/v1/oauth/providers", None).await;
    assert_eq!(
        providers["providers"][0],
        json!({"id": "github", "name": "GitHub", "kind": "github"})
    );
    let landing = github_flow(&app).await.unwrap();
    let code = query(&landing, "code").unwrap();
    let response = app
        .post_json(
            "/v1/oauth/token",
            &json!({"code": code, "code_verifier": crate::social::VERIFIER}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["auth_provider"], "github");
    assert_eq!(body["user"]["name"], "The Octocat");
    let tokens = Tokens::from_body(&body);
    let accounts: Value = app.get_json("/v1/accounts", Some(&tokens.access)).await;
    assert_eq!(accounts["accounts"][0]["subject"], "583231");
}

async fn github_without_a_verified_address_is_refused(backend: Backend) {
    let (app, _github) = github_app(
        backend,
        json!([{"email": "maybe@example.com", "primary": true, "verified": false}]),
    )
    .await;
    let (status, body) = problem(github_flow(&app).await.unwrap_err()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:portcullis:problem:provider-rejected");
    assert_eq!(app.db.count_rows("users").await, 0);
}
