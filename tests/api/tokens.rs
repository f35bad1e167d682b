use crate::backend_tests;
use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

backend_tests!(
    jwks_publishes_only_public_keys,
    access_tokens_verify_with_the_raw_jwks_key_alone,
    discovery_names_issuer_and_keys,
    forged_and_tampered_tokens_are_refused,
    tokens_of_another_deployment_are_refused,
    expired_access_tokens_are_refused,
    instances_on_one_database_share_keys_and_sessions,
);

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json().await.unwrap()
}

async fn jwks_publishes_only_public_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let set = jwks(&app).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(!key.contains_key(private), "{private} published");
    }
}

/// The claims of an access token verified with ed25519-dalek and the JWK's
/// `x` from the JWKS only: no JWT library, no shared code with the server.
pub(crate) async fn verified_claims(app: &TestApp, access: &str) -> Value {
    let set = jwks(app).await;
    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_part(parts[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let key = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let verifying = VerifyingKey::from_bytes(&x).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("valid signature");
    decode_part(parts[1])
}

/// Verifies with ed25519-dalek and the JWK's `x` only: no JWT library, no
/// shared code with the server.
async fn access_tokens_verify_with_the_raw_jwks_key_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let claims = verified_claims(&app, &tokens.access).await;
    assert_eq!(claims["iss"], "http://127.0.0.1");
    assert_eq!(claims["aud"], "portcullis");
    assert_eq!(claims["sub"], tokens.user_id.as_str());
    assert_eq!(claims["sid"], tokens.session_id.as_str());
    assert_eq!(claims["role"], "VIEWER");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].is_string());
    assert!(
        !claims.to_string().contains(&email),
        "no personal data in the token"
    );
}

async fn discovery_names_issuer_and_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .get_json("/.well-known/openid-configuration", None)
        .await;
    assert_eq!(doc["issuer"], "http://127.0.0.1");
    assert_eq!(doc["jwks_uri"], "http://127.0.0.1/.well-known/jwks.json");
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
}

fn hs256(key: &[u8], header: &Value, claims: &Value) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
}

fn eddsa(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{signed}.{}", b64(&key.sign(signed.as_bytes()).to_bytes()))
}

async fn forged_and_tampered_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    // The genuine token is used first: it is now among the verified tokens
    // the service remembers, and no forgery below may ride on that.
    app.me(&tokens.access).await;
    let set = jwks(&app).await;
    let x = set["keys"][0]["x"].as_str().unwrap().to_string();
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let header = decode_part(parts[0]);
    let kid = header["kid"].as_str().unwrap().to_string();
    let mut claims = decode_part(parts[1]);
    claims["role"] = json!("SUPER-ADMIN");

    let attacker = SigningKey::from_bytes(&[7u8; 32]);
    let attacker_x = b64(attacker.verifying_key().as_bytes());
    let forgeries = vec![
        // alg=none
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "at+jwt", "kid": kid})
                .to_string()
                .as_bytes()),
            b64(claims.to_string().as_bytes())
        ),
        // HS256 keyed with the public key (key confusion)
        hs256(
            x.as_bytes(),
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &claims,
        ),
        hs256(
            &URL_SAFE_NO_PAD.decode(&x).unwrap(),
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &claims,
        ),
        // the remembered token, one character longer or its signature's
        // last character changed
        format!("{}A", tokens.access),
        {
            let mut flipped = tokens.access.clone();
            let last = flipped.pop().unwrap();
            flipped.push(if last == 'A' { 'B' } else { 'A' });
            flipped
        },
        // signature stripped
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        // payload changed, signature kept
        format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        ),
        // signed by an attacker, with their key embedded or named
        eddsa(
            &attacker,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid,
                    "jwk": {"kty": "OKP", "crv": "Ed25519", "x": attacker_x}}),
            &claims,
        ),
        eddsa(
            &attacker,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "attacker",
                    "jku": "https://evil.example/jwks.json"}),
            &claims,
        ),
        // hostile key ids
        eddsa(
            &attacker,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../etc/passwd"}),
            &claims,
        ),
        eddsa(
            &attacker,
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "' OR 1=1--"}),
            &claims,
        ),
        // a genuine token presented as another type
        format!(
            "{}.{}.{}",
            b64(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})
                .to_string()
                .as_bytes()),
            parts[1],
            parts[2]
        ),
    ];
    for forged in forgeries {
        let (status, _) = problem(app.get("/v1/users/me", Some(&forged)).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    }
    assert_eq!(
        app.get("/v1/users/me", Some(&tokens.access)).await.status(),
        StatusCode::OK
    );
}

