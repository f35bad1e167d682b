//! The compiled binary, as an operator runs it: its commands, its defaults,
//! its refusals, and what it writes to its logs.

use crate::backend_tests;
use crate::helpers::*;
use crate::otlp::OtlpReceiver;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

backend_tests!(
    a_rolling_restart_loses_nothing_it_accepted,
    migrate_command_applies_migrations,
    no_secret_reaches_the_logs,
    outgoing_calls_carry_the_callers_trace,
    a_held_back_mail_is_logged_without_the_address,
);

pub(crate) fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("PORTCULLIS_") || k == "RUST_LOG")
    {
        command.env_remove(key);
    }
    command
}

pub(crate) fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server process, killed on drop; its output goes to a file.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
    address: String,
    client: reqwest::Client,
}

impl Server {
    pub(crate) async fn start(dir: &Path, envs: &[(&str, String)]) -> Server {
        Self::start_on(dir, envs, free_port()).await
    }

    /// On a given port (a restart that keeps the development public URL,
    /// which follows `PORTCULLIS_LISTEN`, and so the tokens' issuer).
    pub(crate) async fn start_on(dir: &Path, envs: &[(&str, String)], port: u16) -> Server {
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = binary()
            .current_dir(dir)
            .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let server = Server {
            child,
            log,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        for _ in 0..100 {
            let ready = server.client.get(server.url("/health/ready")).send();
            if let Ok(response) = ready.await {
                if response.status() == StatusCode::OK {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not become ready:\n{}", server.output());
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        post_json_to(&self.client, self.url(path), body).await
    }

    /// `GET path`, with a bearer token.
    pub(crate) async fn get(&self, path: &str, access: &str) -> reqwest::Response {
        get_from(&self.client, self.url(path), Some(access)).await
    }

    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM, as an orchestrator stopping the instance does.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end by itself, at most `within`.
    pub(crate) async fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Server {
    /// A sign-up of a new address: a write to the database.
    async fn sign_up(&self) -> reqwest::Response {
        let body = json!({"email": unique_email(), "password": PASSWORD});
        let request = self.client.post(self.url("/v1/users")).json(&body);
        request.send().await.unwrap()
    }

    /// A new user, signed up and verified with the code the development
    /// mailer logs: their first tokens.
    async fn verified_user(&self) -> Tokens {
        let email = unique_email();
        let response = self
            .post_json("/v1/users", &json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);

        let mut code = None;
        for _ in 0..50 {
            let output = self.output();
            if let Some(line) = output
                .lines()
                .find(|l| l.contains("DEVELOPMENT ONLY") && l.contains(&email))
            {
                let after = line.split("code is: ").nth(1).unwrap();
                code = Some(after[..8].to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let code = code.expect("the verification mail was logged");
        let body = json!({"action": "verify_email", "email": email, "code": code});
        let response = self
            .post_json("/v1/email-verification-codes/confirm", &body)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Tokens::from_body(&response.json().await.unwrap())
    }

    async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        let body = json!({"refresh_token": refresh_token});
        self.post_json("/v1/sessions/refresh", &body).await
    }

    /// Whether writes work again within about two seconds.
    async fn writes_again(&self) -> bool {
        for _ in 0..20 {
            if self.sign_up().await.status() == StatusCode::ACCEPTED {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Stops the process and removes the directory it ran in.
    fn remove_with_dir(self) {
        let dir = self.log.parent().map(Path::to_path_buf);
        drop(self);
        if let Some(dir) = dir {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn openapi_command_prints_the_committed_spec() {
    let output = binary().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"))
            .unwrap();
    assert!(
        printed == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn production_mode_refuses_unsafe_defaults() {
    let dir = temp_dir();
    let run = |envs: &[(&str, &str)]| {
        let output = binary()
            .current_dir(&dir)
            .env("PORTCULLIS_ENV", "production")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run(&[]).contains("PORTCULLIS_SECRET is not set"));
    assert!(run(&[("PORTCULLIS_SECRET", "short")]).contains("at least 32 characters"));
    let secret = ("PORTCULLIS_SECRET", SECRET);
    assert!(run(&[secret]).contains("PORTCULLIS_SMTP_URL"));
    let smtp = ("PORTCULLIS_SMTP_URL", "smtp://127.0.0.1:2525");
    assert!(run(&[secret, smtp]).contains("https://"));
    let typo = run(&[("PORTCULLIS_DATABSE_URL", "sqlite://x.db")]);
    assert!(typo.contains("unknown field"), "{typo}");
    let scheme = binary()
        .current_dir(&dir)
        .env("PORTCULLIS_DATABASE_URL", "mysql://localhost/db")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&scheme.stderr).contains("unknown scheme"));
    assert!(!dir.join("portcullis.db").exists(), "nothing was created");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The README's first command: no configuration at all, SQLite in the
/// working directory, mail in the log. Then the walk-through.
#[tokio::test]
async fn starts_and_works_with_no_configuration() {
    let dir = temp_dir();
    let server = Server::start(&dir, &[]).await;
    assert!(dir.join("portcullis.db").exists());
    assert!(dir.join("portcullis.secret").exists());
    let tokens = server.verified_user().await;
    let refreshed = server
        .post_json(
            "/v1/sessions/refresh",
            &json!({"refresh_token": tokens.refresh}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);

    // A restart keeps the keys (and so the tokens) valid.
    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    drop(server);
    let server = Server::start_on(&dir, &[], port).await;
    let tokens = Tokens::from_body(&refreshed.json().await.unwrap());
    let me = server.get("/v1/users/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn migrate_command_applies_migrations(backend: Backend) {
    let db = TestDb::create(backend).await;
    let dir = temp_dir();
    let output = binary()
        .current_dir(&dir)
        .arg("migrate")
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again = binary()
        .current_dir(&dir)
        .arg("migrate")
        .env("PORTCULLIS_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(again.status.success(), "migrations are idempotent");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The binary on a fresh database of `backend`, mailing to a sink, with
/// production settings but for `extra`.
async fn with_database_and_mail(
    backend: Backend,
    extra: &[(&str, String)],
) -> (TestDb, MailSink, Server) {
    let db = TestDb::create(backend).await;
    let mail = MailSink::start().await;
    let mut envs = vec![
        ("PORTCULLIS_DATABASE_URL", db.url.clone()),
        ("PORTCULLIS_SMTP_URL", mail.url()),
        ("PORTCULLIS_SECRET", SECRET.to_string()),
    ];
    envs.extend_from_slice(extra);
    let server = Server::start(&temp_dir(), &envs).await;
    (db, mail, server)
}

/// Sends a request and checks its status: the log search below only means
/// something if every flow really ran.
async fn check(
    request: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    status: u16,
) -> reqwest::Response {
    let response = request.await.unwrap();
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    response
}

/// Runs every flow against the real binary with debug logging and OTLP trace
/// export, then looks for each secret that crossed the wire in everything the
/// process wrote and in every span attribute and span event it exported.
async fn no_secret_reaches_the_logs(backend: Backend) {
    let otlp = OtlpReceiver::start();
    let (_db, mail, server) = with_database_and_mail(
        backend,
        &[
            ("PORTCULLIS_MAIL_COOLDOWN_SECS", "0".to_string()),
            ("PORTCULLIS_LOG_LEVEL", "debug".to_string()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(server.url(path)).json(&body).send();
    let email = unique_email();
    let password = "sentinel-password-Zq8#wX";

    check(
        post("/v1/users", json!({"email": email, "password": password})),
        202,
    )
    .await;
    let first = mail.wait_for(&email).await;
    check(
        post(
            "/v1/email-verification-codes",
            json!({"email": email, "action": "verify_email"}),
        ),
        202,
    )
    .await;
    let second = mail.wait_for_nth(&email, 2).await;
    // Wrong guesses and wrongly typed secrets are refused without being echoed
    // to the log. (The second mail re-sent the first code.)
    assert_eq!(first.code(), second.code());
    let wrong_code = if first.code() == "97531864" {
        "97531865"
    } else {
        "97531864"
    };
    let wrong_token = "sentinel-wrong-link-token-0123456789abcdefgh";
    check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "verify_email", "email": email, "code": wrong_code}),
        ),
        400,
    )
    .await;
    check(post("/v1/email-verification-codes/confirm", json!({"action": "verify_email", "email": email, "code": wrong_code.parse::<u64>().unwrap()})),
        400,
    )
    .await;
    check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "verify_email", "token": wrong_token}),
        ),
        400,
    )
    .await;
    let confirmed: Value = check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "verify_email", "email": email, "code": second.code()}),
        ),
        201,
    )
    .await
    .json()
    .await
    .unwrap();
    let t1 = Tokens::from_body(&confirmed);
    check(
        post(
            "/v1/sessions",
            json!({"email": email, "password": "sentinel-wrong-password"}),
        ),
        401,
    )
    .await;
    let signed_in: Value = check(
        post(
            "/v1/sessions",
            json!({"email": email, "password": password}),
        ),
        201,
    )
    .await
    .json()
    .await
    .unwrap();
    let t2 = Tokens::from_body(&signed_in);
    let refreshed: Value = check(
        post("/v1/sessions/refresh", json!({"refresh_token": t2.refresh})),
        200,
    )
    .await
    .json()
    .await
    .unwrap();
    let t3 = Tokens::from_body(&refreshed);
    check(
        post("/v1/sessions/refresh", json!({"refresh_token": t2.refresh})),
        200,
    )
    .await;
    check(
        post(
            "/v1/sessions",
            json!({"email": email, "password": 123456789012u64}),
        ),
        400,
    )
    .await;
    check(
        client
            .get(server.url(&format!("/v1/users/me?access_token={}", t1.access)))
            .send(),
        401,
    )
    .await;
    check(
        client
            .get(server.url("/v1/users/me"))
            .bearer_auth(&t1.access)
            .send(),
        200,
    )
    .await;
    check(
        client
            .get(server.url("/v1/sessions"))
            .header("authorization", "Bearer sentinel-garbage-token")
            .send(),
        401,
    )
    .await;
    // Every other code action: passwordless sign-in, reset, email change.
    let sign_in_mail = {
        check(
            post(
                "/v1/email-verification-codes",
                json!({"email": email, "action": "sign_in"}),
            ),
            202,
        )
        .await;
        mail.wait_for_nth(&email, 3).await
    };
    check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "sign_in", "email": email, "code": sign_in_mail.code()}),
        ),
        201,
    )
    .await;
    let reset_mail = {
        check(
            post(
                "/v1/email-verification-codes",
                json!({"email": email, "action": "reset_password"}),
            ),
            202,
        )
        .await;
        mail.wait_for_nth(&email, 4).await
    };
    let new_password = "sentinel-new-password-Kp3!";
    check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "reset_password", "token": reset_mail.link_token(),
               "new_password": new_password}),
        ),
        204,
    )
    .await;
    let signed_in: Value = check(
        post(
            "/v1/sessions",
            json!({"email": email, "password": new_password}),
        ),
        201,
    )
    .await
    .json()
    .await
    .unwrap();
    let t4 = Tokens::from_body(&signed_in);
    let new_email = unique_email();
    check(
        client
            .post(server.url("/v1/users/me/email"))
            .bearer_auth(&t4.access)
            .json(&json!({"new_email": new_email, "password": new_password}))
            .send(),
        202,
    )
    .await;
    let change_mail = mail.wait_for(&new_email).await;
    check(
        post(
            "/v1/email-verification-codes/confirm",
            json!({"action": "change_email", "email": new_email, "code": change_mail.code()}),
        ),
        200,
    )
    .await;
    check(
        client
            .put(server.url("/v1/users/me/password"))
            .bearer_auth(&t4.access)
            .json(
                &json!({"current_password": new_password, "new_password": "sentinel-third-pw-Yx9"}),
            )
            .send(),
        204,
    )
    .await;
    // Second factors: the secret, its codes and the recovery codes.
    let bearer = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, server.url(path))
            .bearer_auth(&t4.access)
            .json(&body)
            .send()
    };
    let enrolment: Value = check(
        bearer(
            reqwest::Method::POST,
            "/v1/users/me/factors/totp",
            json!({}),
        ),
        201,
    )
    .await
    .json()
    .await
    .unwrap();
    let totp = crate::mfa::authenticator(enrolment["otpauth_uri"].as_str().unwrap());
    let totp_code = totp.generate_current().unwrap();
    let wrong_totp = if totp_code == "913579" {
        "913578"
    } else {
        "913579"
    };
    let verify = format!(
        "/v1/users/me/factors/{}/verify",
        enrolment["factor_id"].as_str().unwrap()
    );
    let activated: Value = check(
        bearer(reqwest::Method::POST, &verify, json!({"code": totp_code})),
        200,
    )
    .await
    .json()
    .await
    .unwrap();
    let recovery_codes: Vec<String> = activated["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let pending: Value = check(
        post(
            "/v1/sessions",
            json!({"email": new_email, "password": "sentinel-third-pw-Yx9"}),
        ),
        202,
    )
    .await
    .json()
    .await
    .unwrap();
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_string();
    check(
        post(
            "/v1/sessions/mfa",
            json!({"mfa_token": mfa_token, "code": wrong_totp}),
        ),
        401,
    )
    .await;
    let t5 = Tokens::from_body(
        &check(
            post(
                "/v1/sessions/mfa",
                json!({"mfa_token": mfa_token, "recovery_code": recovery_codes[0]}),
            ),
            201,
        )
        .await
        .json()
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = server.output();
    assert!(
        logs.contains("request finished"),
        "the server logged requests"
    );
    let secrets = [
        password.to_string(),
        "sentinel-wrong-password".into(),
        "123456789012".into(),
        first.code(),
        second.code(),
        first.link_token(),
        second.link_token(),
        wrong_code.to_string(),
        wrong_token.to_string(),
        t1.access.clone(),
        t1.refresh.clone(),
        t2.refresh.clone(),
        t3.refresh.clone(),
        t3.access.clone(),
        "sentinel-garbage-token".into(),
        sign_in_mail.code(),
        sign_in_mail.link_token(),
        reset_mail.code(),
        reset_mail.link_token(),
        new_password.into(),
        change_mail.code(),
        change_mail.link_token(),
        "sentinel-third-pw-Yx9".into(),
        t4.access.clone(),
        t4.refresh.clone(),
        SECRET.into(),
        enrolment["secret"].as_str().unwrap().to_string(),
        enrolment["otpauth_uri"].as_str().unwrap().to_string(),
        mfa_token,
        t5.access.clone(),
        t5.refresh.clone(),
    ];
    let secrets = secrets.into_iter().chain(recovery_codes.iter().cloned());
    let secrets = secrets.chain(recovery_codes.iter().map(|c| c.replace('-', "")));
    // Six digits occur by chance in timestamps and latencies: a leaked TOTP
    // code would show as a value, quoted or after `=`.
    let six_digit_leaks = [&totp_code, wrong_totp].map(|c| [format!("\"{c}\""), format!("={c}")]);
    let secrets = secrets.chain(six_digit_leaks.into_iter().flatten());
    // One more sign-in, continuing a caller's trace: its spans form the
    // tree request → password hash and request → database transaction.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traced = client
        .post(server.url("/v1/sessions"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"email": new_email, "password": "sentinel-third-pw-Yx9"}))
        .send();
    check(traced, 202).await;
    let trace_id = data_encoding::HEXLOWER.decode(trace_id.as_bytes()).unwrap();
    let request = otlp
        .wait_for("the traced sign-in", |s| {
            s.name == "request" && s.trace_id == trace_id
        })
        .await;
    assert_eq!(request.attribute("route"), Some("/v1/sessions"));
    for child in ["password_hash", "db.transaction"] {
        otlp.wait_for(child, |s| {
            s.name == child && s.parent_span_id == request.span_id
        })
        .await;
    }
    let spans = otlp.spans();
    let secrets: Vec<String> = secrets.collect();
    for secret in &secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the log: {secret} in {line}");
        }
        for span in &spans {
            if let Some(attribute) = span.attributes.iter().find(|a| a.contains(secret.as_str())) {
                panic!(
                    "a secret reached a span: {secret} in {} {attribute}",
                    span.name
                );
            }
        }
    }
    // One JSON object per line.
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    server.remove_with_dir();
}

