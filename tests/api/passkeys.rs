//! Passkeys, black-box: a real software authenticator (1Password's
//! `passkey-authenticator`, P-256 keys, CBOR/COSE) behind a WebAuthn client
//! (`passkey-client`, which builds and checks client data as a browser
//! does) runs every ceremony against the API; nothing of the service's own
//! WebAuthn code is used on this side.

use crate::backend_tests;
use crate::helpers::*;
use crate::mfa::enrolled_user;
use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::AvailableBackend;
use passkey_types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::StatusCode as CtapStatus;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::PublicKeyCredentialDescriptor;
use passkey_types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use url::Url;

backend_tests!(
    register_then_sign_in_without_a_password,
    wrong_origins_and_relying_parties_are_refused,
    a_ceremony_is_used_once,
    passwordless_sign_in_needs_user_verification,
    a_cloned_authenticator_is_flagged_and_audited,
    a_passkey_completes_the_second_step_of_a_sign_in,
    a_passkey_steps_up_a_session,
    options_from_one_instance_verify_on_another,
    the_last_way_to_sign_in_stays_and_administrators_remove_passkeys,
    a_password_session_of_a_passkey_account_adds_and_removes_nothing,
    options_for_unknown_addresses_look_like_real_ones,
    the_limit_holds_for_options_handed_out_earlier,
    a_flagged_passkey_is_no_way_to_sign_in,
);

/// Every check of the user passes, with verification (a PIN or biometric).
struct VerifiedUser;

#[async_trait::async_trait]
impl UserValidationMethod for VerifiedUser {
    type PasskeyItem = passkey_types::Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// The authenticator's keys. Unlike the crate's `MemoryStore` it finds
/// discoverable credentials by relying party when no list is given, as a
/// platform authenticator does.
#[derive(Clone, Default)]
struct Keys(HashMap<Vec<u8>, passkey_types::Passkey>);

#[async_trait::async_trait]
impl CredentialStore for Keys {
    type PasskeyItem = passkey_types::Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Self::PasskeyItem>, CtapStatus> {
        let found: Vec<_> = match ids.filter(|ids| !ids.is_empty()) {
            Some(ids) => ids
                .iter()
                .filter_map(|d| self.0.get(&*d.id))
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
            None => self
                .0
                .values()
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
        };
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        cred: passkey_types::Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), CtapStatus> {
        self.0.insert(cred.credential_id.to_vec(), cred);
        Ok(())
    }

    async fn update_credential(&mut self, cred: &Self::PasskeyItem) -> Result<(), CtapStatus> {
        self.0.insert(cred.credential_id.to_vec(), cred.clone());
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::ForcedDiscoverable,
        }
    }
}

type SoftClient = Client<Keys, VerifiedUser, AvailableBackend, public_suffix::PublicSuffixList, ()>;

/// A device with a platform authenticator, at a web origin.
pub(crate) struct Device {
    client: SoftClient,
    origin: Url,
}

impl Device {
    pub(crate) fn at(origin: &str) -> Self {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            Keys::default(),
            VerifiedUser,
            AvailableBackend,
        );
        // Counters, so that a clone can show.
        authenticator.set_make_credentials_with_signature_counter(true);
        Self {
            client: Client::new(authenticator).allows_insecure_localhost(true),
            origin: Url::parse(origin).unwrap(),
        }
    }

    /// `navigator.credentials.create()` with the API's options, as JSON.
    async fn create(&mut self, options: &Value) -> Value {
        let request: CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options })).expect("creation options");
        let created = self
            .client
            .register(&self.origin, request, DefaultClientData)
            .await
            .expect("the authenticator makes a credential");
        serde_json::to_value(created).unwrap()
    }

    /// `navigator.credentials.get()` with the API's options, as JSON.
    async fn get(&mut self, options: &Value) -> Value {
        let request: CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options })).expect("request options");
        let asserted = self
            .client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .expect("the authenticator signs");
        serde_json::to_value(asserted).unwrap()
    }

    /// A copy of the device's keys (and counters) as they are now.
    fn snapshot(&self) -> Keys {
        self.client.authenticator().store().clone()
    }

    fn restore(&mut self, store: Keys) {
        *self.client.authenticator_mut().store_mut() = store;
    }
}

