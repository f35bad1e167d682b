//! `spawn_app`: the real application on a random port, with its own
//! database and a real SMTP listener, plus typed request helpers.

pub mod browser;
mod db;
pub mod github;
mod hanging;
pub mod oidc;
pub mod pwned;
mod relay;
mod smtp;
mod stand_in;

pub use db::{postgres_admin_url, require_postgres, Backend, TestDb};
pub use hanging::{hanging_server, nothing_else_waits};
pub use relay::Relay;
pub use smtp::{MailSink, ReceivedMail};
pub use stand_in::{free_port, serve_stand_in};

use portcullis::config::{LogFormat, SecretString, Settings};
use portcullis::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::LazyLock;

pub const PASSWORD: &str = "correct horse battery staple";
pub const SECRET: &str = "test-secret-that-is-long-enough-0123456789";

/// Generates one `#[tokio::test]` per backend for each scenario function
/// `async fn name(backend: Backend)` in the calling module.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(postgres_tests_off, ignore = "PORTCULLIS_TEST_POSTGRES=off")]
                async fn $name() {
                    $crate::helpers::require_postgres().await;
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Kept for the whole run: dropping it would stop the log writer.
static TRACING: LazyLock<Option<portcullis::telemetry::Telemetry>> = LazyLock::new(|| {
    std::env::var("TEST_LOG")
        .is_ok()
        .then(|| portcullis::telemetry::init(LogFormat::Pretty, "info").unwrap())
});

pub struct TestApp {
    pub address: String,
    /// The metrics listener, when the test set `metrics_listen`.
    pub metrics_address: Option<String>,
    /// The application's clock: real time plus what the test advanced.
    pub clock: std::sync::Arc<portcullis::clock::ManualClock>,
    pub client: reqwest::Client,
    pub mail: MailSink,
    pub settings: Settings,
    pub db: TestDb,
}

/// Settings for a test: short-lived nothing by default, no mail cool-down.
pub fn test_settings(db_url: &str, mail: &MailSink) -> Settings {
    Settings {
        database_url: db_url.into(),
        listen: "127.0.0.1:0".into(),
        public_url: "http://127.0.0.1".into(),
        smtp_url: Some(SecretString::new(mail.url())),
        mail_from: "Portcullis <no-reply@portcullis.test>".into(),
        secret: Some(SecretString::new(SECRET)),
        mail_cooldown_secs: 0,
        mail_poll_interval_ms: 100,
        mail_retry_base_secs: 1,
        mail_retry_max_secs: 1,
        workers: 2,
        database_max_connections: 5,
        // Limits are switched on by the tests that are about them.
        rate_limits: portcullis::config::RateLimits::off(),
        hash_client_share_percent: 100,
        ..Settings::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the application with test settings adjusted by `configure`.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let db = TestDb::create(backend).await;
    let mail = MailSink::start().await;
    let mut settings = test_settings(&db.url, &mail);
    configure(&mut settings);
    let clock = portcullis::clock::ManualClock::new();
    let (address, metrics_address) = start_instance(&settings, &clock).await;
    TestApp {
        address,
        metrics_address,
        clock,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("portcullis-tests/1.0")
            .build()
            .unwrap(),
        mail,
        settings,
        db,
    }
}

/// Builds an instance of the application on `clock` and runs it in the
/// background; returns its base URL, and its metrics listener's if any.
async fn start_instance(
    settings: &Settings,
    clock: &std::sync::Arc<portcullis::clock::ManualClock>,
) -> (String, Option<String>) {
    let app = Application::build_with_clock(settings.clone(), clock.clone())
        .await
        .expect("the application failed to start");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    (address, metrics)
}

impl TestApp {
    /// Another instance on the same database, as in a scaled-out deployment.
    pub async fn second_instance(&self) -> TestApp2 {
        self.second_instance_with(|_| {}).await
    }

    /// Another instance on the same database, its settings adjusted (a
    /// rolling change of configuration).
    pub async fn second_instance_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp2 {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let (address, metrics_address) = start_instance(&settings, &self.clock).await;
        TestApp2 {
            address,
            metrics_address,
            client: self.client.clone(),
        }
    }
}

/// An extra instance that shares the first one's database and mail sink.
pub struct TestApp2 {
    pub address: String,
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
}

impl TestApp2 {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GETs `path` and reads its 200 JSON answer.
    pub async fn get_json(&self, path: &str, access: Option<&str>) -> Value {
        get_json(&self.client, self.url(path), access).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        post_json_to(&self.client, self.url(path), body).await
    }
}

/// The seconds a 429 or 503 asks the client to wait.
pub fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `POST url` with a JSON body.
pub async fn post_json_to(client: &reqwest::Client, url: String, body: &Value) -> Response {
    client.post(url).json(body).send().await.unwrap()
}

/// `GET url`, with a bearer token when given.
pub async fn get_from(client: &reqwest::Client, url: String, access: Option<&str>) -> Response {
    let mut request = client.get(url);
    if let Some(token) = access {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// GETs `url` and reads its JSON answer, which must be a 200.
async fn get_json(client: &reqwest::Client, url: String, access: Option<&str>) -> Value {
    let response = get_from(client, url.clone(), access).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

/// A signed-in user, as the tests need it.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    pub user_id: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
            session_id: body["session"]["id"].as_str().unwrap().to_string(),
            user_id: body["user"]["id"].as_str().unwrap().to_string(),
        }
    }
}

impl TestApp {
    /// Moves the application's clock (every instance of this test) forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }

    /// "Now" as the application sees it.
    pub fn now(&self) -> portcullis::store::Timestamp {
        use portcullis::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        post_json_to(&self.client, self.url(path), body).await
    }

    pub async fn get(&self, path: &str, access: Option<&str>) -> Response {
        get_from(&self.client, self.url(path), access).await
    }

    /// GETs `path` and reads its 200 JSON answer.
    pub async fn get_json(&self, path: &str, access: Option<&str>) -> Value {
        get_json(&self.client, self.url(path), access).await
    }

    /// The signed-in user's profile (`GET /v1/users/me`, a 200).
    pub async fn me(&self, access: &str) -> Value {
        self.get_json("/v1/users/me", Some(access)).await
    }

    /// A JSON request as the client at `ip` sends it through a proxy (the
    /// tests that use it trust loopback as one): `X-Forwarded-For: ip`.
    pub async fn send_from(
        &self,
        ip: &str,
        method: reqwest::Method,
        path: &str,
        access: Option<&str>,
        body: &Value,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("x-forwarded-for", ip)
            .json(body);
        if let Some(token) = access {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// `POST /v1/sessions` with a password, from the client at `ip`.
    pub async fn sign_in_from(&self, ip: &str, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.send_from(ip, reqwest::Method::POST, "/v1/sessions", None, &body)
            .await
    }

    /// `POST /v1/email-verification-codes` from the client at `ip`.
    pub async fn request_code_from(&self, ip: &str, email: &str, action: &str) -> Response {
        let body = json!({"email": email, "action": action});
        let path = "/v1/email-verification-codes";
        self.send_from(ip, reqwest::Method::POST, path, None, &body)
            .await
    }

    /// `POST /v1/email-verification-codes/confirm` from the client at `ip`.
    pub async fn confirm_from(&self, ip: &str, body: &Value) -> Response {
        let path = "/v1/email-verification-codes/confirm";
        self.send_from(ip, reqwest::Method::POST, path, None, body)
            .await
    }

    /// A CORS preflight from `origin` for `method` on `path`, asking for the
    /// headers a browser client sends.
    pub async fn preflight(&self, origin: &str, method: &reqwest::Method, path: &str) -> Response {
        self.client
            .request(reqwest::Method::OPTIONS, self.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method.as_str())
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap()
    }

    /// A JSON POST with one extra header, `(name, value)`.
    pub async fn post_json_with(&self, path: &str, header: (&str, &str), body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header(header.0, header.1)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Asserts that `tokens`' session is over: neither its refresh token
    /// nor its access token is accepted any more.
    pub async fn assert_session_ended(&self, tokens: &Tokens) {
        let refresh = self.refresh(&tokens.refresh).await;
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED, "refresh");
        let me = self.get("/v1/users/me", Some(&tokens.access)).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "access token");
    }

    pub async fn delete(&self, path: &str, access: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_me(&self, access: &str, body: &Value) -> Response {
        self.client
            .patch(self.url("/v1/users/me"))
            .bearer_auth(access)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/users", &json!({"email": email, "password": password}))
            .await
    }

    pub async fn request_code(&self, email: &str, action: &str) -> Response {
        self.post_json(
            "/v1/email-verification-codes",
            &json!({"email": email, "action": action}),
        )
        .await
    }

    pub async fn confirm_code(&self, email: &str, code: &str) -> Response {
        self.post_json(
            "/v1/email-verification-codes/confirm",
            &json!({"action": "verify_email", "email": email, "code": code}),
        )
        .await
    }

    /// `POST /v1/email-verification-codes/confirm` with any body.
    pub async fn confirm(&self, body: &Value) -> Response {
        self.post_json("/v1/email-verification-codes/confirm", body)
            .await
    }

    /// A JSON request with a bearer token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        access: &str,
        body: Value,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A password-less user: invited by `admin`, signed in with the
    /// invitation's code (which is returned too).
    pub async fn invited(&self, admin: &Tokens, email: &str) -> (Tokens, String) {
        let body = json!({ "email": email });
        let response = self
            .send(
                reqwest::Method::POST,
                "/v1/admin/users",
                &admin.access,
                body,
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let code = self.mail.wait_for(email).await.code();
        let response = self
            .confirm(&json!({"action": "sign_in", "email": email, "code": code}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        (Tokens::from_body(&response.json().await.unwrap()), code)
    }

    /// How many mails `address` has received once nothing is in flight:
    /// background work gets a moment to queue its mail, then the outbox must
    /// drain, so "no mail" means none was queued rather than none arrived yet.
    pub async fn settled_mail_count(&self, address: &str) -> usize {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        while self.db.count_rows("mail_outbox").await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outbox never drained"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.mail.to(address).len()
    }

    /// Requests a code for `action` and returns the mail that carries it.
    pub async fn code_mail(&self, email: &str, action: &str) -> ReceivedMail {
        let before = self.mail.to(email).len();
        assert_eq!(
            self.request_code(email, action).await.status(),
            StatusCode::ACCEPTED
        );
        self.mail.wait_for_nth(email, before + 1).await
    }

    pub async fn confirm_token(&self, token: &str) -> Response {
        self.post_json(
            "/v1/email-verification-codes/confirm",
            &json!({"action": "verify_email", "token": token}),
        )
        .await
    }

    /// Confirms a reset code with a new password.
    pub async fn reset_password(&self, email: &str, code: &str, new_password: &str) -> Response {
        let body = json!({"action": "reset_password", "email": email, "code": code,
                          "new_password": new_password});
        self.confirm(&body).await
    }

    /// Resets `email`'s password the way its owner does: a code by mail,
    /// confirmed with the new password (a 204).
    pub async fn reset_by_mail(&self, email: &str, new_password: &str) {
        let mail = self.code_mail(email, "reset_password").await;
        let response = self.reset_password(email, &mail.code(), new_password).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/v1/sessions",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/v1/sessions/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// Signs up, reads the code from the mail and confirms it.
    pub async fn register(&self, email: &str, password: &str) -> Tokens {
        // Mail goes to the normalised (lower-case) address.
        let mailbox = email.to_lowercase();
        let before = self.mail.to(&mailbox).len();
        assert_eq!(
            self.sign_up(email, password).await.status(),
            StatusCode::ACCEPTED
        );
        let mail = self.mail.wait_for_nth(&mailbox, before + 1).await;
        let response = self.confirm_code(email, &mail.code()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Tokens::from_body(&response.json().await.unwrap())
    }

    /// Makes a registered user SUPER-ADMIN the way `portcullis create-admin`
    /// does, and signs them in again (a role change ends their sessions).
    pub async fn make_super_admin(&self, email: &str) -> Tokens {
        let store = portcullis::store::connect(&self.settings, false)
            .await
            .unwrap();
        let email = portcullis::domain::Email::parse(email).unwrap();
        portcullis::flows::bootstrap::bootstrap_super_admin(
            store.as_ref(),
            &email,
            None,
            self.now(),
        )
        .await
        .unwrap();
        self.signed_in(email.as_str()).await
    }

    /// A new user, made SUPER-ADMIN the way an operator would.
    pub async fn new_super_admin(&self) -> Tokens {
        let email = unique_email();
        self.register(&email, PASSWORD).await;
        self.make_super_admin(&email).await
    }

    /// A new user with `role`, set by `admin`; signed in after the change.
    pub async fn user_with_role(&self, admin: &Tokens, role: &str) -> (String, Tokens) {
        let email = unique_email();
        let tokens = self.register(&email, PASSWORD).await;
        if role != "VIEWER" {
            let response = self
                .client
                .patch(self.url(&format!("/v1/admin/users/{}", tokens.user_id)))
                .bearer_auth(&admin.access)
                .json(&json!({ "role": role }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "making a {role}");
            return (email.clone(), self.signed_in(&email).await);
        }
        (email, tokens)
    }

    pub async fn signed_in(&self, email: &str) -> Tokens {
        self.signed_in_with(email, PASSWORD).await
    }

    pub async fn signed_in_with(&self, email: &str, password: &str) -> Tokens {
        let response = self.sign_in(email, password).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Tokens::from_body(&response.json().await.unwrap())
    }
}

/// The `kid` in an access token's header.
pub fn kid_of(access: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(access.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// The claims of an access token, unverified.
pub fn claims_of(access: &str) -> Value {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(access.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// The `kid`s a JWKS document publishes, in its order.
pub fn kids(jwks: &Value) -> Vec<String> {
    strings(&jwks["keys"], "kid")
        .into_iter()
        .map(String::from)
        .collect()
}

/// The string `key` of each object in the JSON array `items`, in order.
pub fn strings<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap())
        .collect()
}

/// The `n`th of a run of well-formed codes that are all not `code`.
pub fn nth_wrong_code(code: &str, n: u32) -> String {
    let value: u32 = code.parse().unwrap();
    format!("{:08}", (value + 1 + n) % 100_000_000)
}

/// A well-formed code that is not `code`.
pub fn wrong_code(code: &str) -> String {
    nth_wrong_code(code, 0)
}

/// A fresh address for each call.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A CORS answer that grants nothing: no allowed origin, no allowed methods.
pub fn assert_no_cors_grant(response: &Response) {
    let headers = response.headers();
    assert!(headers.get("access-control-allow-origin").is_none());
    assert!(headers.get("access-control-allow-methods").is_none());
}

/// The status and the body of a problem response, checking its media type.
pub async fn problem(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:portcullis:problem:"));
    assert!(body["request_id"].is_string());
    (status, body)
}