/// A call the service makes on a caller's behalf (here the breach check of
/// a sign-up) carries the caller's trace on, with the outgoing call's own
/// span as the parent the callee sees.
async fn outgoing_calls_carry_the_callers_trace(backend: Backend) {
    let otlp = OtlpReceiver::start();
    let pwned = crate::helpers::pwned::FakePwned::start(&[]);
    let (_db, _mail, server) = with_database_and_mail(
        backend,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
            ("PORTCULLIS_PWNED_PASSWORDS__ENABLED", "true".to_string()),
            ("PORTCULLIS_PWNED_PASSWORDS__API_URL", pwned.base.clone()),
        ],
    )
    .await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let sign_up = reqwest::Client::new()
        .post(server.url("/v1/users"))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send();
    check(sign_up, 202).await;
    let seen = pwned.traceparents.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let parts: Vec<&str> = seen[0].split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: {seen:?}");
    assert_eq!(parts[1], trace_id, "the caller's trace goes on");
    assert_ne!(parts[2], "b7ad6b7169203331", "under a span of our own");
    let span_id = data_encoding::HEXLOWER.decode(parts[2].as_bytes()).unwrap();
    let outgoing = otlp
        .wait_for("the outgoing call's span", |s| s.span_id == span_id)
        .await;
    assert_eq!(outgoing.name, "http.client");
    let trace_id = data_encoding::HEXLOWER.decode(trace_id.as_bytes()).unwrap();
    assert_eq!(outgoing.trace_id, trace_id);
    server.remove_with_dir();
}

