//! Social sign-in and linking against a real OpenID provider
//! (panva/oidc-provider), with a browser simulated by a cookie-keeping
//! HTTP client that follows redirects by hand.

use crate::backend_tests;
use crate::helpers::oidc::{node_available, OidcProvider, CLIENT_ID, CLIENT_SECRET};
use crate::helpers::*;
use portcullis::config::{ProviderKind, ProviderSettings, SecretString, Settings};
use reqwest::{Response, StatusCode, Url};
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    lists_the_enabled_providers,
    sign_in_creates_a_verified_user_and_hands_off_a_one_time_code,
    a_returning_identity_signs_into_the_same_user,
    a_verified_address_links_to_the_verified_local_user,
    an_unverified_provider_address_is_not_linked,
    a_pending_sign_up_is_not_taken_over,
    state_must_be_present_valid_unused_and_from_this_browser,
    id_tokens_with_wrong_claims_are_refused,
    an_unreachable_provider_fails_within_the_timeout,
    open_redirects_are_refused,
    the_clients_own_pkce_is_enforced,
    provider_tokens_are_encrypted_and_never_returned,
    a_declined_sign_in_returns_the_providers_error,
);

use crate::helpers::browser::{browser, query, urlencode, FRONTEND as APP};
const CALLBACK: &str = "http://127.0.0.1/v1/oauth/oidc/callback";

pub struct Social {
    pub app: TestApp,
    pub idp: OidcProvider,
}

fn provider_settings(issuer: &str) -> ProviderSettings {
    ProviderSettings {
        kind: Some(ProviderKind::Oidc),
        issuer: Some(issuer.to_string()),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::new(CLIENT_SECRET),
        scopes: None,
        display_name: Some("Test IdP".into()),
        authorize_url: None,
        token_url: None,
        api_url: None,
    }
}

pub async fn setup(backend: Backend) -> Option<Social> {
    setup_with(backend, |_| {}).await
}

async fn setup_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<Social> {
    if !node_available() {
        return None;
    }
    let idp = OidcProvider::start(&[CALLBACK.to_string()]).await;
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(backend, |s| {
        s.oauth.redirect_allowlist = vec![APP.into(), "https://app.example.com/done".into()];
        s.oauth.http_timeout_secs = 2;
        s.oauth
            .providers
            .insert("oidc".into(), provider_settings(&issuer));
        configure(s);
    })
    .await;
    Some(Social { app, idp })
}

pub fn identity(sub: &str, email: &str, verified: bool) -> Value {
    json!({"sub": sub, "email": email, "email_verified": verified, "name": "Grace Hopper",
           "given_name": "Grace", "family_name": "Hopper"})
}

/// The frontend's own PKCE verifier, required for every sign-in.
pub const VERIFIER: &str = "the-frontends-own-code-verifier-of-enough-length-0123456789";

