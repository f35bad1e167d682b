//! `sessions`: sign-in, refresh, listing and sign-out.

use super::problems::{AuthProblems, InputProblems, ParamProblems, RateProblems, ServerProblems};
use super::views::{sign_in_response, MfaRequired, SessionView, TokenResponse, UserView};
use crate::domain::{Email, OpaqueToken, Username, VerificationCode};
use crate::error::FlowError;
use crate::error::Problem;
use crate::flows::sign_in::{Credentials, Identifier};
use crate::flows::{sessions, sign_in as password_sign_in};
use crate::http::ApiError;
use crate::http::{Caller, EnrollingCaller, JsonBody, Origin};
use crate::http::{PathParams, QueryParams};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest password accepted at sign-in (the sign-up limit is 128 characters).
const MAX_SIGN_IN_PASSWORD_BYTES: usize = 1024;

/// `email` or `username` with the password, or `email` with a `sign_in`
/// code from `POST /v1/email-verification-codes`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct SignInRequest {
    /// The account's address: with `password`, or with `code`.
    email: Option<Email>,
    /// The account's username, instead of `email`: with `password` only.
    username: Option<Username>,
    /// At most 1024 bytes (256 characters of any script).
    #[schema(
        format = Password,
        min_length = 1,
        max_length = 256,
        example = "correct horse battery staple"
    )]
    password: Option<String>,
    /// A `sign_in` code (instead of the password; with `email`).
    code: Option<VerificationCode>,
}

/// Sign in with a password or an emailed code.
///
/// Unknown account, wrong password and unverified address all get the same
/// 401, after the same amount of work. With `code`, this is the same as
/// confirming a `sign_in` code; a wrong code is the same 401.
#[utoipa::path(
    operation_id = "signIn",
    tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in", body = TokenResponse),
        (status = 202, description = "The user has a second factor: complete the sign-in at `POST /v1/sessions/mfa`", body = MfaRequired),
        (status = 401, description = "Invalid credentials", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/sessions")]
pub async fn sign_in(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<SignInRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::SignIn, &client).await?;
    let credentials = Credentials::try_from(body.0)?;
    let outcome = password_sign_in::sign_in(&state, credentials, client).await?;
    Ok(sign_in_response(outcome, state.settings.session_idle_ttl()))
}

impl TryFrom<SignInRequest> for Credentials {
    type Error = ApiError;

    /// The one place that decides which credentials were sent.
    fn try_from(request: SignInRequest) -> Result<Self, ApiError> {
        let SignInRequest {
            email,
            username,
            password,
            code,
        } = request;
        let either = |detail: &str| ApiError::from(FlowError::malformed(detail));
        match (password, code, email, username) {
            (Some(password), None, email, username) => {
                if password.is_empty() || password.len() > MAX_SIGN_IN_PASSWORD_BYTES {
                    return Err(ApiError::bad_request("password", "must be 1 to 1024 bytes"));
                }
                let identifier = match (email, username) {
                    (Some(email), None) => Identifier::Email(email),
                    (None, Some(username)) => Identifier::Username(username),
                    _ => return Err(either("send either email or username")),
                };
                Ok(Credentials::Password {
                    identifier,
                    password,
                })
            }
            (None, Some(code), Some(email), None) => Ok(Credentials::Code { email, code }),
            _ => Err(either(
                "send email or username with password, or email with code",
            )),
        }
    }
}

/// Set on a refresh answered from the reuse window.
pub const REPLAYED_HEADER: &str = "Portcullis-Refresh-Replayed";

/// The refresh token to exchange for a new pair.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q7IpstxT9ornkpEatqc2otT8kkRIHxB72qP9exZYzBE"}))]
pub struct RefreshRequest {
    /// The `refresh_token` of the latest token pair of the session.
    refresh_token: OpaqueToken,
}

