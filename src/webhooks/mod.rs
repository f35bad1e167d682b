//! Webhooks in the Standard Webhooks format: events come from the audit log
//! (written in the transaction of the change), each (event, endpoint) is a
//! delivery row in the same transaction (a transactional outbox), and a
//! worker on every instance delivers them under a per-endpoint lease.

mod signature;
pub mod target;
mod worker;

pub use signature::{new_secret, sign, SecretError};
pub use target::{TargetError, TargetPolicy};
pub use worker::{spawn_worker, Webhooks};

use crate::store::{AuditEvent, Publication};
use serde_json::{json, Map, Value};

/// Every event type an endpoint can subscribe to, with what it means. The
/// `data` of each is `{user_id, actor_id?, …}` with ids and non-secret
/// fields only (see the README).
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("user.created", "a user was created: a sign-up confirmed its address, an administrator invited someone, or a first social sign-in"),
    ("user.email_verified", "the address of an existing user became verified: an invited user's first emailed code, or an administrator (`data.method`)"),
    ("user.email_changed", "a user moved to another address (`data.from`, `data.to`)"),
    ("user.password_changed", "a user changed their password"),
    ("user.password_reset", "a user reset their password with an emailed code"),
    ("user.signed_in", "a session was opened (`data.method`, `data.session_id`)"),
    ("user.sign_in_failed", "a sign-in of an existing user failed (`data.reason`)"),
    ("session.revoked", "sessions ended: sign-out, revoked by the user or an administrator"),
    ("session.refresh_token_reused", "a rotated refresh token came back; the session was revoked"),
    ("user.role_changed", "an administrator changed a user's role (`data.from`, `data.to`)"),
    ("user.banned", "an administrator banned a user"),
    ("user.unbanned", "an administrator lifted a ban"),
    ("user.deleted", "a user was deleted, by themselves or an administrator"),
    ("account.linked", "a provider identity was linked to a user"),
    ("account.unlinked", "a provider identity was unlinked"),
    ("mfa.enrolled", "a second factor became active"),
    ("mfa.removed", "a second factor was removed"),
    ("mfa.reset", "an administrator removed every second factor of a user"),
    ("mfa.recovery_code_used", "a recovery code was used (`data.remaining`)"),
    ("passkey.added", "a passkey was registered (`data.passkey_id`, `data.synced`)"),
    ("passkey.removed", "a passkey was removed, by its owner or an administrator (`data.passkey_id`)"),
    ("passkey.flagged", "a passkey's signature counter went backwards (a cloned authenticator); it no longer signs in"),
    ("webhook.test", "sent by `POST /v1/admin/webhooks/{id}/test`"),
];

/// The webhook event an audit event is published as, if any.
fn event_type_of(audit_type: &str) -> Option<&'static str> {
    Some(match audit_type {
        "email.verified" | "admin.user_invited" | "user.created" => "user.created",
        "email.address_verified" => "user.email_verified",
        "email.changed" => "user.email_changed",
        "password.changed" => "user.password_changed",
        "password.reset" => "user.password_reset",
        "sign_in.succeeded" => "user.signed_in",
        "sign_in.failed" => "user.sign_in_failed",
        "session.signed_out" | "admin.sessions_revoked" => "session.revoked",
        "refresh_token.reused" => "session.refresh_token_reused",
        "admin.role_changed" => "user.role_changed",
        "admin.user_banned" => "user.banned",
        "admin.user_unbanned" => "user.unbanned",
        "admin.user_deleted" | "user.deleted" => "user.deleted",
        "account.linked" => "account.linked",
        "account.unlinked" => "account.unlinked",
        "mfa.enrolled" => "mfa.enrolled",
        "mfa.removed" => "mfa.removed",
        "mfa.reset" => "mfa.reset",
        "mfa.recovery_code_used" => "mfa.recovery_code_used",
        "passkey.registered" => "passkey.added",
        "passkey.removed" => "passkey.removed",
        "passkey.flagged" => "passkey.flagged",
        _ => return None,
    })
}

/// Whether `name` is an event type (or `*`, every type).
pub fn is_event_type(name: &str) -> bool {
    name == "*" || EVENT_TYPES.iter().any(|(t, _)| *t == name)
}

/// The body every endpoint receives: `{type, timestamp, data}`.
pub fn payload(event_type: &str, event: &AuditEvent) -> Value {
    let mut data = Map::new();
    if let Some(user_id) = event.user_id {
        data.insert("user_id".into(), json!(user_id));
    }
    if let Some(actor_id) = event.actor_id.filter(|a| Some(*a) != event.user_id) {
        data.insert("actor_id".into(), json!(actor_id));
    }
    // Audit details never hold a secret (a test searches them); what a
    // receiver does not need is left out all the same.
    let details: Option<Value> = event
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    if let Some(Value::Object(details)) = details {
        for (key, value) in details {
            if key != "identifier" {
                data.entry(key).or_insert(value);
            }
        }
    }
    json!({
        "type": event_type,
        "timestamp": event.occurred_at,
        "data": data,
    })
}

/// The audit event as endpoints receive it, if it is published: its type
/// and body. A sign-in failure of an address with no account concerns
/// nobody and is not published.
pub fn publication(event: &AuditEvent) -> Option<Publication> {
    let event_type = event_type_of(&event.event_type)?;
    event.user_id?;
    Some(Publication {
        event_type,
        payload: payload(event_type, event).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_type_is_documented() {
        for audit in [
            "email.verified",
            "admin.user_invited",
            "user.created",
            "email.changed",
            "password.changed",
            "password.reset",
            "sign_in.succeeded",
            "sign_in.failed",
            "session.signed_out",
            "admin.sessions_revoked",
            "refresh_token.reused",
            "admin.role_changed",
            "admin.user_banned",
            "admin.user_unbanned",
            "admin.user_deleted",
            "user.deleted",
            "account.linked",
            "account.unlinked",
            "mfa.enrolled",
            "mfa.removed",
            "mfa.reset",
            "mfa.recovery_code_used",
        ] {
            let published = event_type_of(audit).expect(audit);
            assert!(is_event_type(published), "{published}");
        }
        assert_eq!(event_type_of("mfa.failed"), None);
    }
}
