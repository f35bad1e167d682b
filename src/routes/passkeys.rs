//! `users/me/passkeys` and `passkeys/authentication`: registering and
//! managing the signed-in user's passkeys, and signing in with one.

use super::factors::{not_null, EnrolRequest};
use super::problems::{AuthProblems, InputProblems, ParamProblems, RateProblems, ServerProblems};
use super::views::TokenResponse;
use crate::domain::{BoundedText, Email, OpaqueToken};
use crate::error::Problem;
use crate::flows::passkeys::{manage, registration, sign_in, Assertion, Options};
use crate::http::{ApiError, Caller, EnrollingCaller, JsonBody, Origin, PathParams};
use crate::passkeys::{PublicKeyCredential, RegisterPublicKeyCredential};
use crate::state::AppState;
use crate::store::{PasskeyRecord, Timestamp};
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A name for a passkey, as its owner calls it.
pub type PasskeyName = BoundedText<100>;

/// A passkey of a user: never key material beyond the credential id.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::passkey()))]
pub struct PasskeyView {
    /// The passkey's id (not the credential id).
    pub id: Uuid,
    /// The owner's name for it.
    pub name: String,
    /// The WebAuthn credential id (base64url).
    pub credential_id: String,
    /// Synced between the owner's devices (`swk`) rather than bound to one
    /// (`hwk`).
    pub synced: bool,
    /// When it was registered.
    pub created_at: Timestamp,
    /// `null` if never used.
    pub last_used_at: Option<Timestamp>,
    /// When its signature counter went backwards (a cloned authenticator);
    /// a flagged passkey signs nobody in. `null` normally.
    pub flagged_at: Option<Timestamp>,
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(record: PasskeyRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            credential_id: record.credential_id,
            synced: record.backup_eligible,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            flagged_at: record.flagged_at,
        }
    }
}

/// A user's passkeys.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"passkeys": [crate::routes::examples::passkey()]}))]
pub struct PasskeyList {
    /// Oldest first.
    pub passkeys: Vec<PasskeyView>,
}

