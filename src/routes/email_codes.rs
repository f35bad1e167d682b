//! `email-verification-codes`: request a code, confirm a code or link.

use super::problems::{InputProblems, RateProblems, ServerProblems};
use super::views::{Accepted, TokenResponse};
use crate::domain::{CodeAction, Email, VerificationCode};
use crate::error::{ApiError, Problem};
use crate::flows::codes::Proof;
use crate::flows::registration;
use crate::http::{ClientInfo, JsonBody};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(value_type = String, format = Email)]
    email: Email,
    action: CodeAction,
}

/// Request a new code for an action.
///
/// `verify_email` re-sends the verification of a pending registration. A new
/// code kills the previous one. Always 202, whether or not the address is
/// known; at most one mail per address per `mail_cooldown_secs`.
#[utoipa::path(
    tag = "email-verification-codes",
    request_body = CodeRequest,
    responses(
        (status = 202, description = "Accepted; check the mailbox", body = Accepted),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/email-verification-codes")]
pub async fn request_code(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: JsonBody<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::CodeRequest, &client).await?;
    match body.0.action {
        CodeAction::VerifyEmail => registration::resend_verification(&state, &body.0.email).await?,
    }
    Ok(HttpResponse::Accepted().json(Accepted::mail_on_its_way()))
}

/// Either `email` + `code` (typed from the mail) or `token` (from the link).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    action: CodeAction,
    #[schema(value_type = Option<String>, format = Email)]
    email: Option<Email>,
    /// The 8-digit code.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{8}$")]
    code: Option<VerificationCode>,
    /// The link token; the frontend reads it from the link and posts it here.
    #[schema(max_length = 512)]
    token: Option<String>,
}

impl ConfirmRequest {
    fn into_proof(self) -> Result<Proof, ApiError> {
        match (self.email, self.code, self.token) {
            (Some(email), Some(code), None) => Ok(Proof::Code { email, code }),
            (None, None, Some(token)) if !token.is_empty() && token.len() <= 512 => {
                Ok(Proof::LinkToken(token))
            }
            (None, None, Some(_)) => Err(ApiError::bad_request("token", "invalid token")),
            _ => Err(ApiError::BadRequest {
                detail: "send either email and code, or token".into(),
                errors: Vec::new(),
            }),
        }
    }
}

/// Confirm a code or a link token; the action takes effect.
///
/// `verify_email`: the pending registration becomes a verified user, who is
/// signed in (201 with a token pair). Codes are single use, bound to the
/// address and action, expire after `verify_email_ttl_secs` and die after
/// `code_max_attempts` wrong guesses.
#[utoipa::path(
    tag = "email-verification-codes",
    request_body = ConfirmRequest,
    responses(
        (status = 201, description = "Verified and signed in", body = TokenResponse),
        (status = 409, description = "The address or username was taken meanwhile", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/email-verification-codes/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: JsonBody<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::CodeConfirm, &client).await?;
    let action = body.0.action;
    let proof = body.0.into_proof()?;
    let signed_in = match action {
        CodeAction::VerifyEmail => registration::confirm(&state, proof, client).await?,
    };
    Ok(HttpResponse::Created().json(TokenResponse::new(
        signed_in,
        state.settings.session_idle_ttl(),
    )))
}