const ORIGIN: &str = "http://localhost:8443";

async fn passkey_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.passkeys.rp_id = "localhost".into();
        settings.passkeys.origins = vec![ORIGIN.into(), "https://other.test".into()];
    })
    .await
}

/// Registers a passkey of `device` for the signed-in `access`.
async fn register(app: &TestApp, access: &str, device: &mut Device) -> Value {
    let options = registration_options(app, access).await;
    let credential = device.create(&options["options"]).await;
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let response = app
        .send(
            Method::POST,
            "/v1/users/me/passkeys/registration/verify",
            access,
            body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn registration_options(app: &TestApp, access: &str) -> Value {
    let path = "/v1/users/me/passkeys/registration/options";
    let response = app.send(Method::POST, path, access, json!({})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn sign_in_options(app: &TestApp, body: Value) -> Value {
    let response = app
        .post_json("/v1/passkeys/authentication/options", &body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A passwordless sign-in with `device`: a recent `aal2` session, which may
/// add and remove passkeys.
async fn passkey_session(app: &TestApp, device: &mut Device) -> Tokens {
    let options = sign_in_options(app, json!({})).await;
    let response = sign_in_with(app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    Tokens::from_body(&response.json().await.unwrap())
}

/// A passkey step-up of the session of `access`: options, the device's
/// answer, `POST /v1/sessions/current/step-up`.
async fn step_up_with(app: &TestApp, access: &str, device: &mut Device) -> reqwest::Response {
    let path = "/v1/sessions/current/step-up/options";
    let response = app.send(Method::POST, path, access, json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let options: Value = response.json().await.unwrap();
    let credential = device.get(&options["options"]).await;
    let step = json!({"challenge_id": options["challenge_id"], "credential": credential});
    app.send(Method::POST, "/v1/sessions/current/step-up", access, step)
        .await
}

async fn sign_in_with(app: &TestApp, options: &Value, credential: Value) -> reqwest::Response {
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    app.post_json("/v1/passkeys/authentication/verify", &body)
        .await
}

async fn register_then_sign_in_without_a_password(backend: Backend) {
    let app = passkey_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    let options = registration_options(&app, &tokens.access).await;
    let public_key = &options["options"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["attestation"], "none");
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    let handle = public_key["user"]["id"].as_str().unwrap();
    assert!(!handle.is_empty());
    let credential = device.create(public_key).await;
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential, "name": "Laptop"});
    let path = "/v1/users/me/passkeys/registration/verify";
    let response = app.send(Method::POST, path, &tokens.access, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let passkey: Value = response.json().await.unwrap();
    assert_eq!(passkey["name"], "Laptop");
    assert!(noticed(&app, &email, "A passkey was added").await);

    // The random user handle is not the user id.
    let user_id = uuid::Uuid::parse_str(&tokens.user_id).unwrap();
    let handle_bytes = data_encoding::BASE64URL_NOPAD
        .decode(handle.as_bytes())
        .unwrap();
    assert_ne!(handle_bytes, user_id.as_bytes());

    // With a passkey, adding another takes a recent second factor; then the
    // options exclude the first credential.
    let path = "/v1/users/me/passkeys/registration/options";
    let response = app
        .send(Method::POST, path, &tokens.access, json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let strong = passkey_session(&app, &mut device).await;
    let again = registration_options(&app, &strong.access).await;
    assert_eq!(
        again["options"]["excludeCredentials"][0]["id"],
        passkey["credential_id"]
    );

    // By address: the account's passkeys are listed.
    let options = sign_in_options(&app, json!({"email": email})).await;
    assert_eq!(
        options["options"]["allowCredentials"][0]["id"],
        passkey["credential_id"]
    );
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aal"], "aal2");
    let amr = amr_of(&claims);
    assert!(amr.contains(&"user") && amr.contains(&"mfa"), "{amr:?}");
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");

    // Discoverable: no address at all.
    let options = sign_in_options(&app, json!({})).await;
    assert!(options["options"]
        .get("allowCredentials")
        .is_none_or(|a| a.as_array().unwrap().is_empty()));
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["id"], tokens.user_id.as_str());

    // An unknown address gets a stand-in credential, the same every time.
    let unknown = unique_email();
    let first = sign_in_options(&app, json!({"email": unknown})).await;
    let second = sign_in_options(&app, json!({"email": unknown})).await;
    let stand_in = &first["options"]["allowCredentials"][0]["id"];
    assert!(stand_in.is_string());
    assert_eq!(stand_in, &second["options"]["allowCredentials"][0]["id"]);

    let listed = app
        .get_json("/v1/users/me/passkeys", Some(&tokens.access))
        .await;
    assert_eq!(listed["passkeys"][0]["id"], passkey["id"]);
    assert!(listed["passkeys"][0]["last_used_at"].is_string());
    let export = app
        .get_json("/v1/users/me/export", Some(&tokens.access))
        .await;
    assert_eq!(
        export["passkeys"][0]["credential_id"],
        passkey["credential_id"]
    );
    assert!(
        !export.to_string().contains("\"credential\":"),
        "no key material"
    );
}

async fn wrong_origins_and_relying_parties_are_refused(backend: Backend) {
    let app = passkey_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let path = "/v1/users/me/passkeys/registration/verify";

    // Another origin (a subdomain is not the listed origin).
    let options = registration_options(&app, &tokens.access).await;
    let credential = Device::at("http://evil.localhost:8443")
        .create(&options["options"])
        .await;
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let (status, refusal) = problem(app.send(Method::POST, path, &tokens.access, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");

    // An allowed origin signing for another relying party.
    let mut options = registration_options(&app, &tokens.access).await;
    options["options"]["rp"]["id"] = json!("other.test");
    let credential = Device::at("https://other.test")
        .create(&options["options"])
        .await;
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let (status, _) = problem(app.send(Method::POST, path, &tokens.access, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A registered passkey used from another origin does not sign in.
    let mut device = Device::at(ORIGIN);
    register(&app, &tokens.access, &mut device).await;
    let options = sign_in_options(&app, json!({})).await;
    let store = device.snapshot();
    let mut elsewhere = Device::at("http://evil.localhost:8443");
    elsewhere.restore(store);
    let response = sign_in_with(&app, &options, elsewhere.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn a_ceremony_is_used_once(backend: Backend) {
    let app = passkey_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    register(&app, &tokens.access, &mut device).await;
    let options = sign_in_options(&app, json!({})).await;
    let credential = device.get(&options["options"]).await;
    let first = sign_in_with(&app, &options, credential.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let (status, refusal) = problem(sign_in_with(&app, &options, credential).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refusal["errors"][0]["field"], "challenge_id");

    // An expired ceremony is refused too.
    let options = sign_in_options(&app, json!({})).await;
    let credential = device.get(&options["options"]).await;
    app.advance(Duration::from_secs(301));
    let (status, _) = problem(sign_in_with(&app, &options, credential).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn passwordless_sign_in_needs_user_verification(backend: Backend) {
    let app = passkey_app(backend).await;
    let root = app.new_super_admin().await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    register(&app, &tokens.access, &mut device).await;
    let mut options = sign_in_options(&app, json!({"email": email})).await;
    // The client asks the authenticator for presence only.
    options["options"]["userVerification"] = json!("discouraged");
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The refusal is audited for the account the options named.
    let events = app
        .get_json(
            "/v1/admin/audit-events?type=sign_in.failed",
            Some(&root.access),
        )
        .await;
    let event = &events["events"][0];
    assert_eq!(event["user_id"], tokens.user_id.as_str());
    assert_eq!(event["details"]["method"], "passkey");
}

async fn a_cloned_authenticator_is_flagged_and_audited(backend: Backend) {
    let app = passkey_app(backend).await;
    let root = app.new_super_admin().await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    let passkey = register(&app, &tokens.access, &mut device).await;
    let clone = device.snapshot();
    for _ in 0..2 {
        let options = sign_in_options(&app, json!({})).await;
        let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // The copy's counter is behind the original's.
    let mut copy = Device::at(ORIGIN);
    copy.restore(clone);
    let options = sign_in_options(&app, json!({})).await;
    let response = sign_in_with(&app, &options, copy.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let listed = app
        .get_json("/v1/users/me/passkeys", Some(&tokens.access))
        .await;
    assert!(listed["passkeys"][0]["flagged_at"].is_string(), "{listed}");
    let events = app
        .get_json(
            "/v1/admin/audit-events?type=passkey.flagged",
            Some(&root.access),
        )
        .await;
    assert_eq!(events["events"][0]["user_id"], tokens.user_id.as_str());
    assert_eq!(events["events"][0]["details"]["passkey_id"], passkey["id"]);
    // The original no longer signs in either: the credential is marked.
    let options = sign_in_options(&app, json!({})).await;
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn a_passkey_completes_the_second_step_of_a_sign_in(backend: Backend) {
    let app = passkey_app(backend).await;
    let enrolled = enrolled_user(&app).await;
    let mut device = Device::at(ORIGIN);
    let passkey = register(&app, &enrolled.tokens.access, &mut device).await;
    let response = app.sign_in(&enrolled.email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let pending: Value = response.json().await.unwrap();
    let offered: Vec<&str> = pending["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert!(
        offered.contains(&"passkey") && offered.contains(&"totp"),
        "{offered:?}"
    );
    let mfa_token = pending["mfa_token"].as_str().unwrap();
    let options = sign_in_options(&app, json!({"mfa_token": mfa_token})).await;
    assert_eq!(
        options["options"]["allowCredentials"][0]["id"],
        passkey["credential_id"]
    );
    let credential = device.get(&options["options"]).await;
    // The ceremony belongs to this pending sign-in: not a passwordless one.
    let body = json!({"mfa_token": mfa_token, "challenge_id": options["challenge_id"], "credential": credential});
    let response = app.post_json("/v1/sessions/mfa", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aal"], "aal2");
    let amr = amr_of(&claims);
    assert!(amr.contains(&"pwd") && amr.contains(&"mfa"), "{amr:?}");
    assert!(amr.contains(&"hwk") || amr.contains(&"swk"), "{amr:?}");
    // A ceremony of a second step does not sign anybody in on its own.
    let response = app.sign_in(&enrolled.email, PASSWORD).await;
    let pending: Value = response.json().await.unwrap();
    let options = sign_in_options(&app, json!({"mfa_token": pending["mfa_token"]})).await;
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn a_passkey_steps_up_a_session(backend: Backend) {
    let app = passkey_app(backend).await;
    let enrolled = enrolled_user(&app).await;
    let mut device = Device::at(ORIGIN);
    register(&app, &enrolled.tokens.access, &mut device).await;
    // Later, a sensitive change asks for a recent second factor.
    app.advance(Duration::from_secs(600));
    let tokens = app.refresh(&enrolled.tokens.refresh).await;
    let tokens = Tokens::from_body(&tokens.json().await.unwrap());
    let body = json!({"current_password": PASSWORD, "new_password": "a new long passphrase 42"});
    let response = app
        .send(
            Method::PUT,
            "/v1/users/me/password",
            &tokens.access,
            body.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = step_up_with(&app, &tokens.access, &mut device).await;
    assert_eq!(response.status(), StatusCode::OK);
    let raised: Value = response.json().await.unwrap();
    assert_eq!(raised["session"]["id"], tokens.session_id.as_str());
    let access = raised["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["aal"], "aal2");
    assert!(claims["auth_time"].as_i64().unwrap() >= app.now().unix_seconds() - 1);
    let response = app
        .send(Method::PUT, "/v1/users/me/password", access, body)
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

async fn options_from_one_instance_verify_on_another(backend: Backend) {
    let app = passkey_app(backend).await;
    let other = app.second_instance().await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    // Registration: options from A, answer to B.
    let options = registration_options(&app, &tokens.access).await;
    let credential = device.create(&options["options"]).await;
    let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
    let response = other
        .client
        .post(other.url("/v1/users/me/passkeys/registration/verify"))
        .bearer_auth(&tokens.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // Sign-in: options from B, answer to A.
    let response = other
        .post_json(
            "/v1/passkeys/authentication/options",
            &json!({"email": email}),
        )
        .await;
    let options: Value = response.json().await.unwrap();
    let response = sign_in_with(&app, &options, device.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn the_last_way_to_sign_in_stays_and_administrators_remove_passkeys(backend: Backend) {
    let app = passkey_app(backend).await;
    let root = app.new_super_admin().await;
    // An invited user has no password.
    let email = unique_email();
    let (tokens, _) = app.invited(&root, &email).await;
    let mut device = Device::at(ORIGIN);
    let first = register(&app, &tokens.access, &mut device).await;
    let tokens = passkey_session(&app, &mut device).await;
    let path = format!("/v1/users/me/passkeys/{}", first["id"].as_str().unwrap());
    let (status, refusal) = problem(app.delete(&path, &tokens.access).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    let mut laptop = Device::at(ORIGIN);
    let second = register(&app, &tokens.access, &mut laptop).await;
    let response = app.delete(&path, &tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Renamed by the owner.
    let rename = format!("/v1/users/me/passkeys/{}", second["id"].as_str().unwrap());
    let response = app
        .send(
            Method::PATCH,
            &rename,
            &tokens.access,
            json!({"name": "Work laptop"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // An administrator sees and removes it (the last one: an administrator
    // acts for a lost device); audited with the actor.
    let listed = app
        .get_json(
            &format!("/v1/admin/users/{}/passkeys", tokens.user_id),
            Some(&root.access),
        )
        .await;
    assert_eq!(listed["passkeys"][0]["name"], "Work laptop");
    let remove = format!(
        "/v1/admin/users/{}/passkeys/{}",
        tokens.user_id,
        second["id"].as_str().unwrap()
    );
    let response = app.delete(&remove, &root.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = app
        .get_json(
            "/v1/admin/audit-events?type=passkey.removed",
            Some(&root.access),
        )
        .await;
    let by_admin =
        events["events"].as_array().unwrap().iter().any(|e| {
            e["actor_id"] == root.user_id.as_str() && e["user_id"] == tokens.user_id.as_str()
        });
    assert!(by_admin, "{events}");
    // The removed passkey signs nobody in.
    let options = sign_in_options(&app, json!({})).await;
    let response = sign_in_with(&app, &options, laptop.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

fn amr_of(claims: &Value) -> Vec<&str> {
    claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// Whether `address` gets a mail containing `text` (within a few seconds).
async fn noticed(app: &TestApp, address: &str, text: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if app.mail.to(address).iter().any(|m| m.data.contains(text)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn a_password_session_of_a_passkey_account_adds_and_removes_nothing(backend: Backend) {
    let app = passkey_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    let passkey = register(&app, &tokens.access, &mut device).await;
    // Someone with the password alone: a fresh, recent, aal1 session.
    let thief = app.signed_in(&email).await;
    assert_eq!(claims_of(&thief.access)["aal"], "aal1");
    let attempts = [
        (
            Method::POST,
            "/v1/users/me/passkeys/registration/options".to_string(),
        ),
        (Method::POST, "/v1/users/me/factors/totp".to_string()),
        (
            Method::DELETE,
            format!("/v1/users/me/passkeys/{}", passkey["id"].as_str().unwrap()),
        ),
    ];
    for (method, path) in &attempts {
        let response = app
            .send(method.clone(), path, &thief.access, json!({}))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("insufficient_user_authentication"),
            "{challenge}"
        );
    }
    // The owner, holding the passkey, steps up and may.
    let response = step_up_with(&app, &thief.access, &mut device).await;
    assert_eq!(response.status(), StatusCode::OK);
    let raised = Tokens::from_body(&response.json().await.unwrap());
    registration_options(&app, &raised.access).await;
}

async fn options_for_unknown_addresses_look_like_real_ones(backend: Backend) {
    let app = passkey_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    register(&app, &tokens.access, &mut Device::at(ORIGIN)).await;
    let known = sign_in_options(&app, json!({"email": email})).await;
    let unknown = sign_in_options(&app, json!({"email": unique_email()})).await;
    let shape = |options: &Value| {
        let public_key = options["options"].as_object().unwrap();
        let mut keys: Vec<String> = public_key.keys().cloned().collect();
        keys.sort();
        let entries: Vec<(Vec<String>, usize)> = public_key["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut keys: Vec<String> = e.as_object().unwrap().keys().cloned().collect();
                keys.sort();
                (keys, e["id"].as_str().unwrap().len())
            })
            .collect();
        (keys, entries)
    };
    assert_eq!(shape(&known), shape(&unknown));
}

async fn the_limit_holds_for_options_handed_out_earlier(backend: Backend) {
    let app = passkey_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let mut device = Device::at(ORIGIN);
    register(&app, &tokens.access, &mut device).await;
    let tokens = passkey_session(&app, &mut device).await;
    for _ in 1..19 {
        register(&app, &tokens.access, &mut Device::at(ORIGIN)).await;
    }
    // Two ceremonies opened at 19: only one of them may store a passkey.
    let first = registration_options(&app, &tokens.access).await;
    let second = registration_options(&app, &tokens.access).await;
    let path = "/v1/users/me/passkeys/registration/verify";
    let mut statuses = Vec::new();
    for options in [first, second] {
        let credential = Device::at(ORIGIN).create(&options["options"]).await;
        let body = json!({"challenge_id": options["challenge_id"], "credential": credential});
        statuses.push(
            app.send(Method::POST, path, &tokens.access, body)
                .await
                .status(),
        );
    }
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
}

/// Without a password or a provider, the last usable passkey stays, however
/// many flagged ones the account still lists.
async fn a_flagged_passkey_is_no_way_to_sign_in(backend: Backend) {
    let app = passkey_app(backend).await;
    let root = app.new_super_admin().await;
    let (tokens, _) = app.invited(&root, &unique_email()).await;
    let mut cloned = Device::at(ORIGIN);
    register(&app, &tokens.access, &mut cloned).await;
    // A copy of the authenticator, behind the original: the passkey is flagged.
    let mut copy = Device::at(ORIGIN);
    copy.restore(cloned.snapshot());
    passkey_session(&app, &mut cloned).await;
    let options = sign_in_options(&app, json!({})).await;
    let response = sign_in_with(&app, &options, copy.get(&options["options"]).await).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A second passkey (the flagged one guards nothing any more).
    let mut laptop = Device::at(ORIGIN);
    let usable = register(&app, &tokens.access, &mut laptop).await;
    let strong = passkey_session(&app, &mut laptop).await;
    let path = format!("/v1/users/me/passkeys/{}", usable["id"].as_str().unwrap());
    let (status, refusal) = problem(app.delete(&path, &strong.access).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    let listed = app
        .get_json("/v1/users/me/passkeys", Some(&strong.access))
        .await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 2);
}
