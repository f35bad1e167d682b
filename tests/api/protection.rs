//! Abuse protection: per-client limits, per-account lockout, breached
//! passwords, hashing under load, CORS and headers.

use crate::backend_tests;
use crate::helpers::pwned::FakePwned;
use crate::helpers::*;
use futures_util::future::join_all;
use portcullis::config::{LockoutSettings, RateLimit};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    an_ip_limit_trips_and_recovers,
    a_client_past_its_limit_costs_no_more_writes,
    spoofed_forwarded_for_is_ignored_from_untrusted_peers,
    a_trusted_proxy_passes_on_the_client_address,
    lockout_counts_per_account_across_case_and_addresses,
    a_success_resets_the_count,
    concurrent_wrong_passwords_count_no_more_than_allowed,
    a_hashing_burst_gets_503_while_tokens_keep_working,
    a_sign_in_waits_for_a_hashing_slot_only_so_long,
    a_sign_up_turned_away_by_the_hasher_can_retry_at_once,
    a_sign_in_stores_a_hash_of_old_parameters_again,
    breached_passwords_are_refused_when_the_check_is_on,
    an_unreachable_breach_api_never_blocks_sign_up,
    a_hanging_breach_api_holds_up_only_sign_ups,
    cors_answers_listed_origins_only,
);

fn lockout(free_attempts: u32, base_delay_secs: u64) -> LockoutSettings {
    LockoutSettings {
        free_attempts,
        base_delay_secs,
        max_delay_secs: 3600,
        ..LockoutSettings::default()
    }
}

