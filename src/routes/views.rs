//! Response bodies shared by several resources.

use crate::domain::Role;
use crate::flows::sessions::SignInOutcome;
use crate::flows::SignedIn;
use crate::store::{Session, Timestamp, User};
use actix_web::HttpResponse;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the user (or an administrator) sees it. Never carries the
/// password hash or provider tokens. Every field is always present; profile
/// fields that were never set (or were cleared) are `null`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::user()))]
pub struct UserView {
    /// The user's id (a UUID); the `sub` of their access tokens.
    pub id: Uuid,
    /// The account's email address, in lower case.
    #[schema(format = Email)]
    pub email: String,
    /// Whether the address is verified. An invited user's is not until
    /// their first sign-in with an emailed code; administrators can also set
    /// or clear it.
    pub email_verified: bool,
    /// When the address was verified; `null` while it is not.
    pub email_verified_at: Option<Timestamp>,
    /// The public handle, in lower case; `null` when none is set.
    pub username: Option<String>,
    /// Display name; `null` when not set.
    pub name: Option<String>,
    /// Given name; `null` when not set.
    pub first_name: Option<String>,
    /// Family name; `null` when not set.
    pub last_name: Option<String>,
    /// Phone number as the user entered it (free text, not verified);
    /// `null` when not set.
    pub phone: Option<String>,
    /// City; `null` when not set.
    pub city: Option<String>,
    /// Free text about the user (up to 2000 characters); `null` when not
    /// set.
    pub info: Option<String>,
    /// URL of the user's picture (http or https); `null` when not set.
    pub avatar_url: Option<String>,
    /// The language of mail to the user (`en` or `de`); `null` follows the
    /// request's Accept-Language.
    pub locale: Option<String>,
    /// The user's role.
    pub role: Role,
    /// How the account was created: `email` (sign-up or invitation), or the
    /// id of the social provider it was created with.
    pub auth_provider: String,
    /// Whether the account can sign in with a password.
    pub has_password: bool,
    /// When the user was created (for a sign-up: when the address was
    /// verified).
    pub created_at: Timestamp,
    /// When the user's record last changed.
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

/// A signed-in session: one sign-in and the chain of refresh tokens that
/// followed it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::session()))]
pub struct SessionView {
    /// The session's id (a UUID); the `sid` of its access tokens.
    pub id: Uuid,
    /// Whether this is the session of the access token used for the
    /// request; always `false` in an administrator's listing of a user's
    /// sessions.
    pub current: bool,
    /// When the session was opened (the sign-in).
    pub created_at: Timestamp,
    /// The last sign-in or refresh.
    pub last_used_at: Timestamp,
    /// When the session ends unless it is refreshed before.
    pub idle_expires_at: Timestamp,
    /// When the session ends at the latest.
    pub expires_at: Timestamp,
    /// The client's IP address at sign-in; `null` when unknown.
    pub ip: Option<String>,
    /// The `User-Agent` header at sign-in (at most 512 characters); `null`
    /// when none was sent.
    pub user_agent: Option<String>,
    /// The session's assurance level: `aal1` (one factor) or `aal2` (a
    /// second factor at sign-in or a step-up).
    #[schema(example = "aal1")]
    pub aal: &'static str,
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
            aal: session.assurance().aal(),
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}

/// A new token pair with the session and user it belongs to.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSIsImtpZCI6IlFSTlV5bmh1Z2NIbkJWU2w5Q19SYTNJcVBGVG5UM2NtVXdBV0xLbTZhWTgifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJhdWQiOiJwb3J0Y3VsbGlzIiwic3ViIjoiMDFhMWY4M2MtZGEyMC03MjY5LWJiYTctNGRlNDUyZTZiNDM4Iiwic2lkIjoiMDFhMjQwN2YtMTUwMC03MGM1LWIyYTMtYTQ1MDY1MTMyNzBlIiwicm9sZSI6IlZJRVdFUiIsImlhdCI6MTc5NjM3ODQwMCwiZXhwIjoxNzk2Mzc5MzAwLCJqdGkiOiI3OTM3ZjVjOS0wODQwLTRlMjQtOTJmNy1mNmU2ZTI0ZmMxOGYifQ.c92P2-zHd3OC2pYwL82DeaGdyy8Yck0kF4nP47GiCpj7ZfZzp72dpiifA9SHEA8JMOE9mQfHdlNwl9cyhDujSw",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "q7IpstxT9ornkpEatqc2otT8kkRIHxB72qP9exZYzBE",
    "mfa_enrolment_required": false,
    "session": crate::routes::examples::session(),
    "user": crate::routes::examples::user()
}))]
pub struct TokenResponse {
    /// An EdDSA-signed JWT; send it as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds (900 by default).
    pub expires_in: u64,
    /// Opaque, single use: exchange it at `POST /v1/sessions/refresh`.
    pub refresh_token: String,
    /// `true` for an enrolment-only session: the user's role must use a
    /// second factor and has none yet. The access token reaches only
    /// factor enrolment (see the Multi-factor section of the README).
    pub mfa_enrolment_required: bool,
    /// The session the tokens belong to.
    pub session: SessionView,
    /// The signed-in user.
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
            mfa_enrolment_required: signed_in.access.enrolment_only,
            session: SessionView::new(signed_in.session, Some(session_id), idle_ttl),
            user: signed_in.user.into(),
        }
    }
}

