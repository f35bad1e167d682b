//! The token verifier when Portcullis is slow, down or rate-limits it: a
//! stale key set keeps verifying without waiting, an outage is "unavailable"
//! (503), never "unknown key" (401), and introspection backs off as asked.
//! Portcullis's answers go through a stand-in whose behaviour each test sets.

use crate::backend_tests;
use crate::helpers::*;
use crate::services::service_client;
use portcullis_verifier::{Verifier, VerifyError};
use serde_json::json;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

backend_tests!(
    a_stale_key_set_verifies_at_once_while_portcullis_hangs,
    an_outage_is_unavailable_not_an_unknown_key,
    introspection_is_shared_and_backs_off_when_rate_limited,
    a_fetch_dropped_with_its_runtime_does_not_wedge_the_cache,
);

/// What the stand-in answers.
#[derive(Clone)]
enum Mode {
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        delay: Duration,
    },
    /// Accepts the request and never answers.
    Hang,
}

#[derive(Clone)]
struct Upstream {
    url: String,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
}

impl Upstream {
    fn start(mode: Mode) -> Self {
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, counted) = (mode.clone(), requests.clone());
        let base = serve_stand_in(move |config| {
            let (mode, requests) = (shared.clone(), counted.clone());
            config.default_service(actix_web::web::to(move || {
                let (mode, requests) = (mode.clone(), requests.clone());
                async move {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let current = mode.lock().unwrap().clone();
                    match current {
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            actix_web::HttpResponse::GatewayTimeout().finish()
                        }
                        Mode::Answer {
                            status,
                            headers,
                            body,
                            delay,
                        } => {
                            tokio::time::sleep(delay).await;
                            let status = actix_web::http::StatusCode::from_u16(status).unwrap();
                            let mut response = actix_web::HttpResponse::build(status);
                            for (name, value) in headers {
                                response.insert_header((name, value));
                            }
                            response.content_type("application/json").body(body)
                        }
                    }
                }
            }));
        });
        Self {
            url: format!("{base}/upstream"),
            mode,
            requests,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Mode {
    Mode::Answer {
        status,
        headers,
        body,
        delay: Duration::ZERO,
    }
}

/// A clock that starts at the application's now and moves when told.
#[derive(Clone)]
struct TestClock {
    start: SystemTime,
    offset_secs: Arc<AtomicU64>,
}

impl TestClock {
    fn at(app: &TestApp) -> Self {
        let millis = u64::try_from(app.now().unix_millis()).unwrap();
        Self {
            start: UNIX_EPOCH + Duration::from_millis(millis),
            offset_secs: Arc::new(AtomicU64::new(0)),
        }
    }

    fn advance(&self, secs: u64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    fn reader(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.start + Duration::from_secs(clock.offset_secs.load(Ordering::SeqCst))
    }
}

/// Waits (briefly, polling) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// Portcullis's key set, served by the stand-in with `max-age=60`.
async fn key_set_upstream(app: &TestApp) -> (Upstream, Mode) {
    let jwks = app.get_json("/.well-known/jwks.json", None).await;
    let serving = answer(
        200,
        vec![("cache-control", "public, max-age=60".into())],
        jwks.to_string(),
    );
    (Upstream::start(serving.clone()), serving)
}

async fn a_stale_key_set_verifies_at_once_while_portcullis_hangs(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let (upstream, _) = key_set_upstream(&app).await;
    let clock = TestClock::at(&app);
    let verifier = Verifier::builder(&app.settings.public_url, &app.settings.audience)
        .jwks_url(&upstream.url)
        .timeout(Duration::from_secs(5))
        .clock(clock.reader())
        .build()
        .unwrap();
    verifier.verify(&tokens.access).await.unwrap();
    assert_eq!(upstream.requests(), 1);

    // Stale, and Portcullis takes the request but never answers: every
    // verification is answered from the stale set without waiting for the
    // fetch (which would take the whole 5 s timeout), and only one fetch
    // is under way however many verifications see the set stale.
    upstream.set(Mode::Hang);
    clock.advance(61);
    let verifications = (0..20).map(|_| verifier.verify(&tokens.access));
    let results = tokio::time::timeout(
        Duration::from_secs(2),
        futures_util::future::join_all(verifications),
    )
    .await
    .expect("no verification waited for the hanging fetch");
    assert!(results.iter().all(Result::is_ok));
    eventually("the background fetch reached the service", || {
        upstream.requests() == 2
    })
    .await;
    verifier.verify(&tokens.access).await.unwrap();
    assert_eq!(
        upstream.requests(),
        2,
        "one fetch under way, not one per call"
    );
}

async fn an_outage_is_unavailable_not_an_unknown_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let (upstream, serving) = key_set_upstream(&app).await;
    let clock = TestClock::at(&app);
    let verifier = Verifier::builder(&app.settings.public_url, &app.settings.audience)
        .jwks_url(&upstream.url)
        .max_stale(Duration::from_secs(120))
        .clock(clock.reader())
        .build()
        .unwrap();
    verifier.verify(&tokens.access).await.unwrap();
    let forged = |n: u32| {
        let (_, rest) = tokens.access.split_once('.').unwrap();
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": format!("new-{n}")});
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
        format!("{header}.{rest}")
    };
    // While the set is known good, a kid it lacks is an unknown key.
    assert!(matches!(
        verifier.verify(&forged(0)).await,
        Err(VerifyError::UnknownKey)
    ));

    // Portcullis fails (503). Stale but within max_stale: known keys still
    // verify; a kid the set lacks may be a key published since, so that is
    // "unavailable" (a 503 for the caller), not a refusal.
    upstream.set(answer(503, vec![], "{}".into()));
    clock.advance(61);
    verifier.verify(&tokens.access).await.unwrap();
    eventually("the refresh failed", || upstream.requests() == 2).await;
    let error = verifier.verify(&forged(1)).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");

    // Past max_stale the old set is not trusted any more.
    clock.advance(121);
    let error = verifier.verify(&tokens.access).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");

    // During the outage nobody waited on a retry; back, the next retry
    // (after the refetch interval, in the background) restores it.
    upstream.set(serving);
    clock.advance(11);
    recovers(&verifier, &tokens.access).await;
}

/// Verifies `token` until it passes (the retry runs in the background).
async fn recovers(verifier: &Verifier, token: &str) {
    for _ in 0..100 {
        match verifier.verify(token).await {
            Ok(_) => return,
            Err(error) => assert!(error.is_unavailable(), "{error:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the verifier did not recover");
}

async fn a_fetch_dropped_with_its_runtime_does_not_wedge_the_cache(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let (upstream, serving) = key_set_upstream(&app).await;
    upstream.set(Mode::Hang);
    let clock = TestClock::at(&app);
    let verifier = Arc::new(
        Verifier::builder(&app.settings.public_url, &app.settings.audience)
            .jwks_url(&upstream.url)
            .clock(clock.reader())
            .build()
            .unwrap(),
    );
    // A short-lived runtime (a CLI command, a test) starts the first fetch
    // and goes away while Portcullis has not answered.
    let (shared, token) = (verifier.clone(), tokens.access.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let gave_up = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(300), shared.verify(&token)).await
        });
        assert!(gave_up.is_err(), "still waiting for the hanging fetch");
    })
    .join()
    .unwrap();
    upstream.set(serving);
    clock.advance(11);
    recovers(&verifier, &tokens.access).await;
}

