//! `email-verification-codes`: request a code, confirm a code or link.

use super::problems::{InputProblems, RateProblems, ServerProblems};
use super::views::{sign_in_response, Accepted, MfaRequired, TokenResponse, UserView};
use crate::domain::{CodeAction, Email, OpaqueToken, Password, VerificationCode};
use crate::error::FlowError;
use crate::error::Problem;
use crate::flows::codes::Proof;
use crate::flows::confirm::{Confirmation, Confirmed};
use crate::flows::recovery::ResetOptions;
use crate::flows::{code_sign_in, codes, recovery, registration};
use crate::http::ApiError;
use crate::http::{JsonBody, Origin};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

/// Which code to mail, and where.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "action": "sign_in"}))]
pub struct CodeRequest {
    /// The address to mail the code to: of a pending registration
    /// (`verify_email`) or of an account (`sign_in`, `reset_password`).
    email: Email,
    /// Which code: `verify_email`, `sign_in` or `reset_password`.
    action: CodeAction,
}

/// Request a new code for an action.
///
/// `verify_email` re-sends the live code of a pending registration (the same
/// code and link, so asking again never kills the one in the mailbox);
/// `sign_in` mails a sign-in code (10 minutes) to an account, with or without
/// a password; `reset_password` mails a reset code (1 hour); for these two a
/// new code kills the previous one. `change_email` codes are requested with
/// `POST /v1/users/me/email`. Always 202, at once, whether or not the address
/// is known (the work happens after the answer, so its timing tells nothing);
/// at most one mail per address and action per `mail_cooldown_secs`;
/// `rate_limits.mail_per_address` requests per address and client and
/// `rate_limits.mail_per_address_total` per address and action (429 beyond).
#[utoipa::path(
    operation_id = "requestCode",
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
    client: Origin,
    body: JsonBody<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::CodeRequest, &client).await?;
    let CodeRequest { email, action } = body.0;
    if action == CodeAction::ChangeEmail {
        return Err(ApiError::bad_request(
            "action",
            "change_email codes are requested with POST /v1/users/me/email",
        ));
    }
    if !codes::admit_mail(&state, &email, action, &client).await? {
        return Ok(HttpResponse::Accepted().json(Accepted::mail_on_its_way()));
    }
    // The answer goes out before the address is even looked up: a known
    // address costs a few writes more than an unknown one, and the response
    // time must not tell them apart. Failures are logged (the person asks
    // again when no mail comes).
    let state = state.into_inner();
    tokio::spawn(async move {
        let result = match action {
            CodeAction::VerifyEmail => {
                registration::resend_verification(&state, &email, &client).await
            }
            CodeAction::SignIn => code_sign_in::request(&state, &email, &client).await,
            CodeAction::ResetPassword => recovery::request(&state, &email, &client).await,
            CodeAction::ChangeEmail => Ok(()),
        };
        if let Err(error) = result {
            tracing::error!(error = ?error, action = action.as_str(), "code request failed");
        }
    });
    Ok(HttpResponse::Accepted().json(Accepted::mail_on_its_way()))
}

/// Either `email` + `code` (typed from the mail) or `token` (from the link).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "verify_email", "email": "ada@example.com", "code": "48213907"}))]
pub struct ConfirmRequest {
    /// The action the code or link was sent for.
    action: CodeAction,
    /// The address the code was sent to (with `code`).
    email: Option<Email>,
    /// The 8-digit code.
    code: Option<VerificationCode>,
    /// The link token; the frontend reads it from the link and posts it here.
    token: Option<OpaqueToken>,
    /// `reset_password` only: the new password.
    new_password: Option<Password>,
    /// `reset_password` only: also remove every linked provider identity
    /// (the reset notice lists them). Default false.
    #[serde(default)]
    unlink_accounts: Option<bool>,
}

impl TryFrom<ConfirmRequest> for Confirmation {
    type Error = ApiError;

    /// The one place that checks the request's shape against its action.
    fn try_from(request: ConfirmRequest) -> Result<Self, ApiError> {
        let ConfirmRequest {
            action,
            email,
            code,
            token,
            new_password,
            unlink_accounts,
        } = request;
        if unlink_accounts.is_some() && action != CodeAction::ResetPassword {
            return Err(ApiError::bad_request(
                "unlink_accounts",
                "only reset_password can unlink accounts",
            ));
        }
        if new_password.is_some() && action != CodeAction::ResetPassword {
            return Err(ApiError::bad_request(
                "new_password",
                "only reset_password takes a new password",
            ));
        }
        let proof = match (email, code, token) {
            (Some(email), Some(code), None) => Proof::Code { email, code },
            (None, None, Some(token)) => Proof::LinkToken(token.expose().to_string()),
            _ => return Err(FlowError::malformed("send either email and code, or token").into()),
        };
        Ok(match action {
            CodeAction::VerifyEmail => Confirmation::VerifyEmail(proof),
            CodeAction::SignIn => Confirmation::SignIn(proof),
            CodeAction::ChangeEmail => Confirmation::ChangeEmail(proof),
            CodeAction::ResetPassword => Confirmation::ResetPassword {
                proof,
                new_password: new_password.ok_or_else(|| {
                    ApiError::bad_request("new_password", "required for reset_password")
                })?,
                options: ResetOptions {
                    unlink_accounts: unlink_accounts.unwrap_or(false),
                },
            },
        })
    }
}

/// Confirm a code or a link token; the action takes effect.
///
/// - `verify_email`: the pending registration becomes a verified user, who
///   is signed in (201 with a token pair).
/// - `sign_in`: a session is opened (201 with a token pair).
/// - `reset_password` (with `new_password`): the password is replaced, every
///   session ends, pending email changes and link flows end, the owner gets a
///   notice naming the linked provider identities; with `"unlink_accounts":
///   true` those are removed in the same step; 204, no tokens.
/// - `change_email`: the account moves to the address the code went to
///   (200 with the user) and the old address gets a notice; 409 when another
///   account took it meanwhile; 403 for a suspended account.
///
/// Codes are single use, bound to the address and action, expire (sign-in
/// 10 min, others 1 h by default) and die after `code_max_attempts` wrong
/// guesses.
#[utoipa::path(
    operation_id = "confirmCode",
    tag = "email-verification-codes",
    request_body = ConfirmRequest,
    responses(
        (status = 201, description = "Verified or signed in (verify_email, sign_in)", body = TokenResponse),
        (status = 202, description = "sign_in of a user with a second factor: complete it at `POST /v1/sessions/mfa`", body = MfaRequired),
        (status = 200, description = "The address was changed (change_email)", body = UserView),
        (status = 204, description = "The password was reset (reset_password)"),
        (status = 409, description = "The address or username was taken meanwhile", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/email-verification-codes/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::CodeConfirm, &client).await?;
    let confirmation = Confirmation::try_from(body.0)?;
    Ok(
        match crate::flows::confirm::confirm(&state, confirmation, client).await? {
            Confirmed::SignedIn(outcome) => {
                sign_in_response(outcome, state.settings.session_idle_ttl())
            }
            Confirmed::PasswordReset => HttpResponse::NoContent().finish(),
            Confirmed::EmailChanged(user) => HttpResponse::Ok().json(UserView::from(*user)),
        },
    )
}
