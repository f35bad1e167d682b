//! `users/me/factors` and `users/me/recovery-codes`: the signed-in user's
//! second factors.

use super::problems::{AuthProblems, InputProblems, ParamProblems, RateProblems, ServerProblems};
use super::views::TokenResponse;
use crate::domain::{TotpCode, VerificationCode};
use crate::error::Problem;
use crate::flows::mfa::factors;
use crate::flows::reauth::Reauthentication;
use crate::http::{ApiError, Caller, EnrollingCaller, JsonBody, Origin, PathParams};
use crate::mfa::totp;
use crate::state::AppState;
use crate::store::{Factor, Timestamp};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A second factor of the user (never its secret).
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::factor()))]
pub struct FactorView {
    /// The factor's id.
    pub id: Uuid,
    /// `totp`: an authenticator app.
    #[serde(rename = "type")]
    #[schema(example = "totp")]
    pub kind: String,
    /// `active`, or `unverified` until its first code activates it.
    #[schema(example = "active")]
    pub status: &'static str,
    /// When the enrolment started.
    pub created_at: Timestamp,
    /// When the first code activated it; `null` while unverified.
    pub verified_at: Option<Timestamp>,
    /// When a code of it was last accepted; `null` if never.
    pub last_used_at: Option<Timestamp>,
}

impl From<Factor> for FactorView {
    fn from(factor: Factor) -> Self {
        Self {
            id: factor.id,
            status: if factor.is_active() {
                "active"
            } else {
                "unverified"
            },
            kind: factor.kind,
            created_at: factor.created_at,
            verified_at: factor.verified_at,
            last_used_at: factor.last_used_at,
        }
    }
}

/// The user's second factors.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"factors": [crate::routes::examples::factor()]}))]
pub struct FactorList {
    /// Oldest first; an unfinished enrolment shows as `unverified`.
    pub factors: Vec<FactorView>,
}

/// The signed-in user's second factors.
///
/// Reachable from an enrolment-only session.
#[utoipa::path(
    operation_id = "listFactors",
    tag = "factors",
    security(("bearer" = [])),
    responses((status = 200, description = "The factors", body = FactorList), AuthProblems, ServerProblems)
)]
#[get("/v1/users/me/factors")]
pub async fn list_factors(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
) -> Result<web::Json<FactorList>, ApiError> {
    let factors = factors::list(&state, &auth.0).await?;
    let factors = factors.into_iter().map(FactorView::from).collect();
    Ok(web::Json(FactorList { factors }))
}

/// Proof of the owner for an enrolment; none is needed within
/// `mfa.step_up_max_age_secs` of the sign-in.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct EnrolRequest {
    /// The current password.
    #[schema(example = "correct horse battery staple")]
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) password: Option<String>,
    /// A fresh `sign_in` code, for an account without a password.
    #[serde(default, deserialize_with = "not_null")]
    pub(crate) code: Option<VerificationCode>,
}

impl EnrolRequest {
    /// No proof within the recent-sign-in window, else exactly one.
    pub(crate) fn proof(self) -> Result<Option<Reauthentication>, crate::error::FlowError> {
        match (self.password, self.code) {
            (None, None) => Ok(None),
            (password, code) => Reauthentication::from_fields(password, code).map(Some),
        }
    }
}

/// An optional field that, when sent, must not be `null` (absent and `null`
/// would otherwise both mean "no proof").
pub(crate) fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A started TOTP enrolment: the secret, shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "factor_id": "01a2407f-2a31-7c4e-9f0b-6d1e2c3b4a59",
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/Portcullis:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Portcullis&algorithm=SHA1&digits=6&period=30",
    "digits": 6,
    "period": 30,
    "algorithm": "SHA1"
}))]
pub struct TotpEnrolment {
    /// Activate it with `POST /v1/users/me/factors/{factor_id}/verify`.
    pub factor_id: Uuid,
    /// The 160-bit secret, base32 without padding, for typing in by hand.
    pub secret: String,
    /// The key URI authenticator apps read (show it as a QR code).
    pub otpauth_uri: String,
    /// Always 6.
    pub digits: u32,
    /// Seconds per code; always 30.
    pub period: i64,
    /// Always `SHA1` (what every authenticator app supports).
    #[schema(example = "SHA1")]
    pub algorithm: &'static str,
}