/// Options for `navigator.credentials.create()` or `.get()`, and the
/// ceremony they belong to.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::passkey_options()))]
pub struct CeremonyOptions {
    /// Send it back with the authenticator's answer.
    pub challenge_id: Uuid,
    /// WebAuthn Level 3 JSON (`PublicKeyCredentialCreationOptionsJSON` or
    /// `PublicKeyCredentialRequestOptionsJSON`): give it as it is to
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON`, or to the Android and iOS credential
    /// managers.
    #[schema(value_type = Object)]
    pub options: Value,
    /// The ceremony ends then (`passkeys.ceremony_ttl_secs`).
    pub expires_at: Timestamp,
}

impl From<Options> for CeremonyOptions {
    fn from(options: Options) -> Self {
        Self {
            challenge_id: options.challenge_id,
            options: options.options,
            expires_at: options.expires_at,
        }
    }
}

/// The signed-in user's passkeys.
///
/// Reachable from an enrolment-only session.
#[utoipa::path(
    operation_id = "listPasskeys",
    tag = "passkeys",
    security(("bearer" = [])),
    responses((status = 200, description = "The passkeys", body = PasskeyList), AuthProblems, ServerProblems)
)]
#[get("/v1/users/me/passkeys")]
pub async fn list_passkeys(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
) -> Result<web::Json<PasskeyList>, ApiError> {
    let keys = manage::list(&state, auth.0.user.id).await?;
    let passkeys = keys.into_iter().map(PasskeyView::from).collect();
    Ok(web::Json(PasskeyList { passkeys }))
}

/// Start registering a passkey.
///
/// Needs a sign-in within `mfa.step_up_max_age_secs` (300 s) or the
/// password (or a fresh `sign_in` code), and a recent second factor when
/// the account has one (RFC 9470 answer otherwise). The options exclude the
/// account's passkeys, prefer a discoverable credential, require user
/// verification and ask for no attestation. At most 20 passkeys (409).
/// Reachable from an enrolment-only session: a passkey then raises the
/// session with a step-up.
#[utoipa::path(
    operation_id = "passkeyRegistrationOptions",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body(content = EnrolRequest, description = "`{}` within the recent-sign-in window; else the password or a `sign_in` code"),
    responses(
        (status = 201, description = "Creation options", body = CeremonyOptions),
        (status = 403, description = "The password or code is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many passkeys", body = Problem, content_type = "application/problem+json"),
        InputProblems, AuthProblems, RateProblems, ServerProblems,
    )
)]
#[post("/v1/users/me/passkeys/registration/options")]
pub async fn registration_options(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
    body: JsonBody<EnrolRequest>,
) -> Result<HttpResponse, ApiError> {
    let proof = body.0.proof()?;
    let options = registration::options(&state, &auth.0, proof, &client).await?;
    Ok(HttpResponse::Created().json(CeremonyOptions::from(options)))
}

/// The authenticator's answer to the creation options.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(crate::routes::examples::passkey_registration()))]
pub struct RegistrationVerifyRequest {
    /// From the options.
    challenge_id: Uuid,
    /// `RegistrationResponseJSON`: what `credential.toJSON()` gives in a
    /// browser.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
    /// A name for it; `Passkey N` by default.
    name: Option<PasskeyName>,
}

/// Finish registering a passkey.
///
/// The ceremony is used up by this request whatever its outcome. 400 when
/// the answer does not verify (another origin or relying party, no user
/// verification, another challenge); 409 when the credential is registered
/// already. The owner gets a notice by mail.
#[utoipa::path(
    operation_id = "passkeyRegistrationVerify",
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = RegistrationVerifyRequest,
    responses(
        (status = 201, description = "Registered", body = PasskeyView),
        (status = 409, description = "The passkey is registered already", body = Problem, content_type = "application/problem+json"),
        InputProblems, AuthProblems, ServerProblems,
    )
)]
#[post("/v1/users/me/passkeys/registration/verify")]
pub async fn registration_verify(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
    body: JsonBody<RegistrationVerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let RegistrationVerifyRequest {
        challenge_id,
        credential,
        name,
    } = body.0;
    let name = name.map(String::from);
    let answer = (challenge_id, credential);
    let record = registration::verify(&state, &auth.0, answer, name, &client).await?;
    Ok(HttpResponse::Created().json(PasskeyView::from(record)))
}

/// A new name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Laptop"}))]
pub struct RenamePasskeyRequest {
    /// 1 to 100 characters.
    name: PasskeyName,
}

/// Rename a passkey.
#[utoipa::path(
    operation_id = "renamePasskey",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Passkey id")),
    request_body = RenamePasskeyRequest,
    responses(
        (status = 200, description = "Renamed", body = PasskeyView),
        (status = 404, description = "No such passkey of yours", body = Problem, content_type = "application/problem+json"),
        InputProblems, AuthProblems, ServerProblems,
    )
)]
#[patch("/v1/users/me/passkeys/{id}")]
pub async fn rename_passkey(
    state: web::Data<AppState>,
    auth: Caller,
    id: PathParams<Uuid>,
    body: JsonBody<RenamePasskeyRequest>,
) -> Result<web::Json<PasskeyView>, ApiError> {
    let name = String::from(body.0.name);
    let record = manage::rename(&state, &auth, id.into_inner(), &name).await?;
    Ok(web::Json(record.into()))
}

/// Remove a passkey.
///
/// Needs a recent second factor when the account has one (RFC 9470 answer
/// otherwise). Refused (409) when it is the last way to sign in: no
/// password, no linked provider, no other passkey. The owner gets a notice.
#[utoipa::path(
    operation_id = "removePasskey",
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such passkey of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last way to sign in", body = Problem, content_type = "application/problem+json"),
        AuthProblems, ParamProblems, ServerProblems,
    )
)]
#[delete("/v1/users/me/passkeys/{id}")]
pub async fn remove_passkey(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    manage::remove(&state, &auth, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whose passkeys may answer: an address, the `mfa_token` of a pending
/// sign-in, or nothing (any discoverable passkey of this site).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct AuthenticationOptionsRequest {
    /// The account's address: its passkeys are listed.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, format = Email)]
    email: Option<Email>,
    /// Instead: the second step of a sign-in (from its 202 answer); finish
    /// it at `POST /v1/sessions/mfa` with `challenge_id` and `credential`.
    #[serde(default, deserialize_with = "not_null")]
    mfa_token: Option<OpaqueToken>,
}

/// Options for signing in with a passkey.
///
/// Passwordless: with `email` the account's passkeys are listed (an unknown
/// address gets a stand-in, so the answer does not tell whether it has an
/// account); with `{}` any discoverable passkey may answer (autofill UI).
/// Finish at `POST /v1/passkeys/authentication/verify`. With `mfa_token`:
/// the second step of a pending sign-in (409 without a passkey).
#[utoipa::path(
    operation_id = "passkeyAuthenticationOptions",
    tag = "passkeys",
    request_body = AuthenticationOptionsRequest,
    responses(
        (status = 200, description = "Request options", body = CeremonyOptions),
        (status = 401, description = "Invalid, expired or used-up mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pending sign-in's account has no passkey", body = Problem, content_type = "application/problem+json"),
        InputProblems, RateProblems, ServerProblems,
    )
)]
#[post("/v1/passkeys/authentication/options")]
pub async fn authentication_options(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<AuthenticationOptionsRequest>,
) -> Result<web::Json<CeremonyOptions>, ApiError> {
    let AuthenticationOptionsRequest { email, mfa_token } = body.0;
    let options = match (email, mfa_token) {
        (email, None) => sign_in::options(&state, email, &client).await?,
        (None, Some(token)) => {
            sign_in::second_step_options(&state, token.expose(), &client).await?
        }
        (Some(_), Some(_)) => {
            return Err(
                crate::error::FlowError::malformed("send email or mfa_token, not both").into(),
            )
        }
    };
    Ok(web::Json(options.into()))
}

/// The authenticator's answer to request options.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(crate::routes::examples::passkey_assertion()))]
pub struct AuthenticationVerifyRequest {
    /// From the options.
    challenge_id: Uuid,
    /// `AuthenticationResponseJSON`: what `credential.toJSON()` gives in a
    /// browser.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// Sign in with a passkey (passwordless).
///
/// 201 with the usual token pair, at `aal2` with `amr` `["hwk" or "swk",
/// "user", "mfa"]`: a passkey with user verification is two factors, so no
/// second step follows. The ceremony is used up whatever the outcome; a
/// credential that does not verify (origin, relying party, user
/// verification, signature, a flagged or unknown passkey) is 401.
#[utoipa::path(
    operation_id = "passkeySignIn",
    tag = "passkeys",
    request_body = AuthenticationVerifyRequest,
    responses(
        (status = 201, description = "Signed in", body = TokenResponse),
        (status = 401, description = "The passkey did not verify", body = Problem, content_type = "application/problem+json"),
        InputProblems, RateProblems, ServerProblems,
    )
)]
#[post("/v1/passkeys/authentication/verify")]
pub async fn authentication_verify(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<AuthenticationVerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticationVerifyRequest {
        challenge_id,
        credential,
    } = body.0;
    let assertion = Assertion {
        challenge_id,
        credential,
    };
    let signed_in = sign_in::verify(&state, assertion, &client).await?;
    let idle = state.settings.session_idle_ttl();
    Ok(HttpResponse::Created().json(TokenResponse::new(signed_in, idle)))
}

/// Options for raising the current session with a passkey.
///
/// Finish at `POST /v1/sessions/current/step-up` with `challenge_id` and
/// `credential`. 409 without a passkey. Reachable from an enrolment-only
/// session.
#[utoipa::path(
    operation_id = "passkeyStepUpOptions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Request options", body = CeremonyOptions),
        (status = 409, description = "No passkey", body = Problem, content_type = "application/problem+json"),
        AuthProblems, RateProblems, ServerProblems,
    )
)]
#[post("/v1/sessions/current/step-up/options")]
pub async fn step_up_options(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
) -> Result<web::Json<CeremonyOptions>, ApiError> {
    let options = sign_in::step_up_options(&state, &auth.0, &client).await?;
    Ok(web::Json(options.into()))
}