/// The answer to requests that send mail: the same whatever the address.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"message": "If the address can receive it, a mail is on its way."}))]
pub struct Accepted {
    /// A fixed text; it tells nothing about whether the address has an
    /// account or a mail was actually sent.
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

/// The first step of a sign-in of a user with a second factor: no tokens
/// yet. Complete it at `POST /v1/sessions/mfa` with the `mfa_token` and a
/// code from one of the `factors` or a recovery code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "mfa_required": true,
    "mfa_token": "Xq1v3mJ0bU8rT4kLw2ZsN7yPc5eHd9aGf6oRi0tKuQE",
    "expires_in": 300,
    "factors": [{"id": "01a2407f-2a31-7c4e-9f0b-6d1e2c3b4a59", "type": "totp"}]
}))]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use; dies at its expiry and after `code_max_attempts` wrong
    /// codes.
    pub mfa_token: String,
    /// Seconds until the `mfa_token` expires (300 by default).
    pub expires_in: u64,
    /// The factors that can complete the sign-in. A recovery code always can.
    pub factors: Vec<FactorRef>,
}

/// A factor that can complete a sign-in.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "01a2407f-2a31-7c4e-9f0b-6d1e2c3b4a59", "type": "totp"}))]
pub struct FactorRef {
    /// The factor's id.
    pub id: Uuid,
    /// `totp`, or `passkey` (ask for options with the `mfa_token` at `POST
    /// /v1/passkeys/authentication/options`).
    #[serde(rename = "type")]
    #[schema(example = "totp")]
    pub kind: String,
}

/// Either answer of a sign-in: 201 with a token pair, or 202 when a second
/// factor is needed first (the session does not exist yet: "accepted, not
/// complete", told apart from a sign-in by the status alone).
pub fn sign_in_response(outcome: SignInOutcome, idle_ttl: Duration) -> HttpResponse {
    match outcome {
        SignInOutcome::SignedIn(signed_in) => {
            HttpResponse::Created().json(TokenResponse::new(*signed_in, idle_ttl))
        }
        SignInOutcome::SecondFactorRequired(pending) => {
            HttpResponse::Accepted().json(MfaRequired {
                mfa_required: true,
                mfa_token: pending.mfa_token,
                expires_in: pending.expires_in,
                factors: pending
                    .factors
                    .into_iter()
                    .map(|f| FactorRef {
                        id: f.id,
                        kind: f.kind,
                    })
                    .collect(),
            })
        }
    }
}
