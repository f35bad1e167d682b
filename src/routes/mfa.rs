//! `sessions/mfa` and `sessions/current/step-up`: proving the second factor
//! to finish a sign-in, or to raise the current session.

use super::problems::{AuthProblems, InputProblems, RateProblems, ServerProblems};
use super::views::TokenResponse;
use crate::domain::{OpaqueToken, RecoveryCode, TotpCode};
use crate::error::FlowError;
use crate::error::Problem;
use crate::flows::mfa::{self, challenge, Proof};
use crate::flows::passkeys::Assertion;
use crate::http::{ApiError, EnrollingCaller, JsonBody, Origin};
use crate::passkeys::PublicKeyCredential;
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The `mfa_token` of the first step, with a code, a recovery code or a
/// passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "Xq1v3mJ0bU8rT4kLw2ZsN7yPc5eHd9aGf6oRi0tKuQE", "code": "492039"}))]
pub struct MfaRequest {
    /// From the 202 answer of the sign-in.
    mfa_token: OpaqueToken,
    /// A code from an authenticator app of the account.
    code: Option<TotpCode>,
    /// Instead of `code`: one of the account's recovery codes (used up; the
    /// owner gets a notice).
    recovery_code: Option<RecoveryCode>,
    /// Instead: a passkey. The ceremony from `POST
    /// /v1/passkeys/authentication/options` with this `mfa_token`.
    challenge_id: Option<Uuid>,
    /// With `challenge_id`: the authenticator's answer
    /// (`AuthenticationResponseJSON`).
    #[schema(value_type = Option<Object>)]
    credential: Option<PublicKeyCredential>,
}

/// Exactly one proof: a code, a recovery code, or a passkey answer.
fn proof_of(
    code: Option<TotpCode>,
    recovery_code: Option<RecoveryCode>,
    passkey: (Option<Uuid>, Option<PublicKeyCredential>),
) -> Result<Proof, FlowError> {
    match passkey {
        (None, None) => Proof::from_fields(code, recovery_code),
        (Some(challenge_id), Some(credential)) if code.is_none() && recovery_code.is_none() => {
            Ok(Proof::Passkey(Box::new(Assertion {
                challenge_id,
                credential,
            })))
        }
        _ => Err(FlowError::malformed(
            "send either code, recovery_code, or challenge_id with credential",
        )),
    }
}

/// Finish a sign-in with the second factor.
///
/// The answer to a sign-in of a user with an active factor is 202 with an
/// `mfa_token` (on every path: password, emailed code or link, social
/// sign-in, invitation). This completes it: 201 with the usual token pair,
/// at `aal2`. A code works once, also across concurrent requests; the
/// `mfa_token` is single use, dies after `code_max_attempts` wrong codes
/// (5 by default) and after `mfa.challenge_ttl_secs`; every attempt counts
/// in the account's sign-in lockout, and a locked account gets the same 401
/// as a wrong code.
#[utoipa::path(
    operation_id = "completeMfaSignIn",
    tag = "sessions",
    request_body = MfaRequest,
    responses(
        (status = 201, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Invalid, expired or used-up mfa_token, or a wrong code", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/sessions/mfa")]
pub async fn complete_sign_in(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<MfaRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::SignIn, &client).await?;
    let MfaRequest {
        mfa_token,
        code,
        recovery_code,
        challenge_id,
        credential,
    } = body.0;
    let proof = proof_of(code, recovery_code, (challenge_id, credential))?;
    let signed_in = challenge::complete(&state, mfa_token.expose(), proof, &client).await?;
    let idle = state.settings.session_idle_ttl();
    Ok(HttpResponse::Created().json(TokenResponse::new(signed_in, idle)))
}

/// A code, a recovery code or a passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct StepUpRequest {
    /// A code from an authenticator app of the account.
    code: Option<TotpCode>,
    /// Instead of `code`: one of the account's recovery codes (used up).
    recovery_code: Option<RecoveryCode>,
    /// Instead: a passkey. The ceremony from `POST
    /// /v1/sessions/current/step-up/options`.
    challenge_id: Option<Uuid>,
    /// With `challenge_id`: the authenticator's answer
    /// (`AuthenticationResponseJSON`).
    #[schema(value_type = Option<Object>)]
    credential: Option<PublicKeyCredential>,
}

/// Raise the current session with the second factor (step-up).
///
/// For a sensitive change that answered 401 with `WWW-Authenticate: Bearer
/// error="insufficient_user_authentication"` (RFC 9470): the session gets a
/// new token pair, same `sid`, with `aal2`, `amr` including `mfa`, and a new
/// `auth_time`; its earlier refresh token stops working. A wrong code is
/// 403 and counts in the account's lockout; 409 without an active factor.
/// Reachable from an enrolment-only session.
#[utoipa::path(
    operation_id = "stepUp",
    tag = "sessions",
    security(("bearer" = [])),
    request_body = StepUpRequest,
    responses(
        (status = 200, description = "The raised session's new token pair", body = TokenResponse),
        (status = 403, description = "The code is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No active second factor", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/sessions/current/step-up")]
pub async fn step_up(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
    body: JsonBody<StepUpRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let StepUpRequest {
        code,
        recovery_code,
        challenge_id,
        credential,
    } = body.0;
    let proof = proof_of(code, recovery_code, (challenge_id, credential))?;
    let raised = mfa::step_up::step_up(&state, &auth.0, proof, &client).await?;
    let idle = state.settings.session_idle_ttl();
    Ok(web::Json(TokenResponse::new(raised, idle)))
}
