use super::ApiError;
use crate::domain::Role;
use crate::error::FlowError;
use crate::flows::context::{refused, Admin, Caller};
use crate::state::AppState;
use crate::tokens::{Reach, TokenError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// The caller of a protected endpoint: a valid access token whose session is
/// still alive. Tokens are read from the `Authorization` header only, never
/// from the query string. An enrolment-only session (see [`EnrollingCaller`])
/// is refused here with the RFC 9470 answer.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move {
            let (caller, reach) = authenticated.await?;
            if reach == Reach::EnrolmentOnly {
                return Err(enrolment_required().into());
            }
            Ok(caller)
        })
    }
}

/// A caller whose session may be enrolment-only: a user whose role must use
/// a second factor (`mfa.required_for_roles`) and whose session has none.
/// Such a session reaches only the routes that take this extractor: the
/// factor list, TOTP enrolment and activation, step-up, the current session
/// and sign-out.
pub struct EnrollingCaller(pub Caller);

impl FromRequest for EnrollingCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move { Ok(EnrollingCaller(authenticated.await?.0)) })
    }
}

/// Verifies the bearer token and reads its live session. The reach is the
/// token's, narrowed by the policy as it is now: a session the policy covers
/// that has no second factor is enrolment-only, whatever it was issued with.
fn authenticate(req: &HttpRequest) -> LocalBoxFuture<'static, Result<(Caller, Reach), ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(req);
    Box::pin(async move {
        let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
        let token = token.ok_or(FlowError::Unauthenticated("no bearer token"))?;
        let claims = state.tokens.verify(&token).await.map_err(|e| match e {
            TokenError::Expired => FlowError::Unauthenticated("expired token"),
            TokenError::Invalid(why) => FlowError::Unauthenticated(why),
            other => FlowError::internal(other),
        })?;
        // Sign-out takes effect at once: the session must still be alive.
        let now = state.clock.now();
        let (session, user) = state
            .store
            .live_session_with_user(claims.sid, claims.sub, now)
            .await?
            .ok_or(FlowError::Unauthenticated("session ended"))?;
        // A ban ends every session; this holds even if one slipped past.
        if user.is_banned(now) {
            return Err(FlowError::Unauthenticated("account banned").into());
        }
        let policy_applies =
            state.settings.mfa.required_for(claims.role) && !session.assurance().is_aal2();
        let reach = match state.tokens.reach(&claims) {
            Reach::Full if !policy_applies => Reach::Full,
            _ => Reach::EnrolmentOnly,
        };
        let token_proof = (
            claims.auth_time.unwrap_or(0),
            claims.aal.as_deref() == Some("aal2"),
        );
        let caller = Caller {
            session,
            user,
            token_proof,
        };
        Ok((caller, reach))
    })
}

/// The answer to an enrolment-only session anywhere else.
fn enrolment_required() -> FlowError {
    FlowError::InsufficientAuthentication {
        detail: "your role must use a second factor: enrol one (POST /v1/users/me/factors/totp) \
                 or step up",
        acr: Some("aal2"),
        max_age: None,
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Checked already by `admin_gate` for this request.
        if let Some(admin) = req.extensions().get::<Admin>().cloned() {
            return Box::pin(async move { Ok(admin) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authenticated = Caller::from_request(req, payload);
        Box::pin(async move {
            let auth = authenticated.await?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let user = &auth.user;
            if user.role < Role::Admin || user.is_banned(state.clock.now()) {
                return Err(refused(user.id, user.role, "administrators only").into());
            }
            // The role as it is now (the token's may predate a promotion).
            if state.settings.mfa.required_for(user.role) && !auth.session.assurance().is_aal2() {
                return Err(enrolment_required().into());
            }
            Ok(Admin { auth })
        })
    }
}

/// Middleware: every request under `/v1/admin/` is authenticated and its
/// role checked before anything else of it is read (path, query, body), so
/// a caller who may not use the admin API learns nothing about it from a
/// 400 or a 404: 401 or 403 first, always.
pub async fn admin_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // A CORS preflight carries no credentials; the CORS layer answers it.
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !req.path().starts_with(ADMIN_PREFIX) || preflight {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let mut req = req;
    match req.extract::<Admin>().await {
        Ok(admin) => {
            req.extensions_mut().insert(admin);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refused) => Ok(req.error_response(refused).map_into_right_body()),
    }
}

const ADMIN_PREFIX: &str = "/v1/admin/";
