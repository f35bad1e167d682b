//! Credentials for other services, and what they use them for: RFC 7662
//! token introspection.

use super::audit::{self, Entry, Kind};
use crate::crypto::{random_token, sha256_hex};
use crate::error::FlowError;
use crate::flows::context::{Admin, Origin};
use crate::state::AppState;
use crate::store::ServiceClient;
use crate::tokens::AccessClaims;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// `last_used_at` is written at most this often (introspection is hot).
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

pub struct CreatedClient {
    pub client: ServiceClient,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

pub async fn create(
    state: &AppState,
    admin: &Admin,
    name: &str,
    client_info: &Origin,
) -> Result<CreatedClient, FlowError> {
    let mut id_bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut id_bytes);
    let secret = random_token();
    let client = ServiceClient {
        id: Uuid::now_v7(),
        client_id: format!("svc_{}", URL_SAFE_NO_PAD.encode(id_bytes)),
        secret_hash: sha256_hex(&secret),
        name: name.to_string(),
        created_by: Some(admin.auth.user.id),
        created_at: state.clock.now(),
        last_used_at: None,
    };
    let mut tx = state.store.transaction().await?;
    tx.insert_service_client(&client).await?;
    let entry = Entry::new(Kind::ServiceClientCreated)
        .actor(admin.auth.user.id)
        .details(json!({ "client_id": client.client_id, "name": name }));
    audit::record_in(state, tx.as_mut(), client_info, entry).await?;
    tx.commit().await?;
    Ok(CreatedClient { client, secret })
}

pub async fn list(state: &AppState) -> Result<Vec<ServiceClient>, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.service_clients().await?)
}

pub async fn delete(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    client_info: &Origin,
) -> Result<(), FlowError> {
    admin.require_super_admin()?;
    let mut tx = state.store.transaction().await?;
    if !tx.delete_service_client(id).await? {
        return Err(FlowError::NotFound);
    }
    let entry = Entry::new(Kind::ServiceClientDeleted)
        .actor(admin.auth.user.id)
        .details(json!({ "id": id }));
    audit::record_in(state, tx.as_mut(), client_info, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The service client of an `Authorization: Basic` header, or 401.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
) -> Result<ServiceClient, FlowError> {
    let unauthenticated = || FlowError::ClientUnauthenticated;
    let encoded = authorization
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim())
        .ok_or_else(unauthenticated)?;
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthenticated)?;
    let (client_id, secret) = decoded.split_once(':').ok_or_else(unauthenticated)?;
    let client = state
        .store
        .service_client(client_id)
        .await?
        .ok_or_else(unauthenticated)?;
    // Hashes of a 256-bit secret: comparing them leaks nothing useful.
    if sha256_hex(secret) != client.secret_hash {
        return Err(unauthenticated());
    }
    let now = state.clock.now();
    if client
        .last_used_at
        .is_none_or(|at| at.plus(TOUCH_INTERVAL) <= now)
    {
        state.store.service_client_used(&client, now).await?;
    }
    Ok(client)
}

/// The claims of an access token that is valid now and whose session is
/// alive; `None` for anything else (expired, revoked, garbage, a refresh
/// token). The session is the whole check: a ban, a role change and a
/// deletion end the user's sessions in the same transaction, so a live
/// session means a user who is not banned and whose role is the claim's.
pub async fn introspect(state: &AppState, token: &str) -> Result<Option<AccessClaims>, FlowError> {
    let Ok(claims) = state.tokens.verify(token).await else {
        return Ok(None);
    };
    // An enrolment-only token reaches no other service: it is not active.
    if state.tokens.reach(&claims) != crate::tokens::Reach::Full {
        return Ok(None);
    }
    // The read of every authenticated request (remembered between them).
    let session = state
        .store
        .live_session_with_user(claims.sid, claims.sub, state.clock.now())
        .await?
        .map(|(session, _)| session);
    let policy_applies = |session: &crate::store::Session| {
        state.settings.mfa.required_for(claims.role) && !session.assurance().is_aal2()
    };
    Ok(session.filter(|s| !policy_applies(s)).map(|_| claims))
}