pub fn challenge_of(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// `&code_challenge=…&code_challenge_method=S256` for [`VERIFIER`].
pub fn pkce() -> String {
    format!(
        "&code_challenge={}&code_challenge_method=S256",
        challenge_of(VERIFIER)
    )
}

impl Social {
    /// The authorize URL, with the frontend's PKCE unless `extra` brings its own.
    fn authorize_url(&self, extra: &str) -> String {
        let pkce = if extra.contains("code_challenge") {
            String::new()
        } else {
            pkce()
        };
        self.app.url(&format!(
            "/v1/oauth/oidc/authorize?redirect_to={}{extra}{pkce}",
            urlencode(APP)
        ))
    }

    /// The app's public URL is `http://127.0.0.1`: the provider sends the
    /// browser there, and the test delivers it to the real port.
    fn deliver(&self, url: &Url) -> String {
        let text = url.as_str();
        match text.strip_prefix("http://127.0.0.1/") {
            Some(rest) => format!("{}/{rest}", self.app.address),
            None => text.to_string(),
        }
    }

    /// Follows redirects from `start`; stops at the provider's redirect to
    /// our callback when `stop_at_callback`, else at the frontend.
    pub async fn follow(
        &self,
        browser: &reqwest::Client,
        start: String,
        stop_at_callback: bool,
    ) -> Result<Url, Response> {
        let mut url = Url::parse(&start).unwrap();
        for _ in 0..20 {
            let response = browser.get(self.deliver(&url)).send().await.unwrap();
            if !response.status().is_redirection() {
                return Err(response);
            }
            let location = response.headers()["location"].to_str().unwrap().to_string();
            url = url.join(&location).unwrap();
            if url.as_str().starts_with(APP)
                || (stop_at_callback && url.as_str().starts_with(CALLBACK))
            {
                return Ok(url);
            }
        }
        panic!("too many redirects");
    }

    pub async fn sign_in(&self) -> Result<Url, Response> {
        self.follow(&browser(), self.authorize_url(""), false).await
    }

    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> Response {
        let mut body = json!({"code": code});
        if let Some(verifier) = verifier {
            body["code_verifier"] = json!(verifier);
        }
        self.app.post_json("/v1/oauth/token", &body).await
    }

    /// Signs in through the provider and exchanges the code.
    pub async fn signed_in(&self) -> Tokens {
        let landing = self.sign_in().await.expect("the flow ends at the frontend");
        let code = query(&landing, "code").expect("a code in the redirect");
        let response = self.exchange(&code, Some(VERIFIER)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Tokens::from_body(&response.json().await.unwrap())
    }
}

async fn lists_the_enabled_providers(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let body: Value = s.app.get_json("/v1/oauth/providers", None).await;
    assert_eq!(
        body,
        json!({"providers": [{"id": "oidc", "name": "Test IdP", "kind": "oidc"}]})
    );
    let (status, _) = problem(
        s.app
            .get(&format!("/v1/oauth/nope/authorize?redirect_to={APP}"), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn sign_in_creates_a_verified_user_and_hands_off_a_one_time_code(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let browser = browser();
    let email = unique_email();
    s.idp.login_as(identity("grace-1", &email, true)).await;

    // The authorize step sends the browser to the provider with PKCE S256,
    // state and nonce, and binds the state to the browser.
    let first = browser.get(s.authorize_url("")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let to_provider = Url::parse(first.headers()["location"].to_str().unwrap()).unwrap();
    assert!(to_provider.as_str().starts_with(&s.idp.issuer));
    assert_eq!(
        query(&to_provider, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query(&to_provider, "code_challenge").unwrap().len(), 43);
    assert!(query(&to_provider, "state").unwrap().len() >= 43);
    assert!(query(&to_provider, "nonce").unwrap().len() >= 43);
    assert_eq!(
        query(&to_provider, "redirect_uri").as_deref(),
        Some(CALLBACK)
    );

    let landing = s
        .follow(&browser, to_provider.to_string(), false)
        .await
        .unwrap();
    let pairs: Vec<(String, String)> = landing.query_pairs().into_owned().collect();
    assert_eq!(
        pairs.len(),
        1,
        "only a one-time code travels in the URL: {landing}"
    );
    let code = query(&landing, "code").unwrap();

    let response = s.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["email_verified"], true);
    assert_eq!(body["user"]["auth_provider"], "oidc");
    assert_eq!(body["user"]["has_password"], false);
    assert_eq!(body["user"]["first_name"], "Grace");
    let tokens = Tokens::from_body(&body);
    assert_eq!(
        s.app
            .get("/v1/users/me", Some(&tokens.access))
            .await
            .status(),
        StatusCode::OK
    );

    let (status, _) = problem(s.exchange(&code, Some(VERIFIER)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the code works once");
}

async fn a_returning_identity_signs_into_the_same_user(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    s.idp.login_as(identity("returning", &email, true)).await;
    let first = s.signed_in().await;
    // Same subject, new address at the provider: still the same user.
    s.idp
        .login_as(identity("returning", &unique_email(), true))
        .await;
    let second = s.signed_in().await;
    assert_eq!(first.user_id, second.user_id);
    assert_ne!(first.session_id, second.session_id);
}

async fn a_verified_address_links_to_the_verified_local_user(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    let local = s.app.register(&email, PASSWORD).await;
    s.idp
        .login_as(identity("same-person", &email.to_uppercase(), true))
        .await;
    let social = s.signed_in().await;
    assert_eq!(social.user_id, local.user_id);
    let accounts: Value = s.app.get_json("/v1/accounts", Some(&local.access)).await;
    assert_eq!(accounts["accounts"][0]["provider"], "oidc");
    assert_eq!(accounts["accounts"][0]["subject"], "same-person");
}

async fn an_unverified_provider_address_is_not_linked(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let email = unique_email();
    let local = s.app.register(&email, PASSWORD).await;
    s.idp
        .login_as(identity("claims-your-address", &email, false))
        .await;
    let response = s.sign_in().await.unwrap_err();
    let (status, with_account) = problem(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        with_account["type"],
        "urn:portcullis:problem:provider-rejected"
    );
    let accounts: Value = s.app.get_json("/v1/accounts", Some(&local.access)).await;
    assert_eq!(accounts["accounts"], json!([]));

    // With no local account, an unverified address does not create one either.
    s.idp
        .login_as(identity("unverified-stranger", &unique_email(), false))
        .await;
    let (status, without_account) = problem(s.sign_in().await.unwrap_err()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.app.db.count_rows("users").await, 1);
    // One answer whether or not a local account has the address.
    for field in ["type", "title", "detail"] {
        assert_eq!(with_account[field], without_account[field], "{field}");
    }
}

async fn a_pending_sign_up_is_not_taken_over(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let victim = unique_email();
    // Someone signs up with the victim's address and their own password...
    s.app.sign_up(&victim, "attacker's chosen password").await;
    let planted = s.app.mail.wait_for(&victim).await;
    // ...then the victim signs in with the provider.
    s.idp.login_as(identity("the-victim", &victim, true)).await;
    s.signed_in().await;
    let (status, _) = problem(s.app.sign_in(&victim, "attacker's chosen password").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = s.app.confirm_code(&victim, &planted.code()).await.status();
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT);
    assert_eq!(
        s.app
            .sign_in(&victim, "attacker's chosen password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn state_must_be_present_valid_unused_and_from_this_browser(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let browser = browser();
    s.idp
        .login_as(identity("stateful", &unique_email(), true))
        .await;
    let callback = s.follow(&browser, s.authorize_url(""), true).await.unwrap();
    let delivered = s.deliver(&callback);
    let code = query(&callback, "code").unwrap();

    let without_state = s.app.url(&format!("/v1/oauth/oidc/callback?code={code}"));
    let wrong_state = s
        .app
        .url(&format!("/v1/oauth/oidc/callback?code={code}&state=forged"));
    for url in [without_state, wrong_state] {
        let (status, _) = problem(browser.get(&url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
    }
    // Another browser (no binding cookie) cannot complete this flow...
    let other_browser = self::browser();
    let (status, _) = problem(other_browser.get(&delivered).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // ...and having been tried, the state is spent for everyone.
    let (status, _) = problem(browser.get(&delivered).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A completed callback cannot be replayed.
    let callback = s.follow(&browser, s.authorize_url(""), true).await.unwrap();
    let delivered = s.deliver(&callback);
    assert_eq!(
        browser.get(&delivered).send().await.unwrap().status(),
        StatusCode::FOUND
    );
    let (status, _) = problem(browser.get(&delivered).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A state issued for one provider is refused at another's callback.
    let callback = s.follow(&browser, s.authorize_url(""), true).await.unwrap();
    let elsewhere = s
        .deliver(&callback)
        .replace("/v1/oauth/oidc/", "/v1/oauth/other/");
    let (status, _) = problem(browser.get(&elsewhere).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn id_tokens_with_wrong_claims_are_refused(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    for (n, tampered) in [
        json!({"nonce": "not-the-nonce"}),
        json!({"aud": "another-client"}),
        json!({"iss": "https://evil.example"}),
        json!({"exp": past, "iat": past - 60}),
    ]
    .into_iter()
    .enumerate()
    {
        s.idp.tamper(json!({ "id_token": tampered })).await;
        s.idp
            .login_as(identity(&format!("tampered-{n}"), &unique_email(), true))
            .await;
        let response = s.sign_in().await.unwrap_err();
        let (status, body) = problem(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{tampered}");
        assert_eq!(body["type"], "urn:portcullis:problem:provider-rejected");
    }
    assert_eq!(s.app.db.count_rows("users").await, 0, "no user was created");
    assert_eq!(s.app.db.count_rows("sessions").await, 0);
    // The same provider without tampering works.
    s.idp.tamper(json!({})).await;
    s.idp
        .login_as(identity("honest", &unique_email(), true))
        .await;
    s.signed_in().await;
}

async fn an_unreachable_provider_fails_within_the_timeout(backend: Backend) {
    let Some(mut s) = setup(backend).await else {
        return;
    };
    s.idp.tamper(json!({ "delay_ms": 10_000 })).await;
    s.idp
        .login_as(identity("slow", &unique_email(), true))
        .await;
    // While the exchange waits on the provider, nobody else waits.
    let someone = s.app.register(&unique_email(), PASSWORD).await;
    let (refused, took) = nothing_else_waits(&s.app, &someone.access, s.sign_in()).await;
    let (status, body) = problem(refused.unwrap_err()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.get("detail").is_none());
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A fresh instance cannot even discover a provider that is down.
    let issuer = s.idp.issuer.clone();
    s.idp.stop();
    let app = spawn_app_with(backend, |settings| {
        settings.oauth.redirect_allowlist = vec![APP.into()];
        settings.oauth.http_timeout_secs = 2;
        settings
            .oauth
            .providers
            .insert("oidc".into(), provider_settings(&issuer));
    })
    .await;
    let url = app.url(&format!(
        "/v1/oauth/oidc/authorize?redirect_to={}{}",
        urlencode(APP),
        pkce()
    ));
    let (status, _) = problem(app.client.get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

async fn open_redirects_are_refused(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let browser = browser();
    for target in [
        "https://evil.example/callback",
        "//evil.example/callback",
        "/\\evil.example",
        "http://app.test.evil.example/callback",
        "http://app.test/callback/../../elsewhere",
        "http://app.test/callback?next=https://evil.example",
        "https://app.example.com/done#fragment",
        "",
    ] {
        let url = s.app.url(&format!(
            "/v1/oauth/oidc/authorize?redirect_to={}",
            urlencode(target)
        ));
        let (status, body) = problem(browser.get(url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{target}");
        assert_eq!(body["errors"][0]["field"], "redirect_to");
    }
    let missing = s.app.url("/v1/oauth/oidc/authorize");
    assert_eq!(
        problem(browser.get(missing).send().await.unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn the_clients_own_pkce_is_enforced(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.idp
        .login_as(identity("native-app", &unique_email(), true))
        .await;
    let verifier = "a-native-apps-own-code-verifier-of-enough-length-0123456789";
    let challenge = challenge_of(verifier);
    let with_pkce = format!("&code_challenge={challenge}&code_challenge_method=S256");

    let landing = s
        .follow(&browser(), s.authorize_url(&with_pkce), false)
        .await
        .unwrap();
    let code = query(&landing, "code").unwrap();
    let (status, _) = problem(s.exchange(&code, None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the verifier is required");
    let (status, _) = problem(s.exchange(&code, Some(verifier)).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "and the code was spent by the failed try"
    );

    let landing = s
        .follow(&browser(), s.authorize_url(&with_pkce), false)
        .await
        .unwrap();
    let code = query(&landing, "code").unwrap();
    let (status, _) = problem(s.exchange(&code, Some("the wrong verifier")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let landing = s
        .follow(&browser(), s.authorize_url(&with_pkce), false)
        .await
        .unwrap();
    let code = query(&landing, "code").unwrap();
    assert_eq!(
        s.exchange(&code, Some(verifier)).await.status(),
        StatusCode::CREATED
    );

    // OAuth 2.1: no sign-in without the frontend's own PKCE.
    let without = s.app.url(&format!(
        "/v1/oauth/oidc/authorize?redirect_to={}",
        urlencode(APP)
    ));
    let (status, body) = problem(browser().get(without).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "code_challenge");
    for bad in [
        "&code_challenge=short",
        "&code_challenge_method=plain&code_challenge="
            .to_string()
            .as_str(),
    ] {
        let response = browser().get(s.authorize_url(bad)).send().await.unwrap();
        assert_eq!(problem(response).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn provider_tokens_are_encrypted_and_never_returned(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    s.idp
        .login_as(identity("tokens", &unique_email(), true))
        .await;
    let tokens = s.signed_in().await;
    let issued = s.idp.last_token_response().await;
    let access = issued["access_token"].as_str().unwrap().to_string();
    let id_token = issued["id_token"].as_str().unwrap().to_string();
    let dump = s.app.db.dump().await;
    assert!(dump.contains("tokens"), "the dump sees the account");
    assert!(
        !dump.contains(&access),
        "provider access token stored in clear"
    );
    assert!(!dump.contains(&id_token[..40]), "ID token stored in clear");
    for path in ["/v1/accounts", "/v1/users/me", "/v1/sessions/current"] {
        let text = s
            .app
            .get(path, Some(&tokens.access))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(&access) && !text.contains(&id_token[..40]),
            "{path}: {text}"
        );
    }
}

async fn a_declined_sign_in_returns_the_providers_error(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let browser = browser();
    s.idp
        .login_as(identity("declines", &unique_email(), true))
        .await;
    let callback = s.follow(&browser, s.authorize_url(""), true).await.unwrap();
    let state = query(&callback, "state").unwrap();
    let declined = s.app.url(&format!(
        "/v1/oauth/oidc/callback?error=access_denied&error_description=no%20thanks&state={state}"
    ));
    let response = browser.get(declined).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let landing = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(landing.as_str().starts_with(APP));
    assert_eq!(query(&landing, "error").as_deref(), Some("access_denied"));
    assert!(query(&landing, "code").is_none());
    assert_eq!(s.app.db.count_rows("users").await, 0);
}
