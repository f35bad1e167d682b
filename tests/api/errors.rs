use crate::backend_tests;
use crate::helpers::*;
use crate::metrics::{scrape, value};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

backend_tests!(
    unknown_routes_are_404_problems,
    wrong_methods_are_405_with_allow,
    bodies_must_be_json_of_bounded_size,
    malformed_and_hostile_input_gets_a_4xx,
    responses_carry_security_headers,
    health_probes_answer,
    database_outage_fails_fast_and_recovers,
    a_database_restart_while_idle_costs_no_request,
    docs_and_spec_are_served,
);

async fn unknown_routes_are_404_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/v1/nope", "/v1/users/me/extra", "/v2/users"] {
        let (status, body) = problem(app.get(path, None).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["instance"], path);
    }
}

async fn wrong_methods_are_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (reqwest::Method::GET, "/v1/users", "POST"),
        (
            reqwest::Method::PUT,
            "/v1/sessions/current",
            "GET, DELETE, HEAD",
        ),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET, HEAD"),
        (
            reqwest::Method::from_bytes(b"TRACE").unwrap(),
            "/v1/sessions",
            "POST, GET, DELETE, HEAD",
        ),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let mut allowed: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(String::from)
            .collect();
        allowed.sort();
        let mut expected: Vec<&str> = allow.split(", ").collect();
        expected.sort();
        assert_eq!(allowed, expected, "{method} {path}");
        let (status, _) = problem(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

async fn bodies_must_be_json_of_bounded_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"email": unique_email(), "password": PASSWORD}).to_string();
    let plain = app
        .client
        .post(app.url("/v1/users"))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(plain).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let untyped = app
        .client
        .post(app.url("/v1/sessions"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(untyped).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = json!({"email": unique_email(), "password": "x".repeat(70 * 1024)});
    let (status, _) = problem(app.post_json("/v1/users", &huge).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let two_mib = app
        .client
        .post(app.url("/v1/sessions"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(problem(two_mib).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    let problem_json = app
        .client
        .post(app.url("/v1/sessions"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"email": unique_email(), "password": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem_json.status(),
        StatusCode::UNAUTHORIZED,
        "+json types are JSON"
    );
}

async fn malformed_and_hostile_input_gets_a_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    let raw = |body: &'static [u8]| {
        app.client
            .post(app.url("/v1/sessions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        &b"{"[..],
        b"",
        b"null",
        b"[]",
        b"\"just a string\"",
        b"{\"email\": \"a@b.co\", \"password\": \"x\"} trailing",
        b"{\"email\": \"a@b.co\", \"password\": \"\xff\xfe\"}",
        b"{\"email\": \"a@b.co\", \"email\": \"c@d.co\", \"password\": \"x\"}",
    ] {
        let (status, _) = problem(raw(body).await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let response = app
        .client
        .post(app.url("/v1/sessions"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.0, StatusCode::BAD_REQUEST);

    for hostile in [
        "' OR 1=1--",
        "\"; DROP TABLE users; --",
        "a@b.co' OR '1'='1",
    ] {
        for path in ["/v1/sessions", "/v1/users", "/v1/email-verification-codes"] {
            let body = json!({"email": hostile, "username": hostile, "password": hostile, "action": "verify_email"});
            let status = app.post_json(path, &body).await.status();
            assert!(status.is_client_error(), "{path} {hostile}: {status}");
        }
        let response = app
            .post_json(
                "/v1/sessions",
                &json!({"username": "admin", "password": hostile}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn responses_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for response in [
        app.get("/health/live", None).await,
        app.sign_in(&unique_email(), PASSWORD).await,
        app.get("/nowhere", None).await,
    ] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers.get("server").is_none(), "no version banner");
        assert!(headers.contains_key("cache-control"));
    }
}

async fn health_probes_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let live: serde_json::Value = app.get_json("/health/live", None).await;
    assert_eq!(live["status"], "ok");
    let response = app.get("/health/ready", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ready: serde_json::Value = response.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], expected);
}

/// PostgreSQL only: an embedded SQLite file cannot become unreachable.
async fn database_outage_fails_fast_and_recovers(backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let (relay, app) = behind_a_relay(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    relay.stop().await;

    // The first wave of requests to need the database (more of them than
    // the pool holds, 5 here) waits the acquire timeout (3 s by default:
    // sqlx retries the connection until then) and no longer. Meanwhile the
    // pool's gauge shows them waiting.
    let started = Instant::now();
    let wave = futures_util::future::join_all((0..12).map(|_| app.sign_in(&email, PASSWORD)));
    let watch = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let asked = Instant::now();
        let metrics = scrape(&app).await.1;
        // A scrape does not wait for the database like the requests do.
        assert!(
            asked.elapsed() < Duration::from_millis(1500),
            "scraped in {:?}",
            asked.elapsed()
        );
        let waiting = value(
            &metrics,
            "portcullis_db_connections",
            &[("state", "waiting")],
        );
        assert!(waiting >= 1.0, "requests wait for a connection: {waiting}");
        assert_eq!(value(&metrics, "portcullis_db_unreachable", &[]), 0.0);
    };
    let (answers, ()) = tokio::join!(wave, watch);
    assert!(started.elapsed() < Duration::from_secs(10), "bounded wait");
    let mut first_wave = Vec::new();
    for answer in answers {
        first_wave.push(problem(answer).await);
    }
    let metrics = scrape(&app).await.1;
    assert_eq!(value(&metrics, "portcullis_db_unreachable", &[]), 1.0);

    // From then on the service knows: every request that needs the database
    // gets its 503 at once, well inside the acquire timeout it would
    // otherwise wait each time.
    let started = Instant::now();
    let burst = (0..4).map(|_| async {
        let answers = [
            app.get("/health/ready", None).await,
            app.get("/v1/users/me", Some(&tokens.access)).await,
            app.sign_in(&email, PASSWORD).await,
            app.refresh(&tokens.refresh).await,
        ];
        let mut problems = Vec::new();
        for answer in answers {
            assert!(answer.headers().contains_key("retry-after"));
            problems.push(problem(answer).await);
        }
        problems
    });
    let problems: Vec<_> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "refused without waiting: {:?}",
        started.elapsed()
    );
    for (status, body) in problems.iter().chain(&first_wave) {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.get("detail").is_none(), "a 5xx carries no details");
        let text = body.to_string();
        for internal in ["sqlx", "postgres", "Postgres", "pool", "database \""] {
            assert!(!text.contains(internal), "{text}");
        }
    }
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK);

    // Back without a restart, and nothing was changed by the refusals: the
    // refresh token refused during the outage still rotates.
    relay.resume().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/health/ready", None).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let metrics = scrape(&app).await.1;
    assert_eq!(value(&metrics, "portcullis_db_unreachable", &[]), 0.0);
}

async fn docs_and_spec_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec: serde_json::Value = app.get_json("/openapi.json", None).await;
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/sessions/refresh"]["post"].is_object());
    let page = app.get("/docs", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("/v1/sessions/refresh"));
}

/// An application that reaches PostgreSQL through a relay the test can
/// stop, with its metrics listener on.
async fn behind_a_relay(backend: Backend) -> (Relay, TestApp) {
    let relay = Relay::start(&postgres_admin_url()).await;
    let app = spawn_app_with(backend, |settings| {
        settings.database_url = relay.url_for(&settings.database_url).into();
        settings.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    (relay, app)
}

/// The database restarts while the service is idle: every pooled
/// connection the server closed is dead, yet no request pays for it. This
/// guards the pool's settings: connections are not pinged before each use
/// (sqlx notices the ones the server closed and drops them; only one idle
/// for a second or more is pinged first).
async fn a_database_restart_while_idle_costs_no_request(backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let (relay, app) = behind_a_relay(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    // Fill the pool with idle connections.
    let burst = (0..5).map(|_| app.get("/v1/users/me", Some(&tokens.access)));
    futures_util::future::join_all(burst).await;
    relay.stop().await;
    relay.resume().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let burst = (0..5).map(|_| app.get("/v1/users/me", Some(&tokens.access)));
    for answer in futures_util::future::join_all(burst).await {
        assert_eq!(answer.status(), StatusCode::OK);
    }
}