async fn tokens_of_another_deployment_are_refused(backend: Backend) {
    let ours = spawn_app(backend).await;
    let theirs = spawn_app(backend).await;
    let tokens = theirs.register(&unique_email(), PASSWORD).await;
    let (status, _) = problem(ours.get("/v1/users/me", Some(&tokens.access)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn expired_access_tokens_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        // Long enough that the fresh token below outlives a loaded machine's
        // pauses in real time; the first one expires by the moved clock.
        s.access_token_ttl_secs = 10;
        s.jwt_leeway_secs = 0;
    })
    .await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    app.advance(Duration::from_millis(10_100));
    let (status, _) = problem(app.get("/v1/users/me", Some(&tokens.access)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The session lives on: a refresh gives a fresh access token.
    let fresh = Tokens::from_body(&app.refresh(&tokens.refresh).await.json().await.unwrap());
    assert_eq!(
        app.get("/v1/users/me", Some(&fresh.access)).await.status(),
        StatusCode::OK
    );
}

async fn instances_on_one_database_share_keys_and_sessions(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = first.second_instance().await;
    let jwks_first = jwks(&first).await;
    let jwks_second: Value = second.get_json("/.well-known/jwks.json", None).await;
    assert_eq!(jwks_first, jwks_second, "one key set for every instance");

    let tokens = first.register(&unique_email(), PASSWORD).await;
    let me_on_second = |token: String| {
        let request = first
            .client
            .get(second.url("/v1/users/me"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me_on_second(tokens.access.clone()).await, StatusCode::OK);
    assert_eq!(
        first
            .delete("/v1/sessions/current", &tokens.access)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        me_on_second(tokens.access.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a sign-out on one instance is seen by the other at once"
    );

    // The other instance remembers live sessions between requests; a
    // profile change, a ban and a demotion on one hold on the other at once.
    let admin = first.new_super_admin().await;
    let user = first.register(&unique_email(), PASSWORD).await;
    assert_eq!(me_on_second(user.access.clone()).await, StatusCode::OK);
    let patched = first
        .patch_me(&user.access, &json!({"city": "London"}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let profile = second.get_json("/v1/users/me", Some(&user.access)).await;
    assert_eq!(profile["city"], "London", "{profile}");
    let banned = first
        .client
        .post(first.url(&format!("/v1/admin/users/{}/ban", user.user_id)))
        .bearer_auth(&admin.access)
        .json(&json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert!(banned.status().is_success(), "{}", banned.status());
    assert_eq!(
        me_on_second(user.access.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a ban on one instance is seen by the other at once"
    );
    let (_, editor) = first.user_with_role(&admin, "ADMIN").await;
    let users_on_second = |token: String| {
        let request = first
            .client
            .get(second.url("/v1/admin/users"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(users_on_second(editor.access.clone()).await, StatusCode::OK);
    let demoted = first
        .client
        .patch(first.url(&format!("/v1/admin/users/{}", editor.user_id)))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "VIEWER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), StatusCode::OK);
    assert_ne!(
        users_on_second(editor.access.clone()).await,
        StatusCode::OK,
        "a demotion on one instance is seen by the other at once"
    );
}