async fn introspection_is_shared_and_backs_off_when_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (client_id, secret) = service_client(&app, &admin).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let upstream = Upstream::start(Mode::Answer {
        status: 200,
        headers: vec![],
        body: json!({"active": true}).to_string(),
        delay: Duration::from_millis(300),
    });
    let clock = TestClock::at(&app);
    let verifier = Verifier::builder(&app.settings.public_url, &app.settings.audience)
        .jwks_url(app.url("/.well-known/jwks.json"))
        .introspection(&client_id, &secret)
        .introspection_url(&upstream.url)
        .introspection_ttl(Duration::from_secs(5))
        .clock(clock.reader())
        .build()
        .unwrap();

    // Ten verifications of one token at once: one call.
    let all =
        futures_util::future::join_all((0..10).map(|_| verifier.verify(&tokens.access))).await;
    assert!(all.iter().all(Result::is_ok), "{all:?}");
    assert_eq!(upstream.requests(), 1, "one introspection for one jti");

    // Rate-limited: unavailable (not "inactive"), and no call at all until
    // Retry-After has passed.
    upstream.set(answer(429, vec![("retry-after", "30".into())], "{}".into()));
    clock.advance(6);
    let error = verifier.verify(&tokens.access).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    for _ in 0..5 {
        assert!(verifier
            .verify(&tokens.access)
            .await
            .unwrap_err()
            .is_unavailable());
    }
    assert_eq!(upstream.requests(), 2, "quiet while Portcullis asked");
    upstream.set(answer(200, vec![], json!({"active": false}).to_string()));
    clock.advance(31);
    assert!(matches!(
        verifier.verify(&tokens.access).await,
        Err(VerifyError::Inactive)
    ));
    assert_eq!(upstream.requests(), 3);
}
