//! Example values shared by the document's examples: one user and one
//! session, so that every view that embeds them shows the same ones.

use serde_json::{json, Value};

/// A user as `UserView` shows it.
pub fn user() -> Value {
    json!({
        "id": "01a1f83c-da20-7269-bba7-4de452e6b438",
        "email": "ada@example.com",
        "email_verified": true,
        "email_verified_at": "2026-11-20T09:16:12Z",
        "username": "ada",
        "name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": null,
        "city": "London",
        "info": null,
        "avatar_url": "https://example.com/ada.png",
        "locale": "en",
        "role": "VIEWER",
        "auth_provider": "email",
        "has_password": true,
        "created_at": "2026-11-20T09:16:12Z",
        "updated_at": "2026-12-01T08:30:00Z"
    })
}

/// A session as `SessionView` shows it.
pub fn session() -> Value {
    json!({
        "id": "01a2407f-1500-70c5-b2a3-a4506513270e",
        "current": true,
        "created_at": "2026-12-04T10:00:00Z",
        "last_used_at": "2026-12-04T10:00:00Z",
        "idle_expires_at": "2026-12-11T10:00:00Z",
        "expires_at": "2027-01-03T10:00:00Z",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "aal": "aal1"
    })
}

/// A user as `AdminUserView` shows it: the profile and the ban.
pub fn admin_user() -> Value {
    json!({
        "id": "01a21374-03e0-711e-890d-549b6f03675a",
        "email": "grace@example.com",
        "email_verified": true,
        "email_verified_at": "2026-11-25T16:05:41Z",
        "username": "grace",
        "name": "Grace Hopper",
        "first_name": "Grace",
        "last_name": "Hopper",
        "phone": null,
        "city": null,
        "info": null,
        "avatar_url": null,
        "locale": "en",
        "role": "EDITOR",
        "auth_provider": "email",
        "has_password": true,
        "created_at": "2026-11-25T16:05:00Z",
        "updated_at": "2026-12-03T12:00:00Z",
        "banned": false,
        "banned_at": null,
        "banned_until": null,
        "ban_reason": null
    })
}

/// A linked identity as `AccountView` shows it.
pub fn account() -> Value {
    json!({
        "id": "01a1ff6a-6c18-7953-859d-c9f81818e811",
        "provider": "google",
        "subject": "104285610379184326571",
        "email": "ada@example.com",
        "scope": "openid email profile",
        "created_at": "2026-11-21T18:42:07Z",
        "updated_at": "2026-12-02T07:55:31Z"
    })
}

/// An audit event as `AuditEventView` shows it.
pub fn audit_event() -> Value {
    json!({
        "id": "01a2407f-1500-781e-9fe2-5d940ed90475",
        "occurred_at": "2026-12-04T10:00:00Z",
        "type": "sign_in.succeeded",
        "user_id": "01a1f83c-da20-7269-bba7-4de452e6b438",
        "actor_id": "01a1f83c-da20-7269-bba7-4de452e6b438",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "request_id": "bfa49c76-1c0b-44d5-a701-4390cfdf83b3",
        "details": {"method": "password", "session_id": "01a2407f-1500-70c5-b2a3-a4506513270e"}
    })
}

/// A factor as `FactorView` shows it.
pub fn factor() -> Value {
    json!({
        "id": "01a2407f-2a31-7c4e-9f0b-6d1e2c3b4a59",
        "type": "totp",
        "status": "active",
        "created_at": "2026-12-04T10:01:00Z",
        "verified_at": "2026-12-04T10:01:40Z",
        "last_used_at": "2026-12-04T10:01:40Z"
    })
}

/// Recovery codes as they are shown once.
pub fn recovery_codes() -> Value {
    json!([
        "k4m6-x7qp-2ab5-ht3z",
        "q2wz-7rts-m4kd-ya6c",
        "b3nf-ue5j-w7gq-2xpl",
        "t6hc-3mzr-k2va-5dnw",
        "p7ye-q4ls-6bxu-j3ft",
        "c5gw-2dnk-r7mh-4qzs",
        "v3ja-6tpy-x2ce-5wlb",
        "m4rq-7kfz-3nsd-u6ga",
        "h2xv-5cwe-q7pj-4tmy",
        "z6dl-3bgu-y5ka-7rnq"
    ])
}

