//! Rows as the store reads and writes them.

use super::Timestamp;
use crate::domain::{Assurance, AuthMethod, CodeAction, Email, Role, SecondFactor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub email: Email,
    pub email_verified_at: Option<Timestamp>,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub city: Option<String>,
    pub info: Option<String>,
    pub avatar_url: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// How the account was created: `email`, or a social provider's id.
    pub auth_provider: String,
    /// Argon2id PHC string; `None` for accounts without a password.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub banned_at: Option<Timestamp>,
    /// End of a ban; `None` with `banned_at` set means until unbanned.
    pub banned_until: Option<Timestamp>,
    pub ban_reason: Option<String>,
    /// The language of the user's mail (`None`: the request's Accept-Language).
    pub locale: Option<String>,
}

impl User {
    pub fn is_banned(&self, now: Timestamp) -> bool {
        self.banned_at.is_some() && self.banned_until.is_none_or(|until| until > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub email_verified_at: Option<Timestamp>,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub auth_provider: String,
    pub password_hash: Option<String>,
    pub locale: Option<String>,
    pub created_at: Timestamp,
}

impl NewUser {
    /// A VIEWER whose address was proven at `now` (every user but an
    /// invited one is created that way), with no profile and no password;
    /// callers fill in the rest.
    pub fn verified(email: Email, auth_provider: &str, now: Timestamp) -> Self {
        NewUser {
            id: Uuid::now_v7(),
            email,
            email_verified_at: Some(now),
            username: None,
            display_name: None,
            first_name: None,
            last_name: None,
            avatar_url: None,
            role: Role::Viewer,
            auth_provider: auth_provider.to_string(),
            password_hash: None,
            locale: None,
            created_at: now,
        }
    }
}

/// A field of a partial update: absent (`None`), cleared (`Some(None)`) or set.
pub type Patch<T> = Option<Option<T>>;

#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub username: Patch<String>,
    pub display_name: Patch<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub phone: Patch<String>,
    pub city: Patch<String>,
    pub info: Patch<String>,
    pub avatar_url: Patch<String>,
    pub locale: Patch<String>,
}

/// A sign-up waiting for its address to be verified (the `pending_users` of
/// the admin-dashboard schema in `shared/seeds/000_…`: see the README's
/// design notes).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRegistration {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub email: Email,
    pub password_hash: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: Uuid,
    pub email: Email,
    pub action: CodeAction,
    pub user_id: Option<Uuid>,
    /// HMAC of the 8-digit code.
    pub code_hash: String,
    /// SHA-256 of the link token.
    pub token_hash: String,
    /// The code and link token sealed, so the same code can be mailed again.
    pub sealed: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsumedCode {
    #[sqlx(try_from = "String")]
    pub email: Email,
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    /// Last sign-in or refresh; the idle lifetime counts from here.
    pub last_used_at: Timestamp,
    /// Absolute end of the session.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// When and how the person proved who they are (the tokens' `auth_time`
    /// and `amr`); a refresh keeps both.
    pub auth_time: Timestamp,
    #[sqlx(try_from = "String")]
    pub auth_method: AuthMethod,
    /// The second factor the person gave at sign-in or a later step-up
    /// (`aal2`); `None` for a one-factor (`aal1`) session.
    pub second_factor: Option<SecondFactor>,
}

impl Session {
    pub fn assurance(&self) -> Assurance {
        Assurance {
            first: self.auth_method,
            second: self.second_factor,
        }
    }
}

/// A refresh token as reuse detection needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub rotated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    /// Public key, base64url (the JWK `x` of an Ed25519 key).
    pub public_key: String,
    /// Private key, encrypted with a key derived from the server secret.
    pub private_key_enc: String,
    pub created_at: Timestamp,
    /// From this moment the key signs; before it, it is only published.
    pub activates_at: Timestamp,
    /// From this moment the key no longer signs.
    pub retires_at: Option<Timestamp>,
}

/// What a social flow was started for, as stored in `oauth_states.purpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthPurpose {
    SignIn,
    /// Link an identity to the signed-in user in `OAuthState::user_id`.
    Link,
}

impl OAuthPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthPurpose::SignIn => "sign_in",
            OAuthPurpose::Link => "link",
        }
    }
}

impl TryFrom<String> for OAuthPurpose {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "sign_in" => Ok(OAuthPurpose::SignIn),
            "link" => Ok(OAuthPurpose::Link),
            _ => Err(format!("unknown OAuth flow purpose {value:?}")),
        }
    }
}

