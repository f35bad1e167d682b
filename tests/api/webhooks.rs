//! Webhooks, black-box: a receiver in the test process records every
//! delivery, and each is verified with the `standardwebhooks` crate (the
//! Standard Webhooks reference library), not the service's own code.

use crate::backend_tests;
use crate::helpers::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use standardwebhooks::Webhook;
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

backend_tests!(
    lifecycle_events_arrive_signed_in_order_and_without_secrets,
    failures_are_retried_with_the_same_id,
    a_receiver_that_was_down_gets_everything_later,
    gone_switches_the_endpoint_off,
    a_rotation_signs_with_both_secrets_then_the_new_one,
    private_targets_are_refused_and_redirects_not_followed,
    two_instances_deliver_each_event_once_and_in_order,
    only_a_super_admin_changes_webhooks,
    verified_addresses_of_existing_users_are_published,
);

struct Received {
    headers: http::HeaderMap,
    body: String,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_string()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Verified by the reference library, timestamp tolerance included.
    fn verifies_with(&self, secret: &str) -> bool {
        Webhook::new(secret)
            .unwrap()
            .verify(self.body.as_bytes(), &self.headers)
            .is_ok()
    }

    /// The signature alone, by the reference library (for deliveries sent
    /// at an application time the test moved past its 5-minute tolerance).
    fn signed_by(&self, secret: &str) -> bool {
        let id = self.id();
        let timestamp: i64 = self.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let expected = Webhook::new(secret)
            .unwrap()
            .sign(&id, timestamp, self.body.as_bytes())
            .unwrap();
        let header = self.headers["webhook-signature"].to_str().unwrap();
        header.split(' ').any(|s| s == expected)
    }
}

/// A receiver on a loopback port: answers with the scripted statuses first,
/// then 204 (or redirects to `redirect_to`).
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    url: String,
}

impl Receiver {
    fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), None)
    }

    fn start_on(listener: TcpListener, redirect_to: Option<String>) -> Self {
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let receiver = Receiver {
            url,
            ..Receiver::default()
        };
        let shared = receiver.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            let redirect_to = redirect_to.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let shared = shared.clone();
                    let redirect_to = redirect_to.clone();
                    async move {
                        let mut headers = http::HeaderMap::new();
                        for name in [
                            "webhook-id",
                            "webhook-timestamp",
                            "webhook-signature",
                            "content-type",
                        ] {
                            if let Some(value) = req.headers().get(name) {
                                headers.insert(name, value.to_str().unwrap().parse().unwrap());
                            }
                        }
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        shared
                            .received
                            .lock()
                            .unwrap()
                            .push(Received { headers, body });
                        if let Some(target) = redirect_to {
                            return HttpResponse::Found()
                                .insert_header(("location", target))
                                .finish();
                        }
                        let status = shared.script.lock().unwrap().pop_front().unwrap_or(204);
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                            .body("receiver says hi")
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        receiver
    }

    fn answer_first(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.count() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} deliveries",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&[Received]) -> T) -> T {
        f(&self.received.lock().unwrap())
    }
}

async fn webhook_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.metrics_listen = Some("127.0.0.1:0".into());
        s.webhooks.allowed_private_targets = vec!["127.0.0.1/32".into()];
        s.webhooks.poll_interval_ms = 20;
        s.webhooks.secret_overlap_secs = 60;
    })
    .await
}