/// Exchange a refresh token for a new pair.
///
/// The presented token stops working. Presenting a token that was already
/// exchanged revokes the whole session: someone else holds a copy. The one
/// exception is the reuse window (`refresh_reuse_window_secs`, 10 s by
/// default): a token presented again within that time of its own rotation,
/// while its successor has not been used yet, gets the same successor again
/// and a fresh access token, with the header `Portcullis-Refresh-Replayed:
/// true`. Two tabs or an app and its background task refreshing at once
/// therefore stay signed in.
#[utoipa::path(
    operation_id = "refreshSession",
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse, headers(
            ("Portcullis-Refresh-Replayed" = String, description = "`true` when the token had just been exchanged and the same successor is returned again")
        )),
        (status = 401, description = "Invalid, used or expired refresh token, or the session ended", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/sessions/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::Refresh, &client).await?;
    let token = body.0.refresh_token;
    let (signed_in, outcome) = sessions::refresh(&state, token.expose(), &client).await?;
    let mut response = HttpResponse::Ok();
    if outcome == sessions::Refreshed::Replayed {
        response.insert_header((REPLAYED_HEADER, "true"));
    }
    Ok(response.json(TokenResponse::new(
        signed_in,
        state.settings.session_idle_ttl(),
    )))
}

/// A user's live sessions.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"sessions": [crate::routes::examples::session()]}))]
pub struct SessionList {
    /// The sessions that have not ended, newest first.
    pub sessions: Vec<SessionView>,
}

/// The signed-in user's live sessions, newest first.
#[utoipa::path(
    operation_id = "listSessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "The sessions", body = SessionList), AuthProblems, ServerProblems)
)]
#[get("/v1/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    auth: Caller,
) -> Result<web::Json<SessionList>, ApiError> {
    let idle = state.settings.session_idle_ttl();
    let sessions = sessions::list(&state, &auth)
        .await?
        .into_iter()
        .map(|s| SessionView::new(s, Some(auth.session.id), idle))
        .collect();
    Ok(web::Json(SessionList { sessions }))
}

/// The session of the access token, with its user.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "session": crate::routes::examples::session(),
    "user": crate::routes::examples::user()
}))]
pub struct CurrentSession {
    /// The session of the access token (`current` is true).
    pub session: SessionView,
    /// The signed-in user.
    pub user: UserView,
}

/// The session of the access token, with its user.
#[utoipa::path(
    operation_id = "getCurrentSession",
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "The current session and its user", body = CurrentSession), AuthProblems, ServerProblems)
)]
#[get("/v1/sessions/current")]
pub async fn current(
    state: web::Data<AppState>,
    EnrollingCaller(auth): EnrollingCaller,
) -> Result<web::Json<CurrentSession>, ApiError> {
    // The extractor has just read the live session and its user.
    let idle = state.settings.session_idle_ttl();
    let session_id = auth.session.id;
    Ok(web::Json(CurrentSession {
        session: SessionView::new(auth.session, Some(session_id), idle),
        user: auth.user.into(),
    }))
}

/// Sign out: end the session of the access token.
#[utoipa::path(
    operation_id = "signOut",
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out"), AuthProblems, ServerProblems)
)]
#[delete("/v1/sessions/current")]
pub async fn sign_out(
    state: web::Data<AppState>,
    EnrollingCaller(auth): EnrollingCaller,
    client: Origin,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke(&state, &auth, auth.session.id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End one of the signed-in user's sessions.
#[utoipa::path(
    operation_id = "revokeSession",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live session of yours", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ParamProblems, ServerProblems,
    )
)]
#[delete("/v1/sessions/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke(&state, &auth, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevokeScope {
    /// `others`: every session but the current one; `all`: every session.
    #[param(inline)]
    scope: Scope,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Others,
    All,
}

/// The outcome of ending several sessions at once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"revoked": 2}))]
pub struct Revoked {
    /// How many sessions were ended (0 when there were none to end).
    pub revoked: u64,
}

/// End several of the signed-in user's sessions.
#[utoipa::path(
    operation_id = "revokeSessions",
    tag = "sessions",
    security(("bearer" = [])),
    params(RevokeScope),
    responses(
        (status = 200, description = "Sessions ended", body = Revoked),
        (status = 400, description = "Missing or unknown scope", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ServerProblems,
    )
)]
#[delete("/v1/sessions")]
pub async fn revoke_many(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    query: QueryParams<RevokeScope>,
) -> Result<web::Json<Revoked>, ApiError> {
    let keep_current = matches!(query.scope, Scope::Others);
    let revoked = sessions::revoke_all(&state, &auth, keep_current, &client).await?;
    Ok(web::Json(Revoked { revoked }))
}
