//! Prometheus metrics on their own listener, parsed by an independent
//! parser (the `prometheus-parse` crate, not the encoder the server uses).

use crate::backend_tests;
use crate::helpers::*;
use portcullis::config::RateLimit;
use prometheus_parse::{Scrape, Value as Sample};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    counters_move_with_sign_ins_refreshes_and_limits,
    codes_mail_lockouts_keys_and_the_pool_are_counted,
    metrics_are_off_unless_a_listener_is_set,
);

pub(crate) async fn scrape(app: &TestApp) -> (String, Scrape) {
    let address = app.metrics_address.as_ref().expect("metrics_listen is set");
    scrape_at(&app.client, address).await
}

/// Scrapes the metrics listener at `address` (any instance's).
pub(crate) async fn scrape_at(client: &reqwest::Client, address: &str) -> (String, Scrape) {
    let response = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|line| Ok(line.to_string()));
    let parsed = Scrape::parse(lines).expect("the Prometheus text format");
    (text, parsed)
}

/// The value of the sample `name` whose labels include every `(key, value)`.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching = scrape.samples.iter().filter(|sample| {
        sample.metric == name
            && labels
                .iter()
                .all(|(key, want)| sample.labels.get(key) == Some(*want))
    });
    matching
        .map(|sample| match sample.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

async fn counters_move_with_sign_ins_refreshes_and_limits(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = Some("127.0.0.1:0".into());
        s.rate_limits.sign_in = RateLimit::new(3, 60);
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let signed_in = app.sign_in(&email, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&signed_in.json().await.unwrap());
    let wrong = app.sign_in(&email, "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let _ = app.sign_in(&email, PASSWORD).await;
    let limited = app.sign_in(&email, PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);

    let (text, metrics) = scrape(&app).await;
    let sign_ins = "portcullis_sign_ins_total";
    let password = [("method", "password"), ("result", "success")];
    assert_eq!(value(&metrics, sign_ins, &password), 2.0, "{text}");
    let failed = [("method", "password"), ("result", "failure")];
    assert_eq!(value(&metrics, sign_ins, &failed), 1.0, "{text}");
    let confirmed = [("method", "email_code"), ("result", "success")];
    assert_eq!(
        value(&metrics, sign_ins, &confirmed),
        1.0,
        "the sign-up's code"
    );
    let rotated = [("result", "rotated")];
    assert_eq!(value(&metrics, "portcullis_refreshes_total", &rotated), 1.0);
    // With nothing else writing, the rotation went through a group commit.
    let grouped = "portcullis_refresh_grouped_rotations_total";
    assert_eq!(value(&metrics, grouped, &[]), 1.0, "{text}");
    let limit = [("limit", "sign_in")];
    assert_eq!(
        value(&metrics, "portcullis_rate_limited_total", &limit),
        1.0
    );
    let route = [("route", "/v1/sessions"), ("method", "POST")];
    let answered = value(&metrics, "portcullis_http_requests_total", &route);
    assert_eq!(answered, 4.0, "{text}");
    let refused = [
        ("route", "/v1/sessions"),
        ("method", "POST"),
        ("status", "4xx"),
    ];
    assert_eq!(
        value(&metrics, "portcullis_http_requests_total", &refused),
        2.0
    );
    let durations = "portcullis_http_request_duration_seconds_count";
    assert_eq!(value(&metrics, durations, &route), 4.0, "{text}");
    assert_eq!(value(&metrics, "portcullis_build_info", &[]), 1.0, "{text}");
    // Every password check took a hashing slot (the sign-up's hash too).
    let waits = value(&metrics, "portcullis_hash_wait_seconds_count", &[]);
    assert!(waits >= 4.0, "{text}");
    // Both backlogs are reported (a missing sample would read as 0).
    for outbox in ["mail", "webhooks"] {
        let reported = metrics.samples.iter().any(|s| {
            s.metric == "portcullis_outbox_backlog" && s.labels.get("outbox") == Some(outbox)
        });
        assert!(reported, "no {outbox} backlog in {text}");
    }

    // Nothing a client sent or owns: no address, token or id.
    for secret in [
        &email,
        &tokens.access,
        &tokens.refresh,
        &tokens.user_id,
        &tokens.session_id,
    ] {
        assert!(!text.contains(secret.as_str()), "{secret} in the scrape");
    }
    // A path nobody routes is one label, whatever was asked.
    let _ = app.get("/v1/no-such-thing/12345", None).await;
    let (text, _) = scrape(&app).await;
    assert!(
        text.contains("route=\"unmatched\"") && !text.contains("12345"),
        "{text}"
    );
}

async fn metrics_are_off_unless_a_listener_is_set(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(app.metrics_address.is_none());
    let response = app.get("/metrics", None).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not on the API port"
    );
}

async fn codes_mail_lockouts_keys_and_the_pool_are_counted(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = Some("127.0.0.1:0".into());
        s.lockout.free_attempts = 2;
    })
    .await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    app.me(&tokens.access).await;
    let wrong = json!({"action": "sign_in", "email": email, "code": "00000000"});
    let (status, _) = problem(app.confirm(&wrong).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let response = app.sign_in(&email, "not the password at all").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let (text, metrics) = scrape(&app).await;
    let codes = "portcullis_codes_total";
    let issued = [("action", "verify_email"), ("result", "issued")];
    assert_eq!(value(&metrics, codes, &issued), 1.0, "{text}");
    let confirmed = [("action", "verify_email"), ("result", "confirmed")];
    assert_eq!(value(&metrics, codes, &confirmed), 1.0, "{text}");
    let refused = [("action", "sign_in"), ("result", "refused")];
    assert_eq!(value(&metrics, codes, &refused), 1.0, "{text}");
    assert_eq!(
        value(&metrics, "portcullis_lockouts_total", &[]),
        1.0,
        "{text}"
    );
    assert!(
        value(&metrics, "portcullis_mail_total", &[("result", "sent")]) >= 1.0,
        "{text}"
    );
    // Every authenticated request looked its session up, one way or another.
    let lookups: f64 = ["remembered", "read", "unleased"]
        .into_iter()
        .map(|result| {
            value(
                &metrics,
                "portcullis_session_lookups_total",
                &[("result", result)],
            )
        })
        .sum();
    assert!(lookups >= 1.0, "{text}");
    let open = value(&metrics, "portcullis_db_connections", &[]);
    assert!(open >= 1.0, "the pool has connections: {text}");
    let keys = "portcullis_signing_keys";
    assert_eq!(value(&metrics, keys, &[("state", "active")]), 1.0, "{text}");
    assert_eq!(
        value(&metrics, keys, &[("state", "pending")]),
        0.0,
        "{text}"
    );

    // A rotation publishes a key that signs later.
    let admin = app.new_super_admin().await;
    let rotate = app.client.post(app.url("/v1/admin/keys/rotate"));
    let response = rotate.bearer_auth(&admin.access).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let (text, metrics) = scrape(&app).await;
    assert_eq!(
        value(&metrics, keys, &[("state", "pending")]),
        1.0,
        "{text}"
    );
    assert_eq!(value(&metrics, keys, &[("state", "active")]), 1.0, "{text}");
}
