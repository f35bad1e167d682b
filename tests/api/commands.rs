//! The operator's commands against a real database, with a server running
//! on it: `create-admin` and `keys rotate`.

use crate::backend_tests;
use crate::binary::{binary, temp_dir, Server};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

backend_tests!(
    create_admin_creates_or_promotes_and_never_weakly,
    create_admin_lets_a_locked_out_super_admin_sign_in_again,
    keys_rotate_publishes_a_key_the_running_server_adopts,
    bootstrap_address_is_promoted_only_while_there_is_no_super_admin,
);

/// Runs the binary with `args`, feeding `stdin` when given.
fn run(dir: &Path, envs: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = binary()
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The settings a production instance needs: its database, secret and mail.
fn production_env(db: &TestDb, mail: &MailSink) -> Vec<(&'static str, String)> {
    vec![
        ("PORTCULLIS_DATABASE_URL", db.url.clone()),
        ("PORTCULLIS_SECRET", SECRET.to_string()),
        ("PORTCULLIS_SMTP_URL", mail.url()),
    ]
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn sign_in(server: &Server, email: &str) -> reqwest::Response {
    server
        .post_json(
            "/v1/sessions",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await
}

async fn me(server: &Server, access: &str) -> reqwest::Response {
    server.get("/v1/users/me", access).await
}

/// Signs up and confirms the address; returns the first session's tokens.
async fn sign_up(server: &Server, mail: &MailSink, email: &str) -> Tokens {
    let body = json!({"email": email, "password": PASSWORD});
    let response = server.post_json("/v1/users", &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let code = mail.wait_for(email).await.code();
    let body = json!({"action": "verify_email", "email": email, "code": code});
    let response = server
        .post_json("/v1/email-verification-codes/confirm", &body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    Tokens::from_body(&response.json().await.unwrap())
}

async fn role_of(server: &Server, email: &str) -> Value {
    let response = sign_in(server, email).await;
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    let profile: Value = me(server, &tokens.access).await.json().await.unwrap();
    profile["role"].clone()
}

async fn create_admin_creates_or_promotes_and_never_weakly(backend: Backend) {
    let db = TestDb::create(backend).await;
    let mail = MailSink::start().await;
    let dir = temp_dir();
    let envs = production_env(&db, &mail);
    let admin = unique_email();
    let create = [
        "create-admin",
        "--email",
        admin.as_str(),
        "--password-stdin",
    ];

    // Refusals create nothing.
    let weak = failure(&run(&dir, &envs, &create, Some("password\n")));
    assert!(weak.contains("common"), "{weak}");
    let short = failure(&run(&dir, &envs, &create, Some("short\n")));
    assert!(short.contains("at least"), "{short}");
    let invalid = failure(&run(
        &dir,
        &envs,
        &["create-admin", "--email", "nope"],
        None,
    ));
    assert!(invalid.contains("email"), "{invalid}");
    let promote_only = ["create-admin", "--email", admin.as_str()];
    let missing = failure(&run(&dir, &envs, &promote_only, None));
    assert!(missing.contains("no user with this address"), "{missing}");

    let created = stdout(&run(&dir, &envs, &create, Some(&format!("{PASSWORD}\n"))));
    assert!(
        created.contains("was created as a SUPER-ADMIN"),
        "{created}"
    );
    let again = stdout(&run(&dir, &envs, &promote_only, None));
    assert!(again.contains("already is a SUPER-ADMIN"), "{again}");

    let server = Server::start(&dir, &envs).await;
    let response = sign_in(&server, &admin).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    let profile: Value = me(&server, &tokens.access).await.json().await.unwrap();
    assert_eq!(profile["role"], "SUPER-ADMIN");
    assert_eq!(profile["email_verified"], true);

    // An existing user is promoted, and their old tokens stop working.
    let user = unique_email();
    let before = sign_up(&server, &mail, &user).await;
    // A VIEWER at the admin API: 403, and the refusal is logged with who.
    let refused = server.get("/v1/admin/users", &before.access).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = server.output();
    let line = logged
        .lines()
        .find(|l| l.contains("authorization refused"))
        .expect("the refusal is logged");
    assert!(
        line.contains(&before.user_id) && line.contains("VIEWER"),
        "{line}"
    );
    let promoted = stdout(&run(&dir, &envs, &["create-admin", "--email", &user], None));
    assert!(promoted.contains("is now a SUPER-ADMIN"), "{promoted}");
    assert_eq!(
        me(&server, &before.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = sign_in(&server, &user).await;
    let after = Tokens::from_body(&response.json().await.unwrap());
    let profile: Value = me(&server, &after.access).await.json().await.unwrap();
    assert_eq!(profile["role"], "SUPER-ADMIN");

    // Both changes are in the audit log; the no-op is not.
    let audit = server
        .get(
            "/v1/admin/audit-events?type=admin.role_changed",
            &after.access,
        )
        .await;
    assert_eq!(audit.status(), StatusCode::OK);
    let audit: Value = audit.json().await.unwrap();
    assert_eq!(audit["events"].as_array().unwrap().len(), 2, "{audit}");
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn keys_rotate_publishes_a_key_the_running_server_adopts(backend: Backend) {
    let db = TestDb::create(backend).await;
    let dir = temp_dir();
    let envs = [
        ("PORTCULLIS_DATABASE_URL", db.url.clone()),
        ("PORTCULLIS_SECRET", SECRET.to_string()),
        ("PORTCULLIS_KEY_ROTATION_LEAD_SECS", "2".to_string()),
    ];
    let email = unique_email();
    let create = [
        "create-admin",
        "--email",
        email.as_str(),
        "--password-stdin",
    ];
    stdout(&run(&dir, &envs, &create, Some(PASSWORD)));
    let server = Server::start(&dir, &envs).await;
    let client = reqwest::Client::new();
    let jwks = || async {
        let response = client
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()
    };
    let first = kids(&jwks().await);
    assert_eq!(first.len(), 1);

    let printed = stdout(&run(&dir, &envs, &["keys", "rotate"], None));
    // Logs share stdout; the answer is its own line.
    let answer = printed
        .lines()
        .find(|l| l.starts_with("new key "))
        .unwrap_or_default();
    let new_kid = answer
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    assert!(
        printed.contains(&format!("retiring: {}", first[0])),
        "{printed}"
    );
    // The server reloads its keys every second here (half the lead).
    let mut published = false;
    for _ in 0..30 {
        if kids(&jwks().await).contains(&new_kid) {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        published,
        "the running server published {new_kid}: {printed}"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let signed_in = sign_in(&server, &email).await;
    let tokens = Tokens::from_body(&signed_in.json().await.unwrap());
    assert_eq!(kid_of(&tokens.access), new_kid);
    assert_eq!(me(&server, &tokens.access).await.status(), StatusCode::OK);
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn bootstrap_address_is_promoted_only_while_there_is_no_super_admin(backend: Backend) {
    let db = TestDb::create(backend).await;
    let mail = MailSink::start().await;
    let dir = temp_dir();
    let first = unique_email();
    let second = unique_email();
    let envs = |bootstrap: &str| {
        [
            ("PORTCULLIS_DATABASE_URL", db.url.clone()),
            ("PORTCULLIS_SECRET", SECRET.to_string()),
            ("PORTCULLIS_SMTP_URL", mail.url()),
            ("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", bootstrap.to_string()),
        ]
    };
    // The address has no account yet: nothing happens, nobody is created.
    let server = Server::start(&dir, &envs(&first)).await;
    sign_up(&server, &mail, &first).await;
    sign_up(&server, &mail, &second).await;
    assert_eq!(role_of(&server, &first).await, "VIEWER");
    drop(server);
    // At the next start the user exists and there is no SUPER-ADMIN.
    let server = Server::start(&dir, &envs(&first)).await;
    assert_eq!(role_of(&server, &first).await, "SUPER-ADMIN");
    drop(server);
    // Once there is one, another bootstrap address is ignored.
    let server = Server::start(&dir, &envs(&second)).await;
    assert_eq!(role_of(&server, &second).await, "VIEWER");
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The operator's way back in: a SUPER-ADMIN who was banned and lost the
/// verified address is restored by `create-admin` with the same address.
async fn create_admin_lets_a_locked_out_super_admin_sign_in_again(backend: Backend) {
    let db = TestDb::create(backend).await;
    let mail = MailSink::start().await;
    let dir = temp_dir();
    let envs = production_env(&db, &mail);
    let (first, second) = (unique_email(), unique_email());
    for email in [&first, &second] {
        let create = [
            "create-admin",
            "--email",
            email.as_str(),
            "--password-stdin",
        ];
        stdout(&run(&dir, &envs, &create, Some(&format!("{PASSWORD}\n"))));
    }
    let server = Server::start(&dir, &envs).await;
    let actor = Tokens::from_body(&sign_in(&server, &first).await.json().await.unwrap());
    let target = Tokens::from_body(&sign_in(&server, &second).await.json().await.unwrap());
    let path = format!("/v1/admin/users/{}", target.user_id);
    let client = reqwest::Client::new();
    let unverify = client.patch(server.url(&path)).bearer_auth(&actor.access);
    let response = unverify
        .json(&json!({"email_verified": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ban = client
        .post(server.url(&format!("{path}/ban")))
        .bearer_auth(&actor.access);
    let response = ban.json(&json!({"reason": "test"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&server, &second).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let restored = stdout(&run(
        &dir,
        &envs,
        &["create-admin", "--email", &second],
        None,
    ));
    assert!(restored.contains("can sign in again"), "{restored}");
    assert_eq!(role_of(&server, &second).await, "SUPER-ADMIN");
    let again = stdout(&run(
        &dir,
        &envs,
        &["create-admin", "--email", &second],
        None,
    ));
    assert!(again.contains("already is a SUPER-ADMIN"), "{again}");
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}