/// Creates an endpoint; returns its id and secret.
async fn create(app: &TestApp, admin: &Tokens, url: &str, events: Value) -> (String, String) {
    let body = json!({"url": url, "events": events});
    let response = app
        .send(Method::POST, "/v1/admin/webhooks", &admin.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    (created["id"].as_str().unwrap().to_string(), secret)
}

async fn send_test(app: &TestApp, admin: &Tokens, id: &str) {
    let path = format!("/v1/admin/webhooks/{id}/test");
    let response = app
        .send(Method::POST, &path, &admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

async fn webhook(app: &TestApp, admin: &Tokens, id: &str) -> Value {
    app.get_json(&format!("/v1/admin/webhooks/{id}"), Some(&admin.access))
        .await
}

/// Polls an endpoint's deliveries (with `query`) until `settled` says yes;
/// returns that page.
async fn deliveries_once(
    app: &TestApp,
    admin: &Tokens,
    (id, query): (&str, &str),
    settled: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let path = format!("/v1/admin/webhooks/{id}/deliveries{query}");
        let page = app.get_json(&path, Some(&admin.access)).await;
        if settled(&page) {
            return page;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn lifecycle_events_arrive_signed_in_order_and_without_secrets(backend: Backend) {
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let receiver = Receiver::start();
    let (_, secret) = create(&app, &admin, &receiver.url, json!(["*"])).await;

    let email = unique_email();
    let signup = app.sign_up(&email, PASSWORD).await;
    assert_eq!(signup.status(), StatusCode::ACCEPTED);
    let verify_code = app.mail.wait_for(&email).await.code();
    let response = app.confirm_code(&email, &verify_code).await;
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    let new_email = unique_email();
    let body = json!({"new_email": new_email, "password": PASSWORD});
    let response = app
        .send(Method::POST, "/v1/users/me/email", &tokens.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let change_code = app.mail.wait_for(&new_email).await.code();
    let body = json!({"action": "change_email", "email": new_email, "code": change_code});
    assert_eq!(app.confirm(&body).await.status(), StatusCode::OK);
    let ban = format!("/v1/admin/users/{}/ban", tokens.user_id);
    let response = app.send(Method::POST, &ban, &admin.access, json!({})).await;
    assert!(response.status().is_success(), "{}", response.status());
    let delete = format!("/v1/admin/users/{}", tokens.user_id);
    let response = app
        .send(Method::DELETE, &delete, &admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let wanted = [
        "user.created",
        "user.email_changed",
        "user.banned",
        "user.deleted",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let types: Vec<String> = receiver.with(|all| {
            all.iter()
                .map(|r| r.json())
                .filter(|p| p["data"]["user_id"] == tokens.user_id.as_str())
                .map(|p| p["type"].as_str().unwrap().to_string())
                .collect()
        });
        let mut rest = wanted.iter();
        let mut next = rest.next();
        for t in &types {
            if Some(&t.as_str()) == next {
                next = rest.next();
            }
        }
        if next.is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{types:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secrets = [
        PASSWORD,
        &verify_code,
        &change_code,
        &tokens.access,
        &tokens.refresh,
    ];
    receiver.with(|all| {
        for delivery in all {
            assert!(delivery.verifies_with(&secret), "{}", delivery.body);
            let payload = delivery.json();
            assert!(payload["timestamp"].is_string() && payload["data"].is_object());
            for secret in secrets {
                assert!(
                    !delivery.body.contains(secret),
                    "a secret in {}",
                    delivery.body
                );
            }
        }
    });
}

async fn failures_are_retried_with_the_same_id(backend: Backend) {
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let receiver = Receiver::start();
    receiver.answer_first(&[500, 500]);
    let (id, secret) = create(&app, &admin, &receiver.url, json!(["user.created"])).await;
    send_test(&app, &admin, &id).await;
    // The clock moves only once the worker has recorded the attempt (and so
    // scheduled the next one from the time it happened).
    let recorded = |n: u64| move |page: &Value| page["deliveries"][0]["attempts"] == n;
    receiver.wait_for(1).await;
    deliveries_once(&app, &admin, (&id, ""), recorded(1)).await;
    app.advance(Duration::from_secs(6));
    receiver.wait_for(2).await;
    deliveries_once(&app, &admin, (&id, ""), recorded(2)).await;
    app.advance(Duration::from_secs(6 * 60));
    receiver.wait_for(3).await;
    receiver.with(|all| {
        assert_eq!(all.len(), 3);
        assert!(
            all.iter().all(|r| r.id() == all[0].id()),
            "one webhook-id for every attempt"
        );
        assert!(all.iter().all(|r| r.signed_by(&secret)));
        assert_eq!(all[0].json()["type"], "webhook.test");
    });
    // The record settles just after the receiver answered: read it then.
    let delivered = |page: &Value| page["deliveries"].as_array().unwrap().len() == 1;
    let page = deliveries_once(&app, &admin, (&id, "?status=delivered"), delivered).await;
    let delivery = &page["deliveries"][0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 204);
    let (text, metrics) = crate::metrics::scrape(&app).await;
    let attempts = |result| {
        crate::metrics::value(
            &metrics,
            "portcullis_webhook_deliveries_total",
            &[("result", result)],
        )
    };
    assert_eq!(attempts("retried"), 2.0, "{text}");
    assert_eq!(attempts("delivered"), 1.0, "{text}");
    assert_eq!(attempts("failed"), 0.0, "{text}");
}

async fn a_receiver_that_was_down_gets_everything_later(backend: Backend) {
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (id, secret) = create(&app, &admin, &url, json!(["*"])).await;
    for _ in 0..3 {
        send_test(&app, &admin, &id).await;
    }
    // Every delivery fails while nobody listens.
    let tried = |page: &Value| {
        let all = page["deliveries"].as_array().unwrap();
        all.len() == 3 && all.iter().all(|d| d["attempts"] == 1)
    };
    let page = deliveries_once(&app, &admin, (&id, ""), tried).await;
    assert!(page["deliveries"][0]["last_error"].is_string());
    let receiver = Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), None);
    app.advance(Duration::from_secs(6));
    receiver.wait_for(3).await;
    receiver.with(|all| assert!(all.iter().all(|r| r.signed_by(&secret))));
}

async fn gone_switches_the_endpoint_off(backend: Backend) {
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let receiver = Receiver::start();
    receiver.answer_first(&[410]);
    let (id, _) = create(&app, &admin, &receiver.url, json!(["*"])).await;
    send_test(&app, &admin, &id).await;
    receiver.wait_for(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while webhook(&app, &admin, &id).await["enabled"] == true {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let endpoint = webhook(&app, &admin, &id).await;
    assert!(endpoint["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    // Nothing more goes out; switching it on again clears the reason.
    app.register(&unique_email(), PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1);
    let path = format!("/v1/admin/webhooks/{id}");
    let response = app
        .send(
            Method::PATCH,
            &path,
            &admin.access,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let endpoint: Value = response.json().await.unwrap();
    assert_eq!(endpoint["disabled_reason"], Value::Null);
}

async fn a_rotation_signs_with_both_secrets_then_the_new_one(backend: Backend) {
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let receiver = Receiver::start();
    let (id, old) = create(&app, &admin, &receiver.url, json!(["*"])).await;
    let path = format!("/v1/admin/webhooks/{id}/rotate-secret");
    let response = app
        .send(Method::POST, &path, &admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    send_test(&app, &admin, &id).await;
    receiver.wait_for(1).await;
    receiver.with(|all| {
        assert!(all[0].verifies_with(&old), "the old secret still verifies");
        assert!(all[0].verifies_with(&new));
    });
    app.advance(Duration::from_secs(61));
    send_test(&app, &admin, &id).await;
    receiver.wait_for(2).await;
    receiver.with(|all| {
        assert!(!all[1].signed_by(&old), "the overlap is over");
        assert!(all[1].signed_by(&new));
    });
}

async fn private_targets_are_refused_and_redirects_not_followed(backend: Backend) {
    // Without the allow-list: loopback by address or by name is refused.
    let strict = spawn_app(backend).await;
    let admin = strict.new_super_admin().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest",
    ] {
        let body = json!({"url": url, "events": ["*"]});
        let response = strict
            .send(Method::POST, "/v1/admin/webhooks", &admin.access, body)
            .await;
        let (status, problem) = problem(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    }
    let body = json!({"url": "https://example.com/hook", "events": ["user.nope"]});
    let response = strict
        .send(Method::POST, "/v1/admin/webhooks", &admin.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A redirect is not followed.
    let app = webhook_app(backend).await;
    let admin = app.new_super_admin().await;
    let elsewhere = Receiver::start();
    let redirecting = Receiver::start_on(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        Some(elsewhere.url.clone()),
    );
    let (id, _) = create(&app, &admin, &redirecting.url, json!(["*"])).await;
    send_test(&app, &admin, &id).await;
    redirecting.wait_for(1).await;
    let answered = |page: &Value| page["deliveries"][0]["last_status"] == 302;
    let page = deliveries_once(&app, &admin, (&id, ""), answered).await;
    assert_eq!(
        page["deliveries"][0]["status"], "pending",
        "not followed, retried later"
    );
    assert_eq!(elsewhere.count(), 0);
}

async fn two_instances_deliver_each_event_once_and_in_order(backend: Backend) {
    let app = webhook_app(backend).await;
    let _second = app.second_instance().await;
    let admin = app.new_super_admin().await;
    let receiver = Receiver::start();
    let (id, _) = create(&app, &admin, &receiver.url, json!(["*"])).await;
    for _ in 0..50 {
        send_test(&app, &admin, &id).await;
    }
    receiver.wait_for(50).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    receiver.with(|all| {
        assert_eq!(all.len(), 50, "each event exactly once");
        let ids: Vec<String> = all.iter().map(Received::id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 50);
        assert_eq!(ids, sorted, "in event order (ids are time-ordered)");
    });
}

async fn only_a_super_admin_changes_webhooks(backend: Backend) {
    let app = webhook_app(backend).await;
    let root = app.new_super_admin().await;
    let (_, admin) = app.user_with_role(&root, "ADMIN").await;
    let receiver = Receiver::start();
    let body = json!({"url": receiver.url, "events": ["*"]});
    let response = app
        .send(Method::POST, "/v1/admin/webhooks", &admin.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (id, secret) = create(&app, &root, &receiver.url, json!(["user.created"])).await;
    let listed = app
        .get_json("/v1/admin/webhooks", Some(&admin.access))
        .await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );
    let path = format!("/v1/admin/webhooks/{id}");
    let response = app
        .send(Method::DELETE, &path, &admin.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .send(Method::DELETE, &path, &root.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn verified_addresses_of_existing_users_are_published(backend: Backend) {
    let app = webhook_app(backend).await;
    let root = app.new_super_admin().await;
    let receiver = Receiver::start();
    let (_, secret) = create(&app, &root, &receiver.url, json!(["user.email_verified"])).await;
    // An invited user's first emailed code proves the address.
    let (invitee, _) = app.invited(&root, &unique_email()).await;
    // An administrator vouches for another invitee's address.
    let body = json!({ "email": unique_email() });
    let response = app
        .send(Method::POST, "/v1/admin/users", &root.access, body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let vouched: Value = response.json().await.unwrap();
    let vouched_id = vouched["id"].as_str().unwrap().to_string();
    let path = format!("/v1/admin/users/{vouched_id}");
    let body = json!({ "email_verified": true });
    let response = app.send(Method::PATCH, &path, &root.access, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Already verified: no second event.
    let body = json!({ "email_verified": true });
    let response = app.send(Method::PATCH, &path, &root.access, body).await;
    assert_eq!(response.status(), StatusCode::OK);

    receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.with(|all| {
        assert_eq!(all.len(), 2, "one event per verification");
        assert!(all.iter().all(|d| d.verifies_with(&secret)));
        let payloads: Vec<Value> = all.iter().map(|d| d.json()).collect();
        assert!(payloads.iter().all(|p| p["type"] == "user.email_verified"));
        assert_eq!(payloads[0]["data"]["user_id"], invitee.user_id.as_str());
        assert_eq!(payloads[0]["data"]["method"], "email_code");
        assert!(payloads[0]["data"].get("actor_id").is_none());
        assert_eq!(payloads[1]["data"]["user_id"], vouched_id.as_str());
        assert_eq!(payloads[1]["data"]["method"], "admin");
        assert_eq!(payloads[1]["data"]["actor_id"], root.user_id.as_str());
    });
}