/// A code request inside the cool-down is answered like any other and held
/// back; the log says so, naming the address only by its keyed pseudonym.
async fn a_held_back_mail_is_logged_without_the_address(backend: Backend) {
    let (_db, _mail, server) = with_database_and_mail(backend, &[]).await;
    let client = reqwest::Client::new();
    let email = unique_email();
    let body = json!({"email": email, "action": "sign_in"});
    for _ in 0..2 {
        let request = client.post(server.url("/v1/email-verification-codes"));
        check(request.json(&body).send(), 202).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.output();
    let held = logs
        .lines()
        .filter(|l| l.contains("mail held back"))
        .count();
    assert_eq!(held, 1, "{logs}");
    assert!(!logs.contains(email.as_str()), "the address is in the log");
    server.remove_with_dir();
}

/// Two instances on one database; one is stopped (SIGTERM) while clients sign
/// up on both, switching to the other when a connection fails. No answer is
/// a 5xx, every sign-up a client saw accepted gets its mail, and the stopped
/// process finishes what it had and exits cleanly (its workers end their
/// round: nothing stays leased by a process that is gone).
async fn a_rolling_restart_loses_nothing_it_accepted(backend: Backend) {
    // One client address signs up 160 times: no per-client limit here.
    let unlimited = ("PORTCULLIS_RATE_LIMITS__SIGN_UP__LIMIT", "0".to_string());
    let (db, mail, mut first) =
        with_database_and_mail(backend, std::slice::from_ref(&unlimited)).await;
    let envs = vec![
        ("PORTCULLIS_DATABASE_URL", db.url.clone()),
        ("PORTCULLIS_SMTP_URL", mail.url()),
        ("PORTCULLIS_SECRET", SECRET.to_string()),
        unlimited,
    ];
    let second = Server::start(&temp_dir(), &envs).await;
    let urls = [first.url("/v1/users"), second.url("/v1/users")];
    // A new connection per request: nothing waits on a kept-alive socket.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (client, urls) = (client.clone(), urls.clone());
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                let mut unreachable = 0;
                for i in 0..40 {
                    let email = format!(
                        "rolling-{n}-{i}-{}@example.com",
                        uuid::Uuid::new_v4().simple()
                    );
                    let body = json!({"email": email, "password": PASSWORD});
                    // Alternate; on a failed connection, the other instance.
                    let mut target = (n + i) % 2;
                    loop {
                        match client.post(&urls[target]).json(&body).send().await {
                            Ok(response) => {
                                let status = response.status();
                                assert!(
                                    !status.is_server_error(),
                                    "{status} from instance {target}"
                                );
                                assert_eq!(status, StatusCode::ACCEPTED);
                                accepted.push(email);
                                break;
                            }
                            Err(_) => {
                                unreachable += 1;
                                target = 1 - target;
                            }
                        }
                    }
                }
                (accepted, unreachable)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.terminate();
    let status = first
        .exited(Duration::from_secs(20))
        .await
        .expect("the stopped instance exits");
    assert!(status.success(), "{status:?}\n{}", first.output());
    assert!(first.output().contains("\"stopped\""), "{}", first.output());
    let mut accepted = Vec::new();
    let mut switched = 0;
    for client in clients {
        let (mut mine, unreachable) = client.await.unwrap();
        accepted.append(&mut mine);
        switched += unreachable;
    }
    assert_eq!(accepted.len(), 160);
    assert!(
        switched > 0,
        "the stop came after the load: nothing was tested"
    );
    // Every accepted sign-up is mailed, by whichever instance is left.
    for email in &accepted {
        mail.wait_for(email).await;
    }
    second.remove_with_dir();
}

/// SQLite on a disk that fills up: a write answers 503 problem+json with
/// `Retry-After` (reads go on), and once there is room again the service
/// writes again, without a restart. Needs a small tmpfs, so root: skipped,
/// with a message, where mounting is not allowed. (A read-only file cannot
/// be staged here: root ignores file modes, and a busy tmpfs refuses to be
/// remounted read-only.)
#[tokio::test]
async fn a_full_disk_answers_503_and_recovers() {
    let dir = temp_dir();
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        skip_unless_ci("a_full_disk_answers_503_and_recovers: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let url = format!("sqlite://{}/portcullis.db", disk.display());
    // Sign-ups until the disk refuses, as many as that takes.
    let no_limit = ("PORTCULLIS_RATE_LIMITS__SIGN_UP__LIMIT", "0".into());
    let server = Server::start(&dir, &[("PORTCULLIS_DATABASE_URL", url), no_limit]).await;
    assert_eq!(server.sign_up().await.status(), StatusCode::ACCEPTED);

    // Fill the disk to the last byte.
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
    }
    // The write-ahead log is rewritten from its start once checkpointed,
    // so writes go on in the room it already has: the first to fail is
    // one that needs a new page of disk.
    let mut refused = None;
    for _ in 1..5000 {
        let response = server.sign_up().await;
        if response.status() != StatusCode::ACCEPTED {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a write failed on the full disk");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let (_, body) = problem(refused).await;
    assert!(!body.to_string().contains("disk"), "no internals: {body}");
    // Reads go on: the readiness check reads the database.
    let ready = server.client.get(server.url("/health/ready")).send();
    assert_eq!(ready.await.unwrap().status(), StatusCode::OK);

    // Room again: writes work again, same process.
    std::fs::remove_file(&filler).unwrap();
    assert!(server.writes_again().await, "{}", server.output());

    drop(server);
}

/// Where a test cannot set up what it needs, it skips, visibly; in CI
/// (`CI=true`), where the machine is known to allow it, it fails instead.
fn skip_unless_ci(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("in CI this test must run: {why}");
    }
    eprintln!("SKIPPED {why}");
}

/// Sets or clears the immutable attribute of `files` (root, on a file system
/// that has it, e.g. ext4): nobody can write them, as with a database file
/// an operator or a broken mount made read-only.
fn set_immutable(files: &[&Path], on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .args(files)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The SQLite file turning read-only under the running service: writes are
/// refused with 503 and `Retry-After`, reads go on, and once the file is
/// writable again writes work in the same process.
#[tokio::test]
async fn a_read_only_database_answers_503_and_recovers() {
    let dir = temp_dir();
    let db = dir.join("portcullis.db");
    let url = format!("sqlite://{}", db.display());
    // The refresh's rate limit writes first and would answer the 503
    // before the rotation is tried.
    let no_refresh_limit = ("PORTCULLIS_RATE_LIMITS__REFRESH__LIMIT", "0".into());
    let envs = [("PORTCULLIS_DATABASE_URL", url), no_refresh_limit];
    let server = Server::start(&dir, &envs).await;
    assert_eq!(server.sign_up().await.status(), StatusCode::ACCEPTED);
    let tokens = server.verified_user().await;
    // The refresh rotation's own connection is open before the outage.
    let first = server.refresh(&tokens.refresh).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens = Tokens::from_body(&first.json().await.unwrap());
    // The database and its write-ahead log; not the shared-memory index,
    // which SQLite maps into memory (a read-only one faults the process).
    let wal = dir.join("portcullis.db-wal");
    let files = [db.as_path(), wal.as_path()];
    if !set_immutable(&files, true) {
        skip_unless_ci(
            "a_read_only_database_answers_503_and_recovers: chattr +i needs root and ext4",
        );
        return;
    }
    struct Writable<'a>(&'a [&'a Path]);
    impl Drop for Writable<'_> {
        fn drop(&mut self) {
            set_immutable(self.0, false);
        }
    }
    let writable = Writable(&files);

    let refused = server.sign_up().await;
    assert_eq!(
        refused.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        server.output()
    );
    assert!(refused.headers().contains_key("retry-after"));
    let (_, body) = problem(refused).await;
    assert!(
        !body.to_string().contains("readonly"),
        "no internals: {body}"
    );
    let ready = server.client.get(server.url("/health/ready")).send();
    assert_eq!(ready.await.unwrap().status(), StatusCode::OK, "reads go on");
    // Enough at once that the pool opens new connections while the file
    // cannot be written: SQLite opens those read-only, and they must not
    // outlive the outage.
    let burst = futures_util::future::join_all((0..12).map(|_| server.sign_up())).await;
    assert!(burst
        .iter()
        .all(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE));

    // A refresh cannot rotate either: a 503, and nothing half written.
    let refused = server.refresh(&tokens.refresh).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);

    drop(writable);
    assert!(server.writes_again().await, "{}", server.output());
    let after = server.refresh(&tokens.refresh).await;
    assert_eq!(after.status(), StatusCode::OK, "the token is still current");
}
