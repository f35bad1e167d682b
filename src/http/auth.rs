use crate::domain::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Session;
use crate::tokens::TokenError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

/// The caller of a protected endpoint: a valid access token whose session is
/// still alive. Tokens are read from the `Authorization` header only, never
/// from the query string.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    /// The session as it was read to check that it is alive.
    pub session: Session,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or(ApiError::Unauthenticated("no bearer token"))?;
            let claims = state.tokens.verify(&token).await.map_err(|e| match e {
                TokenError::Expired => ApiError::Unauthenticated("expired token"),
                TokenError::Invalid(why) => ApiError::Unauthenticated(why),
                other => ApiError::internal(other),
            })?;
            // Sign-out takes effect at once: the session must still be alive.
            let mut repo = state.store.connection().await?;
            let session = repo
                .live_session(claims.sid, claims.sub, state.clock.now())
                .await?
                .ok_or(ApiError::Unauthenticated("session ended"))?;
            Ok(Authenticated {
                user_id: claims.sub,
                session_id: claims.sid,
                role: claims.role,
                session,
            })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// An administrator: a signed-in user whose current role (read from the
/// database on every request, not taken from the token) is ADMIN or above,
/// and who is not banned.
#[derive(Debug, Clone)]
pub struct Admin {
    pub auth: Authenticated,
    pub user: crate::store::User,
}

impl Admin {
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// For operations reserved to SUPER-ADMINs.
    pub fn require_super_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::SuperAdmin {
            Ok(())
        } else {
            Err(self.refuse("only a SUPER-ADMIN may do this"))
        }
    }

    /// A 403 for this administrator, logged: authorization failures are
    /// security events (who tried what is in the request's span).
    pub fn refuse(&self, why: &'static str) -> ApiError {
        refused(self.auth.user_id, self.user.role, why)
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authenticated = Authenticated::from_request(req, payload);
        Box::pin(async move {
            let auth = authenticated.await?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let mut repo = state.store.connection().await?;
            let user = repo
                .user_by_id(auth.user_id)
                .await?
                .ok_or(ApiError::Unauthenticated("user no longer exists"))?;
            if user.role < Role::Admin || user.is_banned(state.clock.now()) {
                return Err(refused(user.id, user.role, "administrators only"));
            }
            Ok(Admin { auth, user })
        })
    }
}

fn refused(user_id: uuid::Uuid, role: Role, why: &'static str) -> ApiError {
    tracing::warn!(user_id = %user_id, role = role.as_str(), reason = why, "authorization refused");
    ApiError::Forbidden(why)
}