/// A webhook endpoint as `WebhookView` shows it.
pub fn webhook() -> Value {
    json!({
        "id": "01a2407f-3b42-7d5f-8a1c-7e2f3d4c5b6a",
        "url": "https://app.example.com/hooks/portcullis",
        "events": ["user.created", "user.deleted"],
        "description": "user sync",
        "enabled": true,
        "disabled_reason": null,
        "previous_secret_expires_at": null,
        "created_at": "2026-12-04T10:00:00Z",
        "updated_at": "2026-12-04T10:00:00Z"
    })
}

/// The same with its secret, as creation and rotation show it.
pub fn webhook_with_secret() -> Value {
    let mut webhook = webhook();
    webhook["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwTmVJqLgRQ5A=");
    webhook
}

/// A delivery as `DeliveryView` shows it.
pub fn webhook_delivery() -> Value {
    json!({
        "id": "msg_01a2407f15007c45b2a3a4506513270f",
        "event_id": "01a2407f-1500-7c45-b2a3-a4506513270f",
        "type": "user.created",
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": null,
        "last_attempt_at": "2026-12-04T10:00:01Z",
        "last_status": 204,
        "last_response": "",
        "last_error": null,
        "created_at": "2026-12-04T10:00:00Z",
        "delivered_at": "2026-12-04T10:00:01Z",
        "payload": {
            "type": "user.created",
            "timestamp": "2026-12-04T10:00:00Z",
            "data": {"user_id": "01a1f83c-da20-7269-bba7-4de452e6b438", "method": "code"}
        }
    })
}

/// A passkey as its owner and administrators see it.
pub fn passkey() -> Value {
    json!({
        "id": "01a2407f-3b42-7d5f-8a1c-7e2f3d4c5b6a",
        "name": "Laptop",
        "credential_id": "ZtmHY1mQoYr5Hx5Zk4Q8oA",
        "synced": true,
        "created_at": "2026-12-05T09:00:00Z",
        "last_used_at": "2026-12-05T09:30:00Z",
        "flagged_at": null
    })
}

/// Request options of a passkey ceremony.
pub fn passkey_options() -> Value {
    json!({
        "challenge_id": "01a2407f-3c53-7e60-9b2d-8f304e5d6c7b",
        "options": {
            "challenge": "q5P0kqzvFJ3gJxN2m8bYHw0hTg6uRk1yQ7b3pJc2V9s",
            "timeout": 300000,
            "rpId": "example.com",
            "allowCredentials": [{"type": "public-key", "id": "ZtmHY1mQoYr5Hx5Zk4Q8oA"}],
            "userVerification": "required"
        },
        "expires_at": "2026-12-05T09:35:00Z"
    })
}

/// A registration answer (`RegistrationResponseJSON`), shortened.
pub fn passkey_registration() -> Value {
    json!({
        "challenge_id": "01a2407f-3c53-7e60-9b2d-8f304e5d6c7b",
        "credential": {
            "id": "ZtmHY1mQoYr5Hx5Zk4Q8oA",
            "rawId": "ZtmHY1mQoYr5Hx5Zk4Q8oA",
            "type": "public-key",
            "response": {"clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0", "attestationObject": "o2NmbXRkbm9uZQ"},
            "clientExtensionResults": {}
        },
        "name": "Laptop"
    })
}

/// An authentication answer (`AuthenticationResponseJSON`), shortened.
pub fn passkey_assertion() -> Value {
    json!({
        "challenge_id": "01a2407f-3c53-7e60-9b2d-8f304e5d6c7b",
        "credential": {
            "id": "ZtmHY1mQoYr5Hx5Zk4Q8oA",
            "rawId": "ZtmHY1mQoYr5Hx5Zk4Q8oA",
            "type": "public-key",
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
                "signature": "MEUCIQDx",
                "userHandle": "3q2-7wAAAAAAAAAAAAAAAA"
            },
            "clientExtensionResults": {}
        }
    })
}