/// A started social sign-in or link flow, until the provider calls back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthState {
    pub state_hash: String,
    pub provider: String,
    #[sqlx(try_from = "String")]
    pub purpose: OAuthPurpose,
    /// The signed-in user who asked to link; `None` for sign-in.
    pub user_id: Option<Uuid>,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_to: String,
    pub client_code_challenge: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The one-time code handed to the frontend after a social sign-in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthHandoff {
    pub code_hash: String,
    pub user_id: Uuid,
    pub provider: String,
    pub client_code_challenge: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A provider identity waiting for `POST /v1/accounts/link` by the user who
/// started the flow. `sealed` holds the identity and the provider's tokens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingLink {
    pub code_hash: String,
    pub user_id: Uuid,
    pub provider: String,
    pub sealed: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A link between a user and an identity at a provider (the `account` table
/// of the passwordless schema the README's design notes describe).
/// Provider tokens are stored encrypted and never leave the service.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider_id: String,
    /// The provider's subject: with `provider_id`, the identity.
    pub account_id: String,
    pub email: Option<String>,
    pub scope: Option<String>,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<Timestamp>,
    pub refresh_token_enc: Option<String>,
    pub refresh_token_expires_at: Option<Timestamp>,
    pub id_token_enc: Option<String>,
    /// The profile claims the provider sent, as JSON.
    pub raw: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How an administrator's user list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    CreatedDesc,
    CreatedAsc,
    EmailAsc,
    EmailDesc,
}

/// Where the previous page ended: the sort key and the id of its last row.
#[derive(Debug, Clone)]
pub enum UserCursor {
    Created(Timestamp, Uuid),
    Email(String, Uuid),
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// A `LIKE` pattern, already lower-cased and escaped with `\`.
    pub pattern: Option<String>,
    pub role: Option<Role>,
    pub verified: Option<bool>,
    pub banned: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub sort: UserSort,
    pub after: Option<UserCursor>,
    pub limit: i64,
    pub now: Timestamp,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceClient {
    pub id: Uuid,
    pub client_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: String,
    pub name: String,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: Timestamp,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// JSON.
    pub details: Option<String>,
}

/// An audit event as webhook endpoints receive it: the published type and
/// the body, queued for every enabled endpoint subscribed to that type.
#[derive(Debug, Clone)]
pub struct Publication {
    pub event_type: &'static str,
    pub payload: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// The (time, id) of the last event of the previous page.
    pub before: Option<(Timestamp, Uuid)>,
    pub limit: i64,
}

/// A mail waiting in the outbox; `sealed` is the encrypted message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMail {
    pub id: Uuid,
    pub sealed: String,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub attempts: i64,
    pub discard_after: Timestamp,
}

/// A second factor of a user. Only TOTP is stored as a factor; recovery
/// codes are their own rows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Factor {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `totp`.
    pub kind: String,
    /// The TOTP secret, sealed (XChaCha20-Poly1305, bound to the factor id).
    pub secret_enc: String,
    /// The last time step a code was accepted for: a code of this step or an
    /// earlier one is never accepted again.
    pub last_used_step: Option<i64>,
    pub created_at: Timestamp,
    /// `None` until the first code proves the person holds the secret.
    pub verified_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl Factor {
    pub fn is_active(&self) -> bool {
        self.verified_at.is_some()
    }
}

/// A passkey (WebAuthn credential) of a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// base64url, as authenticators send it; unique.
    pub credential_id: String,
    pub name: String,
    /// The public key, signature counter and flags (`webauthn_rs::Passkey`
    /// as JSON): no secret.
    pub credential: String,
    /// Synced between devices (`swk`) rather than bound to one (`hwk`).
    pub backup_eligible: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// When its signature counter went backwards (a cloned authenticator):
    /// it no longer signs anyone in.
    pub flagged_at: Option<Timestamp>,
}

impl PasskeyRecord {
    /// Whether it may sign in (a flagged passkey may not).
    pub fn is_usable(&self) -> bool {
        self.flagged_at.is_none()
    }
}

/// A WebAuthn ceremony in progress: single use, short-lived, its state
/// sealed and bound to its id.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ceremony {
    pub id: Uuid,
    /// `register`, `sign_in`, `second_factor` or `step_up`.
    pub purpose: String,
    pub user_id: Option<Uuid>,
    /// The session id of a step-up, or the `mfa_token` hash of a second step.
    pub binding: Option<String>,
    pub state_enc: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The pending second step of a sign-in: the first factor was right, and
/// the `mfa_token` (only its SHA-256 is stored) completes it once.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MfaChallenge {
    pub token_hash: String,
    pub user_id: Uuid,
    /// The first factor that was proven.
    #[sqlx(try_from = "String")]
    pub auth_method: AuthMethod,
    /// What the sign-in's audit event says about the first step (JSON).
    pub details: String,
    pub attempts: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Where webhooks go.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// The subscribed event types, space-separated with a space at both
    /// ends (` user.created user.deleted `), or ` * ` for every type: one
    /// `LIKE` in SQL finds the subscribers of a type.
    pub events: String,
    pub enabled: bool,
    /// Why the endpoint was switched off by the service (410, a failure
    /// streak); `None` when enabled or switched off by an administrator.
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`), sealed.
    pub secret_enc: String,
    /// The secret before the last rotation, still signing until it expires.
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
    /// Failed attempts since the last success.
    pub failure_streak: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    pub fn event_list(&self) -> Vec<String> {
        self.events.split_whitespace().map(str::to_string).collect()
    }

    /// The stored form of a list of event types.
    pub fn events_field(events: &[String]) -> String {
        format!(" {} ", events.join(" "))
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookDelivery {
    /// The audit event's id: the `webhook-id` (`msg_…`) of every attempt.
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    /// The JSON body, exactly as signed.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    /// The start of the receiver's answer (at most 1 KiB).
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// What one attempt at a delivery came to.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub at: Timestamp,
    /// `delivered`, `pending` (to be retried at `next_attempt_at`) or `failed`.
    pub status: &'static str,
    pub next_attempt_at: Option<Timestamp>,
    pub http_status: Option<i64>,
    pub response: Option<String>,
    pub error: Option<String>,
}

/// A page of an endpoint's deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub endpoint_id: Uuid,
    pub status: Option<String>,
    /// After this (created_at, event_id), newest first.
    pub before: Option<(Timestamp, Uuid)>,
    pub limit: i64,
}
