//! The audit log: who did what, when, from where. Security-relevant events
//! are recorded as they happen; a failure to record is logged, never turned
//! into a failed request.

use crate::flows::context::Origin;
use crate::state::AppState;
use crate::store::{AuditEvent, Repo, StoreResult, Timestamp};
use serde_json::Value;
use uuid::Uuid;

/// The kinds of event, as stored in `audit_events.event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SignUpRequested,
    EmailVerified,
    SignInSucceeded,
    SignInFailed,
    RefreshTokenReused,
    SignedOut,
    AccountLinked,
    AccountUnlinked,
    UserUpdated,
    RoleChanged,
    UserBanned,
    UserUnbanned,
    UserDeleted,
    SessionsRevoked,
    ServiceClientCreated,
    ServiceClientDeleted,
    SigningKeyRotated,
    PasswordChanged,
    PasswordReset,
    EmailChangeRequested,
    EmailChanged,
    AccountDeleted,
    UserInvited,
    RefreshTokenReplayed,
    LinkStarted,
    ReauthenticationFailed,
    SecondFactorRequired,
    MfaEnrolmentStarted,
    MfaEnrolled,
    MfaVerified,
    MfaFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    FactorRemoved,
    FactorsReset,
    UserCreated,
    AddressVerified,
    PasskeyRegistered,
    PasskeyRemoved,
    PasskeyFlagged,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookSecretRotated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignUpRequested => "sign_up.requested",
            Kind::EmailVerified => "email.verified",
            Kind::SignInSucceeded => "sign_in.succeeded",
            Kind::SignInFailed => "sign_in.failed",
            Kind::RefreshTokenReused => "refresh_token.reused",
            Kind::SignedOut => "session.signed_out",
            Kind::AccountLinked => "account.linked",
            Kind::AccountUnlinked => "account.unlinked",
            Kind::UserUpdated => "admin.user_updated",
            Kind::RoleChanged => "admin.role_changed",
            Kind::UserBanned => "admin.user_banned",
            Kind::UserUnbanned => "admin.user_unbanned",
            Kind::UserDeleted => "admin.user_deleted",
            Kind::SessionsRevoked => "admin.sessions_revoked",
            Kind::ServiceClientCreated => "admin.service_client_created",
            Kind::ServiceClientDeleted => "admin.service_client_deleted",
            Kind::SigningKeyRotated => "admin.signing_key_rotated",
            Kind::PasswordChanged => "password.changed",
            Kind::PasswordReset => "password.reset",
            Kind::EmailChangeRequested => "email.change_requested",
            Kind::EmailChanged => "email.changed",
            Kind::AccountDeleted => "user.deleted",
            Kind::UserInvited => "admin.user_invited",
            Kind::ReauthenticationFailed => "reauthentication.failed",
            Kind::LinkStarted => "account.link_started",
            Kind::RefreshTokenReplayed => "refresh_token.replayed",
            Kind::SecondFactorRequired => "sign_in.second_factor_required",
            Kind::MfaEnrolmentStarted => "mfa.enrolment_started",
            Kind::MfaEnrolled => "mfa.enrolled",
            Kind::MfaVerified => "mfa.verified",
            Kind::MfaFailed => "mfa.failed",
            Kind::RecoveryCodeUsed => "mfa.recovery_code_used",
            Kind::RecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
            Kind::FactorRemoved => "mfa.removed",
            Kind::FactorsReset => "mfa.reset",
            Kind::UserCreated => "user.created",
            Kind::AddressVerified => "email.address_verified",
            Kind::PasskeyRegistered => "passkey.registered",
            Kind::PasskeyRemoved => "passkey.removed",
            Kind::PasskeyFlagged => "passkey.flagged",
            Kind::WebhookCreated => "admin.webhook_created",
            Kind::WebhookUpdated => "admin.webhook_updated",
            Kind::WebhookDeleted => "admin.webhook_deleted",
            Kind::WebhookSecretRotated => "admin.webhook_secret_rotated",
        }
    }
}

/// One event about to be recorded.
pub struct Entry {
    pub kind: Kind,
    /// Whom it concerns.
    pub user_id: Option<Uuid>,
    /// Who acted; the user themselves unless an administrator did.
    pub actor_id: Option<Uuid>,
    pub details: Option<Value>,
}

impl Entry {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            user_id: None,
            actor_id: None,
            details: None,
        }
    }

    /// An event about `user` that `user` caused.
    pub fn by_user(kind: Kind, user: Uuid) -> Self {
        Self::new(kind).user(user).actor(user)
    }

    pub fn user(mut self, user: Uuid) -> Self {
        self.user_id = Some(user);
        self
    }

    pub fn actor(mut self, actor: Uuid) -> Self {
        self.actor_id = Some(actor);
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn into_event(self, client: &Origin, at: Timestamp) -> AuditEvent {
        AuditEvent {
            id: Uuid::now_v7(),
            occurred_at: at,
            event_type: self.kind.as_str().to_string(),
            user_id: self.user_id,
            actor_id: self.actor_id,
            ip: client.ip_text(),
            user_agent: client.user_agent.clone(),
            request_id: client.request_id.clone(),
            details: self.details.map(|d| d.to_string()),
        }
    }
}

/// Records inside the caller's transaction: the event exists if and only if
/// what it describes happened.
pub async fn record_in(
    state: &AppState,
    repo: &mut dyn Repo,
    client: &Origin,
    entry: Entry,
) -> StoreResult<()> {
    record_at(repo, client, entry, state.clock.now()).await
}

/// [`record_in`] at a given time, for callers without the application
/// (the operator's commands).
pub async fn record_at(
    repo: &mut dyn Repo,
    client: &Origin,
    entry: Entry,
    at: Timestamp,
) -> StoreResult<()> {
    let event = entry.into_event(client, at);
    // Published to webhook endpoints in the same unit of work.
    let publication = crate::webhooks::publication(&event);
    repo.record_audit_event(&event, publication.as_ref()).await
}

/// Records on its own connection (for refusals, which change nothing else).
pub async fn record(state: &AppState, client: &Origin, entry: Entry) {
    let kind = entry.kind;
    let result = async {
        let mut repo = state.store.connection().await?;
        record_in(state, repo.as_mut(), client, entry).await
    }
    .await;
    if let Err(error) = result {
        tracing::error!(event = kind.as_str(), error = ?error, "audit event could not be recorded");
    }
}
