//! Mail delivery an operator can trust: the outbox survives an SMTP outage,
//! instances sharing a database send each mail once, and mail is localized
//! and overridable.

use crate::backend_tests;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

backend_tests!(
    mail_queued_during_an_smtp_outage_arrives_when_it_returns,
    two_instances_send_each_mail_once,
    a_slow_smtp_server_gets_each_mail_once,
    mail_speaks_the_language_asked_for,
    templates_can_be_overridden_from_a_directory,
    admins_invite_without_ever_seeing_a_password,
);

/// An application whose SMTP server is to listen on `port` (nobody does
/// until the test starts one there).
async fn spawn_app_mailing_to(backend: Backend, port: u16) -> TestApp {
    spawn_app_with(backend, |s| {
        s.smtp_url = Some(portcullis::config::SecretString::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
    })
    .await
}

async fn mail_queued_during_an_smtp_outage_arrives_when_it_returns(backend: Backend) {
    let port = free_port();
    let app = spawn_app_mailing_to(backend, port).await;
    let email = unique_email();
    // Nobody listens on the port: the sign-up still answers at once.
    let response = app.sign_up(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pending: i64 = app.db.count_rows("mail_outbox").await;
    assert_eq!(pending, 1, "the mail waits in the outbox");

    let sink = MailSink::start_on(port).await;
    let mail = sink.wait_for(&email).await;
    let response = app.confirm_code(&email, &mail.code()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.db.count_rows("mail_outbox").await,
        0,
        "sent mail leaves the outbox"
    );
    assert_eq!(sink.to(&email).len(), 1);
}

/// Mail counted by every instance's metrics listener, summed by result.
async fn mail_counted(app: &TestApp, second: &TestApp2, result: &str) -> f64 {
    let mut total = 0.0;
    for address in [&app.metrics_address, &second.metrics_address] {
        let address = address.as_ref().expect("metrics_listen is set");
        let (_, scrape) = crate::metrics::scrape_at(&app.client, address).await;
        total += crate::metrics::value(&scrape, "portcullis_mail_total", &[("result", result)]);
    }
    total
}

/// Two instances whose SMTP server is to listen on `port`, with metrics.
async fn two_instances_mailing_to(
    backend: Backend,
    port: u16,
    smtp_timeout_secs: u64,
) -> (TestApp, TestApp2) {
    let app = spawn_app_with(backend, |s| {
        s.smtp_url = Some(portcullis::config::SecretString::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        s.smtp_timeout_secs = smtp_timeout_secs;
        s.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let second = app.second_instance().await;
    (app, second)
}

/// Signs up `count` new people at once, alternating between the instances.
async fn sign_up_at_once(app: &TestApp, second: &TestApp2, count: usize) -> Vec<String> {
    let emails: Vec<String> = (0..count).map(|_| unique_email()).collect();
    let sign_ups = emails.iter().enumerate().map(|(i, email)| {
        let url = if i % 2 == 0 {
            app.url("/v1/users")
        } else {
            second.url("/v1/users")
        };
        let request = app
            .client
            .post(url)
            .json(&json!({"email": email, "password": PASSWORD}));
        async move { request.send().await.unwrap().status() }
    });
    for status in futures_util::future::join_all(sign_ups).await {
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    emails
}

/// SMTP down while sign-ups pour into both instances: every mail waits in
/// the outbox, both workers retry, and once the server is back each mail is
/// delivered exactly once; the counters of both instances add up.
async fn two_instances_send_each_mail_once(backend: Backend) {
    let port = free_port();
    let (app, second) = two_instances_mailing_to(backend, port, 10).await;
    let emails = sign_up_at_once(&app, &second, 40).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.db.count_rows("mail_outbox").await, 40);
    assert_eq!(mail_counted(&app, &second, "sent").await, 0.0);
    assert!(mail_counted(&app, &second, "retried").await >= 1.0);

    // Both workers compete for the queued mail once the server is back.
    let sink = MailSink::start_on(port).await;
    for email in &emails {
        sink.wait_for(email).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email} got one mail");
    }
    assert_eq!(sink.all().len(), emails.len());
    assert_eq!(app.db.count_rows("mail_outbox").await, 0);
    assert_eq!(mail_counted(&app, &second, "sent").await, 40.0);
    assert_eq!(mail_counted(&app, &second, "dropped").await, 0.0);
}

/// A server that takes most of the SMTP timeout to accept each mail: a
/// worker with a long queue must not let the leases of mails still waiting
/// run out (the other instance would send them a second time).
async fn a_slow_smtp_server_gets_each_mail_once(backend: Backend) {
    let port = free_port();
    // Lettre gives up on a command after 1 s; a send may take 2 s; each
    // lease lasts 7 s. 16 mails at 0.7 s each outlast one lease.
    let (app, second) = two_instances_mailing_to(backend, port, 1).await;
    let emails = sign_up_at_once(&app, &second, 16).await;
    let sink = MailSink::start_slow_on(port, Duration::from_millis(700)).await;
    for email in &emails {
        sink.wait_for(email).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email} got one mail");
    }
    assert_eq!(app.db.count_rows("mail_outbox").await, 0);
    assert_eq!(mail_counted(&app, &second, "sent").await, 16.0);
}

async fn mail_speaks_the_language_asked_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let language = ("accept-language", "fr-CH, de;q=0.9, en;q=0.8");
    let body = json!({"email": email, "password": PASSWORD});
    let response = app.post_json_with("/v1/users", language, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = app.mail.wait_for(&email).await;
    assert_eq!(mail.subject(), "Bitte bestätige deine E-Mail-Adresse");
    assert!(mail.body().contains("Dein Bestätigungscode lautet"));
    let html = mail.html().expect("an HTML part");
    assert!(html.contains("lang=\"de\"") && html.contains(&mail.code()));
    let tokens = Tokens::from_body(
        &app.confirm_code(&email, &mail.code())
            .await
            .json()
            .await
            .unwrap(),
    );

    // No header: English.
    let mail = app.code_mail(&email, "sign_in").await;
    assert_eq!(mail.subject(), "Your sign-in code");
    // A stored choice wins over the header.
    let response = app.patch_me(&tokens.access, &json!({"locale": "de"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json!({"email": email, "action": "reset_password"});
    let response = app
        .post_json_with(
            "/v1/email-verification-codes",
            ("accept-language", "en"),
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = app.mail.wait_for_nth(&email, 3).await;
    assert_eq!(mail.subject(), "Passwort zurücksetzen");
    let (status, _) = problem(app.patch_me(&tokens.access, &json!({"locale": "xx"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn templates_can_be_overridden_from_a_directory(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("portcullis-tpl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("en")).unwrap();
    std::fs::write(
        dir.join("en/verify_email.txt"),
        "Welcome to Acme\n\nAcme code: {{ code }}\nLink: {{ link }}\n",
    )
    .unwrap();
    let templates = dir.clone();
    let app = spawn_app_with(backend, move |s| {
        s.mail_templates_dir = Some(templates);
        s.link_url_verify_email = Some("https://app.acme.test/verify?t={token}".into());
    })
    .await;
    let email = unique_email();
    app.sign_up(&email, PASSWORD).await;
    let mail = app.mail.wait_for(&email).await;
    assert_eq!(mail.subject(), "Welcome to Acme");
    assert!(mail.body().contains("Acme code: "));
    assert!(mail.body().contains("https://app.acme.test/verify?t="));
    // The HTML part was not overridden: the built-in one is used.
    assert!(mail.html().unwrap().contains(&mail.code()));
    assert_eq!(
        app.confirm_code(&email, &mail.code()).await.status(),
        StatusCode::CREATED
    );
    std::fs::remove_dir_all(dir).unwrap();
}

async fn admins_invite_without_ever_seeing_a_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (_, editor) = app.user_with_role(&admin, "EDITOR").await;
    let (_, plain_admin) = app.user_with_role(&admin, "ADMIN").await;
    let email = unique_email();
    let invite = |tokens: &Tokens, body: serde_json::Value| {
        let access = tokens.access.clone();
        let app = &app;
        async move {
            app.send(Method::POST, "/v1/admin/users", &access, body)
                .await
        }
    };
    let (status, _) = problem(invite(&editor, json!({"email": email})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        problem(invite(&plain_admin, json!({"email": email, "role": "SUPER-ADMIN"})).await).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nobody grants above their own"
    );
    let (status, _) =
        problem(invite(&plain_admin, json!({"email": email, "password": "x"})).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "admins never set passwords"
    );
    assert_eq!(app.settled_mail_count(&email).await, 0);

    let response = invite(
        &plain_admin,
        json!({"email": email, "role": "EDITOR", "first_name": "Grace", "locale": "de"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: serde_json::Value = response.json().await.unwrap();
    assert_eq!(user["role"], "EDITOR");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["has_password"], false);
    assert_eq!(user["locale"], "de", "the chosen language is stored");
    let text = serde_json::to_string(&user).unwrap();
    let mail = app.mail.wait_for(&email).await;
    assert_eq!(mail.subject(), "Du wurdest eingeladen");
    assert!(!text.contains(&mail.code()) && !text.contains(&mail.link_token()));

    let (status, body) = problem(invite(&plain_admin, json!({"email": email})).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["type"].as_str().unwrap().ends_with("email-taken"));

    let response = app
        .confirm(&json!({"action": "sign_in", "token": mail.link_token()}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["user"]["email_verified"], true,
        "the code proved the address"
    );
    assert_eq!(body["user"]["role"], "EDITOR");

    let events: serde_json::Value = app
        .get_json(
            "/v1/admin/audit-events?type=admin.user_invited",
            Some(&admin.access),
        )
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}
