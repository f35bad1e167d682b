//! `users/me`: what a signed-in user does to their own account beyond the
//! profile: password, address, deletion, data export.

use super::accounts::AccountView;
use super::admin::audit::AuditEventView;
use super::factors::FactorView;
use super::problems::{AuthProblems, InputProblems, RateProblems, ServerProblems};
use super::views::{Accepted, SessionView, UserView};
use crate::domain::{CodeAction, Email, Password, VerificationCode};
use crate::error::Problem;
use crate::flows::account;
use crate::flows::reauth::Reauthentication;
use crate::http::ApiError;
use crate::http::{Caller, JsonBody, Origin};
use crate::state::AppState;
use crate::store::Timestamp;
use crate::throttle;
use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "correct horse battery staple",
    "new_password": "purple tractor meets quiet lagoon",
    "revoke_other_sessions": true
}))]
pub struct ChangePasswordRequest {
    /// The password the account has now; a wrong one is 403.
    current_password: String,
    /// Screened like a sign-up password.
    new_password: Password,
    /// End every session but this one. Default false.
    #[serde(default)]
    revoke_other_sessions: bool,
}

/// Change the password (the current one is required).
///
/// The owner gets a notice mail. With `revoke_other_sessions` every other
/// session ends. A pending email change and started link flows end either
/// way. Accounts without a password set one with a `reset_password` code.
/// The check of the current password counts in the account's sign-in
/// lockout and in `rate_limits.reauthentication` (429 beyond).
#[utoipa::path(
    operation_id = "changePassword",
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "The current password is wrong", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[put("/v1/users/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    account::change_password(
        &state,
        &auth,
        &body.current_password,
        body.new_password,
        body.revoke_other_sessions,
        &client,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The new address, with the current password as proof of the owner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "new_email": "ada.lovelace@example.org",
    "password": "correct horse battery staple"
}))]
pub struct ChangeEmailRequest {
    /// The address to move to; the `change_email` code goes there.
    new_email: Email,
    /// The current password; a wrong one is 403.
    password: String,
}

/// Start moving the account to another address.
///
/// A `change_email` code goes to the new address and a notice to the
/// current one; the address changes when the code is confirmed at
/// `POST /v1/email-verification-codes/confirm`. 202 whether or not the new
/// address is free (a taken one gets no code).
#[utoipa::path(
    operation_id = "changeEmail",
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Accepted; check the new mailbox", body = Accepted),
        (status = 403, description = "The password is wrong", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/users/me/email")]
pub async fn change_email(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    body: JsonBody<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    throttle::check_mail_rate(&state, &body.new_email, CodeAction::ChangeEmail, &client).await?;
    account::start_email_change(&state, &auth, &body.new_email, &body.password, &client).await?;
    Ok(HttpResponse::Accepted().json(Accepted::mail_on_its_way()))
}

/// Either the password or, for accounts without one, a fresh `sign_in` code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct DeleteMeRequest {
    /// The current password; a wrong one is 403.
    #[schema(example = "correct horse battery staple")]
    password: Option<String>,
    /// A fresh `sign_in` code (from `POST /v1/email-verification-codes`),
    /// for an account without a password.
    code: Option<VerificationCode>,
}

/// Delete the account and everything of it.
///
/// Sessions, linked identities and codes go with it; its tokens stop working
/// at once. The last SUPER-ADMIN cannot delete itself (409).
#[utoipa::path(
    operation_id = "deleteMe",
    tag = "users",
    security(("bearer" = [])),
    request_body = DeleteMeRequest,
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last SUPER-ADMIN", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[delete("/v1/users/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    body: JsonBody<DeleteMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let proof = Reauthentication::from_fields(body.0.password, body.0.code)?;
    account::delete_me(&state, &auth, proof, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Everything Portcullis stores about the signed-in user.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "exported_at": "2026-12-04T10:05:00Z",
    "user": crate::routes::examples::user(),
    "accounts": [crate::routes::examples::account()],
    "sessions": [crate::routes::examples::session()],
    "factors": [crate::routes::examples::factor()],
    "passkeys": [crate::routes::examples::passkey()],
    "recovery_codes_remaining": 10,
    "security_events": [crate::routes::examples::audit_event()]
}))]
pub struct ExportView {
    /// When the export was made.
    pub exported_at: Timestamp,
    /// The user's profile and account state.
    pub user: UserView,
    /// Linked social identities (provider tokens are never exported).
    pub accounts: Vec<AccountView>,
    /// The user's live sessions, newest first.
    pub sessions: Vec<SessionView>,
    /// Second factors (never their secrets).
    pub factors: Vec<FactorView>,
    /// Passkeys: names, credential ids and dates (never key material).
    pub passkeys: Vec<super::passkeys::PasskeyView>,
    /// Unused recovery codes (never the codes: only their hashes are kept).
    pub recovery_codes_remaining: i64,
    /// The most recent security events about the account (up to 1000).
    pub security_events: Vec<AuditEventView>,
}

/// Export my data as one JSON document.
#[utoipa::path(
    operation_id = "exportMyData",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export", body = ExportView),
        AuthProblems,
        ServerProblems,
    )
)]
#[get("/v1/users/me/export")]
pub async fn export(state: web::Data<AppState>, auth: Caller) -> Result<HttpResponse, ApiError> {
    let export = account::export(&state, &auth).await?;
    let idle = state.settings.session_idle_ttl();
    let view = ExportView {
        exported_at: state.clock.now(),
        user: export.user.into(),
        accounts: export.accounts.into_iter().map(AccountView::from).collect(),
        sessions: export
            .sessions
            .into_iter()
            .map(|s| SessionView::new(s, Some(auth.session.id), idle))
            .collect(),
        factors: export.factors.into_iter().map(FactorView::from).collect(),
        passkeys: export.passkeys.into_iter().map(Into::into).collect(),
        recovery_codes_remaining: export.recovery_codes_remaining,
        security_events: export
            .events
            .into_iter()
            .map(AuditEventView::from)
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"portcullis-export.json\"",
        ))
        .json(view))
}
