//! Response bodies shared by several resources.

use crate::domain::Role;
use crate::flows::SignedIn;
use crate::store::{Session, Timestamp, User};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the user (or an administrator) sees it. Never carries the
/// password hash or provider tokens.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    #[schema(format = Email)]
    pub email: String,
    pub email_verified: bool,
    pub email_verified_at: Option<Timestamp>,
    pub username: Option<String>,
    /// Display name.
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub city: Option<String>,
    pub info: Option<String>,
    pub avatar_url: Option<String>,
    /// The language of mail; `null` follows the request's Accept-Language.
    pub locale: Option<String>,
    pub role: Role,
    /// How the account was created: `email` or a provider id.
    pub auth_provider: String,
    /// Whether the account can sign in with a password.
    pub has_password: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email.to_string(),
            email_verified: user.email_verified_at.is_some(),
            email_verified_at: user.email_verified_at,
            username: user.username,
            name: user.display_name,
            first_name: user.first_name,
            last_name: user.last_name,
            phone: user.phone,
            city: user.city,
            info: user.info,
            avatar_url: user.avatar_url,
            locale: user.locale,
            role: user.role,
            auth_provider: user.auth_provider,
            has_password: user.password_hash.is_some(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    /// Whether this is the session of the access token used for the request.
    pub current: bool,
    pub created_at: Timestamp,
    /// The last sign-in or refresh.
    pub last_used_at: Timestamp,
    /// When the session ends unless it is refreshed before.
    pub idle_expires_at: Timestamp,
    /// When the session ends at the latest.
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionView {
    pub fn new(session: Session, current: Option<Uuid>, idle_ttl: Duration) -> Self {
        Self {
            current: current == Some(session.id),
            idle_expires_at: session.last_used_at.plus(idle_ttl).min(session.expires_at),
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}

/// A new token pair with the session and user it belongs to.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An EdDSA-signed JWT; send it as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Opaque, single use: exchange it at `POST /v1/sessions/refresh`.
    pub refresh_token: String,
    pub session: SessionView,
    pub user: UserView,
}

impl TokenResponse {
    pub fn new(signed_in: SignedIn, idle_ttl: Duration) -> Self {
        let session_id = signed_in.session.id;
        Self {
            access_token: signed_in.access.token,
            token_type: "Bearer",
            expires_in: signed_in.access.expires_in,
            refresh_token: signed_in.refresh_token,
            session: SessionView::new(signed_in.session, Some(session_id), idle_ttl),
            user: signed_in.user.into(),
        }
    }
}

/// The answer to requests that send mail: the same whatever the address.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "If the address can receive it, a mail is on its way.")]
    pub message: &'static str,
}

impl Accepted {
    pub fn mail_on_its_way() -> Self {
        Self {
            message: "If the address can receive it, a mail is on its way.",
        }
    }
}
