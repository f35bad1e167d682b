//! The token verifier for Rust services (`crates/portcullis-verifier`),
//! against the running service: the JWKS cache, key rotation, refusals,
//! introspection and the actix-web extractor.

use crate::backend_tests;
use crate::helpers::*;
use crate::metrics::{scrape, value};
use crate::services::service_client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_verifier::actix::Authenticated;
use portcullis_verifier::{Builder, Verifier, VerifyError};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

backend_tests!(
    a_token_verifies_and_shows_its_claims,
    the_key_set_is_cached_as_the_service_says,
    a_rotated_key_verifies_without_a_restart,
    bad_tokens_are_refused,
    introspection_refuses_an_ended_session,
    the_actix_extractor_guards_a_route,
    an_enrolment_only_token_is_refused,
);

/// A verifier for `app`, on the application's clock.
fn verifier_for(app: &TestApp) -> Builder {
    let clock = app.clock.clone();
    Verifier::builder(&app.settings.public_url, &app.settings.audience)
        .jwks_url(app.url("/.well-known/jwks.json"))
        .introspection_url(app.url("/v1/introspect"))
        .clock(move || system_time(portcullis::clock::Clock::now(&*clock)))
}

fn system_time(at: portcullis::store::Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(at.unix_millis()).unwrap())
}

/// How often the key set was served.
async fn jwks_fetches(app: &TestApp) -> f64 {
    let (_, scraped) = scrape(app).await;
    value(
        &scraped,
        "portcullis_http_requests_total",
        &[("route", "/.well-known/jwks.json")],
    )
}

fn with_metrics(settings: &mut portcullis::config::Settings) {
    settings.metrics_listen = Some("127.0.0.1:0".into());
}

async fn a_token_verifies_and_shows_its_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let me = app.me(&tokens.access).await;
    let session = app
        .get_json("/v1/sessions/current", Some(&tokens.access))
        .await;

    let claims = verifier_for(&app)
        .build()
        .unwrap()
        .verify(&tokens.access)
        .await
        .unwrap();
    assert_eq!(claims.sub.to_string(), me["id"].as_str().unwrap());
    assert_eq!(
        claims.sid.to_string(),
        session["session"]["id"].as_str().unwrap()
    );
    assert_eq!(claims.role, me["role"].as_str().unwrap());
    assert_eq!(claims.iss, app.settings.public_url);
    assert_eq!(claims.aud, app.settings.audience);
    assert_eq!(claims.aal.as_deref(), Some("aal1"));
    assert!(!claims.is_aal2());
    assert!(
        claims.amr.iter().any(|m| m == "otp" || m == "pwd"),
        "{:?}",
        claims.amr
    );
    assert!(claims.exp > claims.iat);
}

async fn the_key_set_is_cached_as_the_service_says(backend: Backend) {
    // A 2 s rotation lead makes the service say `max-age=1`.
    let app = spawn_app_with(backend, |s| {
        with_metrics(s);
        s.key_rotation_lead_secs = 2;
    })
    .await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let verifier = verifier_for(&app).build().unwrap();
    let before = jwks_fetches(&app).await;
    for _ in 0..5 {
        verifier.verify(&tokens.access).await.unwrap();
    }
    assert_eq!(
        jwks_fetches(&app).await - before,
        1.0,
        "fetched once, then cached"
    );
    // Stale: still answered from the cache, while one fetch in the
    // background replaces it.
    app.advance(Duration::from_millis(1500));
    verifier.verify(&tokens.access).await.unwrap();
    let mut fetched = 0.0;
    for _ in 0..100 {
        fetched = jwks_fetches(&app).await - before;
        if fetched >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fetched, 2.0, "fetched again after max-age");

    // Tokens naming a key nobody published make it fetch at most once per
    // `min_refetch_interval` (10 s by default), however many arrive.
    // On a clock that stands still, so the set never goes stale: every
    // fetch after the first would be one the forged kids caused.
    let frozen = system_time(app.now());
    let fresh = verifier_for(&app).clock(move || frozen).build().unwrap();
    let before = jwks_fetches(&app).await;
    fresh.verify(&tokens.access).await.unwrap();
    for n in 0..20 {
        let forged = with_header(
            &tokens.access,
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": format!("k{n}")}),
        );
        assert!(matches!(
            fresh.verify(&forged).await,
            Err(VerifyError::UnknownKey)
        ));
    }
    assert_eq!(
        jwks_fetches(&app).await - before,
        1.0,
        "no fetch for a forged kid"
    );
}