/// Start enrolling an authenticator app (TOTP).
///
/// Needs a sign-in within `mfa.step_up_max_age_secs` (300 s by default) or
/// the password (or, without one, a fresh `sign_in` code); and, when the
/// account already has an active factor, a recent second factor (RFC 9470
/// answer otherwise). An earlier unfinished enrolment is dropped. The
/// factor stays `unverified` until its first code; unfinished enrolments
/// expire after 15 minutes. At most 5 active factors (409 beyond).
/// Reachable from an enrolment-only session.
#[utoipa::path(
    operation_id = "enrolTotp",
    tag = "factors",
    security(("bearer" = [])),
    request_body(content = EnrolRequest, description = "`{}` within the recent-sign-in window; else the password or a `sign_in` code"),
    responses(
        (status = 201, description = "Enrolment started", body = TotpEnrolment),
        (status = 403, description = "The password or code is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many factors", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/users/me/factors/totp")]
pub async fn enrol_totp(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
    body: JsonBody<EnrolRequest>,
) -> Result<HttpResponse, ApiError> {
    let proof = body.0.proof()?;
    let enrolment = factors::enrol_totp(&state, &auth.0, proof, &client).await?;
    Ok(HttpResponse::Created().json(TotpEnrolment {
        factor_id: enrolment.factor.id,
        secret: enrolment.secret_base32,
        otpauth_uri: enrolment.otpauth_uri,
        digits: totp::DIGITS,
        period: totp::PERIOD_SECS,
        algorithm: "SHA1",
    }))
}

/// The first code of the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct VerifyFactorRequest {
    /// The code the app shows now.
    code: TotpCode,
}

/// An activated factor, the recovery codes of a first factor, and the
/// session's new token pair.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "factor": crate::routes::examples::factor(),
    "recovery_codes": crate::routes::examples::recovery_codes(),
    "tokens": {"access_token": "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSJ9.e30.sig", "token_type": "Bearer",
               "expires_in": 900, "refresh_token": "q7IpstxT9ornkpEatqc2otT8kkRIHxB72qP9exZYzBE",
               "mfa_enrolment_required": false,
               "session": crate::routes::examples::session(), "user": crate::routes::examples::user()}
}))]
pub struct FactorActivated {
    /// The factor, now `active`.
    pub factor: FactorView,
    /// With the account's first factor: 10 single-use recovery codes, shown
    /// only here. Store them offline. `null` for a further factor.
    pub recovery_codes: Option<Vec<String>>,
    /// A new pair for the same session, now `aal2` with a new `auth_time`;
    /// the session's earlier refresh token no longer works.
    pub tokens: TokenResponse,
}

/// Activate a factor with its first code.
///
/// The caller's session is raised to `aal2` (a new token pair, same
/// session); the owner gets a notice mail. A wrong code is 403. Reachable
/// from an enrolment-only session: this is how it ends.
#[utoipa::path(
    operation_id = "verifyFactor",
    tag = "factors",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    request_body = VerifyFactorRequest,
    responses(
        (status = 200, description = "Activated", body = FactorActivated),
        (status = 403, description = "The code is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such factor of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already active, or the enrolment expired", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/users/me/factors/{id}/verify")]
pub async fn verify_factor(
    state: web::Data<AppState>,
    auth: EnrollingCaller,
    client: Origin,
    id: PathParams<Uuid>,
    body: JsonBody<VerifyFactorRequest>,
) -> Result<web::Json<FactorActivated>, ApiError> {
    let activated =
        factors::activate(&state, &auth.0, id.into_inner(), &body.0.code, &client).await?;
    let idle = state.settings.session_idle_ttl();
    Ok(web::Json(FactorActivated {
        factor: activated.factor.into(),
        recovery_codes: activated.recovery_codes,
        tokens: TokenResponse::new(activated.signed_in, idle),
    }))
}

/// Remove a factor.
///
/// Needs a recent second factor (RFC 9470 answer otherwise). Removing the
/// last active factor also removes the recovery codes, and is refused (409)
/// when the user's role must use a second factor. The owner gets a notice.
#[utoipa::path(
    operation_id = "removeFactor",
    tag = "factors",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such factor of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The role must keep a second factor", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ParamProblems,
        ServerProblems,
    )
)]
#[delete("/v1/users/me/factors/{id}")]
pub async fn remove_factor(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    factors::remove(&state, &auth, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How many recovery codes are left.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"remaining": 9}))]
pub struct RecoveryCodeStatus {
    /// Unused recovery codes (0 without a second factor).
    pub remaining: i64,
}

/// How many recovery codes the signed-in user has left.
#[utoipa::path(
    operation_id = "getRecoveryCodeStatus",
    tag = "factors",
    security(("bearer" = [])),
    responses((status = 200, description = "The count", body = RecoveryCodeStatus), AuthProblems, ServerProblems)
)]
#[get("/v1/users/me/recovery-codes")]
pub async fn recovery_code_status(
    state: web::Data<AppState>,
    auth: Caller,
) -> Result<web::Json<RecoveryCodeStatus>, ApiError> {
    let remaining = factors::remaining_recovery_codes(&state, &auth).await?;
    Ok(web::Json(RecoveryCodeStatus { remaining }))
}

/// New recovery codes, shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": crate::routes::examples::recovery_codes()}))]
pub struct RecoveryCodes {
    /// 10 single-use codes of 80 bits; the earlier ones no longer work.
    pub recovery_codes: Vec<String>,
}

/// Replace the recovery codes.
///
/// Needs an active factor (409 otherwise) and a recent second factor
/// (RFC 9470 answer otherwise). The owner gets a notice.
#[utoipa::path(
    operation_id = "regenerateRecoveryCodes",
    tag = "factors",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "New codes", body = RecoveryCodes),
        (status = 409, description = "No active second factor", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ServerProblems,
    )
)]
#[post("/v1/users/me/recovery-codes")]
pub async fn regenerate_recovery_codes(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
) -> Result<HttpResponse, ApiError> {
    let recovery_codes = factors::regenerate_recovery_codes(&state, &auth, &client).await?;
    Ok(HttpResponse::Created().json(RecoveryCodes { recovery_codes }))
}