async fn an_ip_limit_trips_and_recovers(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limits.sign_in = RateLimit::new(3, 2)).await;
    for _ in 0..3 {
        assert_eq!(
            app.sign_in(&unique_email(), PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.sign_in(&unique_email(), PASSWORD).await;
    let retry_after = retry_after(&response);
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (status, body) = problem(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["type"], "urn:portcullis:problem:too-many-requests");
    // Other endpoints have their own allowance.
    assert_eq!(
        app.sign_up(&unique_email(), PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );

    app.advance(Duration::from_millis(2100));
    assert_eq!(
        app.sign_in(&unique_email(), PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Once the shared count has refused a client, this instance refuses it
/// from memory until the window reopens: a flood writes nothing more, the
/// other instance still refuses it from the database, and the window
/// reopens on time everywhere.
async fn a_client_past_its_limit_costs_no_more_writes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limits.sign_in = RateLimit::new(2, 60)).await;
    let other = app.second_instance().await;
    let hits = || {
        app.db.scalar("SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM rate_limits WHERE key LIKE 'sign_in:%'")
    };
    for _ in 0..2 {
        let status = app.sign_in(&unique_email(), PASSWORD).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let refused = app.sign_in(&unique_email(), PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hits().await, 3);
    for _ in 0..20 {
        let response = app.sign_in(&unique_email(), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after = retry_after(&response);
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(hits().await, 3, "refusals from memory write nothing");
    // The other instance has not seen the refusal: it asks the database,
    // which refuses too.
    let body = json!({"email": unique_email(), "password": PASSWORD});
    let response = other.post_json("/v1/sessions", &body).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The window reopens on the application's clock, on both.
    app.advance(Duration::from_secs(61));
    assert_eq!(
        app.sign_in(&unique_email(), PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let body = json!({"email": unique_email(), "password": PASSWORD});
    let response = other.post_json("/v1/sessions", &body).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn spoofed_forwarded_for_is_ignored_from_untrusted_peers(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limits.sign_in = RateLimit::new(2, 60)).await;
    for n in 0..2 {
        let response = app
            .sign_in_from(&format!("198.51.100.{n}"), &unique_email(), PASSWORD)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .sign_in_from("203.0.113.77", &unique_email(), PASSWORD)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a new X-Forwarded-For does not reset it"
    );
    // And the session records the connection's address, not the claimed one.
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let other = spawn_app_with(backend, |_| {}).await;
    let tokens = other.register(&email, PASSWORD).await;
    let current: Value = other
        .get_json("/v1/sessions/current", Some(&tokens.access))
        .await;
    assert_eq!(current["session"]["ip"], "127.0.0.1");
}

async fn a_trusted_proxy_passes_on_the_client_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limits.sign_in = RateLimit::new(2, 60);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    // Each client behind the proxy has its own allowance.
    for n in 0..4 {
        let response = app
            .sign_in_from(
                &format!("6.6.6.6, 198.51.100.{n}"),
                &unique_email(),
                PASSWORD,
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "client {n}");
    }
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let response = app
        .sign_in_from("6.6.6.6, 192.0.2.55", &email, PASSWORD)
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["session"]["ip"], "192.0.2.55",
        "the right-most untrusted hop"
    );
}

async fn lockout_counts_per_account_across_case_and_addresses(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.lockout = lockout(3, 60);
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let variants = [email.clone(), email.to_uppercase(), email.clone()];
    for (n, variant) in variants.iter().enumerate() {
        let response = app
            .sign_in_from(&format!("198.51.100.{n}"), variant, "wrong password")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password gets the ordinary failure.
    let (status, locked) = problem(app.sign_in_from("192.0.2.1", &email, PASSWORD).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, wrong) = problem(app.sign_in(&unique_email(), "wrong password").await).await;
    assert_eq!(locked["type"], wrong["type"]);
    assert_eq!(locked["detail"], wrong["detail"]);
    // The first lock is a minute, and attempts during it do not extend it.
    app.advance(Duration::from_secs(61));
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn a_success_resets_the_count(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.lockout = lockout(3, 60)).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(
            app.sign_in(&email, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.sign_in(&email, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.sign_in(&email, PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
}

async fn concurrent_wrong_passwords_count_no_more_than_allowed(backend: Backend) {
    // A lock of a minute, so that it cannot run out while the burst queues
    // for hashing on a slow machine; the test moves the clock past it.
    let app = spawn_app_with(backend, |s| s.lockout = lockout(5, 60)).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let statuses: Vec<StatusCode> =
        join_all((0..50).map(|_| app.sign_in(&email, "wrong password")))
            .await
            .iter()
            .map(|r| r.status())
            .collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    // Exactly the free attempts got through to a password check; the rest
    // met the lock. Had all 50 counted, the lock would be hours long.
    let counted = app.db.scalar("SELECT failures FROM login_throttle").await;
    assert_eq!(counted, 5);
    app.advance(Duration::from_secs(61));
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

async fn a_hashing_burst_gets_503_while_tokens_keep_working(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.hash_concurrency = 1;
        s.hash_queue_limit = 2;
        s.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let strangers: Vec<String> = (0..24).map(|_| unique_email()).collect();
    let burst = join_all(strangers.iter().map(|e| app.sign_in(e, "wrong password")));
    // Token validation and refresh need no hashing slot: they go on.
    let validations = async {
        let mut statuses = Vec::new();
        let mut refresh = tokens.refresh.clone();
        for _ in 0..10 {
            statuses.push(
                app.get("/v1/sessions/current", Some(&tokens.access))
                    .await
                    .status(),
            );
            let response = app.refresh(&refresh).await;
            statuses.push(response.status());
            if response.status().is_success() {
                refresh = Tokens::from_body(&response.json().await.unwrap()).refresh;
            }
        }
        statuses
    };
    let (burst, validations) = tokio::join!(burst, validations);
    let overloaded: Vec<&reqwest::Response> = burst
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!overloaded.is_empty(), "some of the burst is turned away");
    assert!(overloaded
        .iter()
        .all(|r| r.headers().contains_key("retry-after")));
    assert!(burst
        .iter()
        .all(|r| matches!(r.status().as_u16(), 401 | 503)));
    assert!(
        validations.iter().all(|s| s.is_success()),
        "{validations:?}"
    );
    let (text, metrics) = crate::metrics::scrape(&app).await;
    let refusals = [("reason", "queue_full")];
    let counted = crate::metrics::value(&metrics, "portcullis_hash_refusals_total", &refusals);
    assert_eq!(counted, overloaded.len() as f64, "{text}");
}

/// A burst that fits in the queue waits instead of being refused at once,
/// but no longer than `hash_queue_wait_ms`: then 503 + `Retry-After`,
/// counted as its own refusal reason, and the place is given back.
async fn a_sign_in_waits_for_a_hashing_slot_only_so_long(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.hash_concurrency = 1;
        s.hash_queue_limit = 100;
        // Shorter than one Argon2 computation (19 MiB): whoever finds both
        // slots taken cannot get one in time.
        s.hash_queue_wait_ms = 1;
        s.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let strangers: Vec<String> = (0..24).map(|_| unique_email()).collect();
    let burst = join_all(strangers.iter().map(|e| app.sign_in(e, "wrong password"))).await;
    let waited_too_long: Vec<&reqwest::Response> = burst
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !waited_too_long.is_empty(),
        "a wait past the limit is refused"
    );
    assert!(burst
        .iter()
        .all(|r| matches!(r.status().as_u16(), 401 | 503)));
    assert!(waited_too_long
        .iter()
        .all(|r| r.headers().get("retry-after").is_some_and(|v| v == "1")));
    let (text, metrics) = crate::metrics::scrape(&app).await;
    let counted = |reason: &str| {
        crate::metrics::value(
            &metrics,
            "portcullis_hash_refusals_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(
        counted("waited_too_long"),
        waited_too_long.len() as f64,
        "{text}"
    );
    assert_eq!(counted("queue_full"), 0.0, "the queue had room: {text}");
    // Every place came back: with nobody else waiting, a sign-in gets a slot.
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

/// A sign-up refused by a busy hasher (503) has not spent its address's
/// mail cool-down: retried at once, it gets its mail. (It used to claim the
/// cool-down before the hash: the retry got 202 and no mail for a minute.)
async fn a_sign_up_turned_away_by_the_hasher_can_retry_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.hash_concurrency = 1;
        s.hash_queue_limit = 100;
        s.hash_queue_wait_ms = 1;
        s.mail_cooldown_secs = 60;
    })
    .await;
    let emails: Vec<String> = (0..12).map(|_| unique_email()).collect();
    let burst = join_all(emails.iter().map(|e| app.sign_up(e, PASSWORD))).await;
    assert!(burst
        .iter()
        .all(|r| matches!(r.status().as_u16(), 202 | 503)));
    let turned_away: Vec<&String> = emails
        .iter()
        .zip(&burst)
        .filter(|(_, r)| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(email, _)| email)
        .collect();
    assert!(!turned_away.is_empty(), "the hasher turned some away");
    for email in turned_away {
        // 202, a mail with a code, and an account once it is confirmed.
        app.register(email, PASSWORD).await;
    }
}

/// A password stored with other Argon2 parameters than the configured ones
/// is stored again with them at its next sign-in (when a hashing slot is
/// free at once, as it is here).
async fn a_sign_in_stores_a_hash_of_old_parameters_again(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.argon2_memory_kib = 8192).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    assert_eq!(stored_with(&app, 8192).await, 1);
    let upgraded = app
        .second_instance_with(|s| s.argon2_memory_kib = 19_456)
        .await;
    let body = json!({"email": email, "password": PASSWORD});
    for _ in 0..2 {
        let response = upgraded.post_json("/v1/sessions", &body).await;
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
    }
    assert_eq!(stored_with(&app, 8192).await, 0);
    assert_eq!(stored_with(&app, 19_456).await, 1);
    // The first instance, on its old parameters, still checks it (and
    // would store it again with its own).
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

/// Users whose password is stored with `m` KiB (and t=2, p=1).
async fn stored_with(app: &TestApp, m: u32) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$v=19$m={m},t=2,p=1$%'"
    );
    app.db.scalar(&sql).await
}

async fn breached_passwords_are_refused_when_the_check_is_on(backend: Backend) {
    let breached = "a long but breached passphrase";
    let fake = FakePwned::start(&[breached]);
    let app = spawn_app_with(backend, |s| {
        s.pwned_passwords.enabled = true;
        s.pwned_passwords.api_url = fake.base.clone();
    })
    .await;
    let (status, body) = problem(app.sign_up(&unique_email(), breached).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "password");
    assert!(body["detail"].as_str().unwrap().contains("breach"));
    assert_eq!(
        app.sign_up(&unique_email(), PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
}

async fn an_unreachable_breach_api_never_blocks_sign_up(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(backend, |s| {
        s.pwned_passwords.enabled = true;
        s.pwned_passwords.api_url = format!("http://127.0.0.1:{closed}");
        s.pwned_passwords.timeout_secs = 1;
    })
    .await;
    let email = unique_email();
    assert_eq!(
        app.sign_up(&email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    app.mail.wait_for(&email).await;
}

/// A breach API that accepts the connection and never answers: sign-ups
/// wait for its timeout, then go on without it; nobody else waits at all.
async fn a_hanging_breach_api_holds_up_only_sign_ups(backend: Backend) {
    let hanging = hanging_server().await;
    let app = spawn_app_with(backend, |s| {
        s.pwned_passwords.enabled = true;
        s.pwned_passwords.api_url = hanging;
        s.pwned_passwords.timeout_secs = 2;
    })
    .await;
    let someone = app.register(&unique_email(), PASSWORD).await;
    let emails: Vec<String> = (0..8).map(|_| unique_email()).collect();
    let sign_ups = emails.iter().map(|email| app.sign_up(email, PASSWORD));
    let (answers, took) = nothing_else_waits(&app, &someone.access, join_all(sign_ups)).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    assert!(took >= Duration::from_millis(1500), "they waited: {took:?}");
    assert!(
        took < Duration::from_secs(6),
        "bounded by the timeout: {took:?}"
    );
    for email in &emails {
        app.mail.wait_for(email).await;
    }
}

async fn cors_answers_listed_origins_only(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.cors_allowed_origins = vec!["https://app.example.com".into()]
    })
    .await;
    let allowed = app
        .preflight("https://app.example.com", &Method::POST, "/v1/sessions")
        .await;
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(allowed
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let refused = app
        .preflight("https://evil.example", &Method::POST, "/v1/sessions")
        .await;
    assert_no_cors_grant(&refused);

    let simple = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let headers = simple.headers();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}