async fn a_rotated_key_verifies_without_a_restart(backend: Backend) {
    // The default rotation lead (600 s): the key set says max-age=300, and
    // tokens of the old key (15 min) outlive the lead.
    let app = spawn_app_with(backend, with_metrics).await;
    let admin = app.new_super_admin().await;
    let email = unique_email();
    let old = app.register(&email, PASSWORD).await;
    // On the system's clock, so the cached set stays fresh while the
    // service's clock moves past the rotation lead: only an unknown `kid`
    // makes it fetch again.
    let verifier = Verifier::builder(&app.settings.public_url, &app.settings.audience)
        .jwks_url(app.url("/.well-known/jwks.json"))
        .min_refetch_interval(Duration::ZERO)
        .build()
        .unwrap();
    verifier.verify(&old.access).await.unwrap();

    let response = app
        .client
        .post(app.url("/v1/admin/keys/rotate"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    app.advance(Duration::from_secs(601));
    let new = app.signed_in(&email).await;
    assert_ne!(
        kid_of(&new.access),
        kid_of(&old.access),
        "the new key signs"
    );

    let fetches = jwks_fetches(&app).await;
    let claims = verifier.verify(&new.access).await.unwrap();
    assert_eq!(claims.sub, verifier.verify(&old.access).await.unwrap().sub);
    assert_eq!(
        jwks_fetches(&app).await - fetches,
        1.0,
        "one fetch for the new kid"
    );
}

/// `token` with its header replaced (the signature no longer matches).
fn with_header(token: &str, header: Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// `token`'s payload under `header`, signed with HMAC-SHA256 and `secret`.
fn hmac_signed(token: &str, header: Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let payload = token.split('.').nth(1).unwrap();
    let signing_input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// `token` with its payload changed by `change` (signature kept).
fn with_claims(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

async fn bad_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let verifier = verifier_for(&app).build().unwrap();
    verifier.verify(&tokens.access).await.unwrap();
    let refused = |result: Result<_, VerifyError>| result.expect_err("refused");

    let promoted = with_claims(&tokens.access, |c| c["role"] = json!("SUPER-ADMIN"));
    assert!(matches!(
        refused(verifier.verify(&promoted).await),
        VerifyError::BadSignature
    ));
    let mut signature_flipped = tokens.access.clone();
    let at = signature_flipped.len() - 10;
    let flipped = if &signature_flipped[at..=at] == "A" {
        "B"
    } else {
        "A"
    };
    signature_flipped.replace_range(at..=at, flipped);
    assert!(matches!(
        refused(verifier.verify(&signature_flipped).await),
        VerifyError::BadSignature
    ));

    assert!(matches!(
        refused(verifier.verify(&tokens.refresh).await),
        VerifyError::Malformed
    ));
    assert!(matches!(
        refused(verifier.verify("").await),
        VerifyError::Malformed
    ));
    assert!(matches!(
        // Well-formed but past 4096 bytes: without the limit, an UnknownKey.
        refused(
            verifier
                .verify(&with_header(
                    &tokens.access,
                    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k".repeat(5000)})
                ))
                .await
        ),
        VerifyError::Malformed
    ));
    let kid = kid_of(&tokens.access);
    let unsigned = with_header(
        &tokens.access,
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
    );
    assert!(matches!(
        refused(verifier.verify(&unsigned).await),
        VerifyError::Malformed
    ));
    // The classic confusion: HMAC keyed with the published public key.
    let jwks = app.get_json("/.well-known/jwks.json", None).await;
    let public_key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let raw_key = URL_SAFE_NO_PAD
        .decode(public_key["x"].as_str().unwrap())
        .unwrap();
    for secret in [raw_key, public_key.to_string().into_bytes()] {
        let confused = hmac_signed(
            &tokens.access,
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &secret,
        );
        assert!(matches!(
            refused(verifier.verify(&confused).await),
            VerifyError::NotAnAccessToken
        ));
    }
    for header in [
        json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
    ] {
        let forged = with_header(&tokens.access, header);
        assert!(matches!(
            refused(verifier.verify(&forged).await),
            VerifyError::NotAnAccessToken
        ));
    }

    let elsewhere = verifier_for(&app);
    let other_audience = Verifier::builder(&app.settings.public_url, "billing")
        .jwks_url(app.url("/.well-known/jwks.json"))
        .build()
        .unwrap();
    assert!(matches!(
        refused(other_audience.verify(&tokens.access).await),
        VerifyError::WrongAudience
    ));
    let other_issuer = Verifier::builder("https://auth.elsewhere.example", &app.settings.audience)
        .jwks_url(app.url("/.well-known/jwks.json"))
        .build()
        .unwrap();
    assert!(matches!(
        refused(other_issuer.verify(&tokens.access).await),
        VerifyError::WrongIssuer
    ));

    // Expired by the verifier's clock: the token's lifetime and the
    // leeway later.
    let later = app.settings.access_token_ttl_secs + 6;
    let clock = app.clock.clone();
    let expired_for = elsewhere
        .clock(move || {
            system_time(portcullis::clock::Clock::now(&*clock)) + Duration::from_secs(later)
        })
        .build()
        .unwrap();
    assert!(matches!(
        refused(expired_for.verify(&tokens.access).await),
        VerifyError::Expired
    ));
}

async fn introspection_refuses_an_ended_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (client_id, secret) = service_client(&app, &admin).await;
    let verifier = verifier_for(&app)
        .introspection(&client_id, &secret)
        .introspection_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let email = unique_email();
    let seen = app.register(&email, PASSWORD).await;
    let unseen = app.signed_in(&email).await;
    verifier.verify(&seen.access).await.unwrap();

    let response = app.delete("/v1/sessions/current", &seen.access).await;
    assert!(response.status().is_success());
    let response = app.delete("/v1/sessions/current", &unseen.access).await;
    assert!(response.status().is_success());

    // Signatures cannot see a sign-out; introspection can, at once for a
    // token it has not asked about, within the ttl for one it has.
    assert!(verifier.verify_signed(&unseen.access).await.is_ok());
    assert!(matches!(
        verifier.verify(&unseen.access).await,
        Err(VerifyError::Inactive)
    ));
    assert!(
        verifier.verify(&seen.access).await.is_ok(),
        "the cached answer"
    );
    app.advance(Duration::from_secs(6));
    assert!(matches!(
        verifier.verify(&seen.access).await,
        Err(VerifyError::Inactive)
    ));

    // Wrong credentials are not a verdict on the token.
    let wrong = verifier_for(&app)
        .introspection(&client_id, "wrong")
        .build()
        .unwrap();
    let live = app.signed_in(&email).await;
    let error = wrong.verify(&live.access).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

#[actix_web::get("/orders")]
async fn orders(user: Authenticated) -> String {
    format!("orders of {}", user.sub)
}

async fn the_actix_extractor_guards_a_route(backend: Backend) {
    use actix_web::{web, App, HttpServer};
    let app = spawn_app(backend).await;
    let admin = app.new_super_admin().await;
    let (client_id, secret) = service_client(&app, &admin).await;
    let verifier = web::Data::new(
        verifier_for(&app)
            .introspection(&client_id, &secret)
            .introspection_ttl(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let unreachable = web::Data::new(
        Verifier::builder(&app.settings.public_url, &app.settings.audience)
            .jwks_url(format!("http://127.0.0.1:{}/jwks", free_port()))
            .build()
            .unwrap(),
    );
    let serve = |verifier: web::Data<Verifier>| {
        let server = HttpServer::new(move || App::new().app_data(verifier.clone()).service(orders))
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
        let url = format!("http://{}/orders", server.addrs()[0]);
        tokio::spawn(server.run());
        url
    };
    let introspection_down = web::Data::new(
        verifier_for(&app)
            .introspection(&client_id, &secret)
            .introspection_url(format!("http://127.0.0.1:{}/introspect", free_port()))
            .build()
            .unwrap(),
    );
    let (service, service_down) = (serve(verifier), serve(unreachable));
    let introspection_gone = serve(introspection_down);
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let me = app.me(&tokens.access).await;
    let call = |url: &str, token: Option<&str>| {
        let mut request = app.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let response = call(&service, Some(&tokens.access)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!("orders of {}", me["id"].as_str().unwrap())
    );

    let response = call(&service, None).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    for token in [tokens.refresh.as_str(), "garbage"] {
        let response = call(&service, Some(token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    for url in [&service_down, &introspection_gone] {
        let response = call(url, Some(&tokens.access)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(!response.headers().contains_key("www-authenticate"));
    }

    app.delete("/v1/sessions/current", &tokens.access).await;
    let response = call(&service, Some(&tokens.access)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "signed out");
}

async fn an_enrolment_only_token_is_refused(backend: Backend) {
    // Administrators must have a second factor; one without gets a token
    // that reaches factor enrolment only (audience `…:mfa-enrolment`).
    let app = spawn_app_with(backend, |s| {
        s.mfa.required_for_roles = vec![portcullis::domain::Role::SuperAdmin];
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    app.make_super_admin(&email).await;
    let response = app.sign_in(&email, PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_enrolment_required"], true);
    let restricted = body["access_token"].as_str().unwrap();
    let error = verifier_for(&app)
        .build()
        .unwrap()
        .verify(restricted)
        .await
        .unwrap_err();
    assert!(matches!(error, VerifyError::WrongAudience), "{error:?}");
}
