//! Linking a provider identity to the signed-in user, in three steps that
//! each need the owner:
//! 1. `POST /v1/accounts/{provider}/link` with the password (or a fresh
//!    `sign_in` code) starts the flow;
//! 2. the provider's callback only holds the identity and hands the browser a
//!    one-time `link_code` (60 s);
//! 3. `POST /v1/accounts/link` with that code and the bearer token of the
//!    same user makes the link and mails the owner a notice.
//!
//! So a stolen access token cannot link anything, and a victim who is sent
//! someone else's authorize URL cannot end up linked to the sender's account.

use super::identity::link;
use super::{provider, start, Purpose, StartedFlow};
use crate::crypto::{random_token, sha256_hex};
use crate::error::FlowError;
use crate::flows::audit;
use crate::flows::codes;
use crate::flows::context::{Caller, Origin};
use crate::flows::reauth::{self, Reauthentication};
use crate::mail::MailKind;
use crate::oauth::{Identity, Provider, ProviderTokens};
use crate::state::AppState;
use crate::store::{Account, PendingLink, Repo, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// What the callback learnt, sealed until the owner claims it.
#[derive(Serialize, Deserialize)]
struct HeldIdentity {
    identity: Identity,
    access_token: String,
    access_expires_at_ms: Option<i64>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
}

impl HeldIdentity {
    fn new(identity: &Identity, tokens: &ProviderTokens) -> Self {
        Self {
            identity: identity.clone(),
            access_token: tokens.access_token.clone(),
            access_expires_at_ms: tokens.access_expires_at.map(Timestamp::unix_millis),
            refresh_token: tokens.refresh_token.clone(),
            id_token: tokens.id_token.clone(),
            scope: tokens.scope.clone(),
        }
    }

    fn into_parts(self) -> (Identity, ProviderTokens) {
        let tokens = ProviderTokens {
            access_token: self.access_token,
            access_expires_at: self
                .access_expires_at_ms
                .and_then(Timestamp::from_unix_millis),
            refresh_token: self.refresh_token,
            id_token: self.id_token,
            scope: self.scope,
        };
        (self.identity, tokens)
    }
}

fn sealing_context(code_hash: &str) -> String {
    format!("pending-link/{code_hash}")
}

/// Step 1: proves the owner, then starts the flow. A code given as proof is
/// spent even if the provider cannot be reached afterwards.
pub async fn start_link(
    state: &AppState,
    auth: &Caller,
    provider_id: &str,
    redirect_to: &str,
    proof: Reauthentication,
    client: &Origin,
) -> Result<StartedFlow, FlowError> {
    // Cheap refusals first: no password check for a provider that is not there.
    super::check_start(state, provider_id, redirect_to)?;
    crate::flows::mfa::require_recent_second_factor(state, auth).await?;
    let user = auth.user.clone();
    let mut tx = reauth::reauthenticate(state, &user, proof, client).await?;
    let entry = audit::Entry::by_user(audit::Kind::LinkStarted, user.id)
        .details(json!({ "provider": provider_id }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    start(
        state,
        provider_id,
        redirect_to,
        None,
        Purpose::Link(user.id),
    )
    .await
}

/// Step 2, in the callback's transaction: holds the identity for the user
/// who started the flow and returns the one-time link code.
pub(super) async fn hold(
    state: &AppState,
    tx: &mut dyn Repo,
    user_id: Uuid,
    provider: &Provider,
    (identity, tokens): (&Identity, &ProviderTokens),
    now: Timestamp,
) -> Result<String, FlowError> {
    let code = random_token();
    let code_hash = sha256_hex(&code);
    let held =
        serde_json::to_vec(&HeldIdentity::new(identity, tokens)).map_err(FlowError::internal)?;
    let sealed = state
        .provider_cipher
        .encrypt(&held, &sealing_context(&code_hash))
        .map_err(FlowError::internal)?;
    let ttl = Duration::from_secs(state.settings.oauth.handoff_ttl_secs);
    tx.insert_pending_link(&PendingLink {
        code_hash,
        user_id,
        provider: provider.id.clone(),
        sealed,
        created_at: now,
        expires_at: now.plus(ttl),
    })
    .await?;
    Ok(code)
}

/// Step 3: only the user who started the flow can claim the identity. The
/// code is spent by any attempt, the right user's or not.
pub async fn complete_link(
    state: &AppState,
    auth: &Caller,
    link_code: &str,
    client: &Origin,
) -> Result<Account, FlowError> {
    let invalid = || {
        FlowError::bad_request(
            "link_code",
            "unknown, expired, already used, or started by another account",
        )
    };
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let held = tx
        .take_pending_link(&sha256_hex(link_code), now)
        .await?
        .filter(|held| held.user_id == auth.user.id);
    let Some(held) = held else {
        tx.commit().await?;
        return Err(invalid());
    };
    let user = tx
        .user_by_id(auth.user.id)
        .await?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))?;
    if user.is_banned(now) {
        tx.commit().await?;
        return Err(FlowError::Forbidden("this account is suspended"));
    }
    let provider = provider(state, &held.provider)?;
    let opened = state
        .provider_cipher
        .decrypt(&held.sealed, &sealing_context(&held.code_hash))
        .map_err(FlowError::internal)?;
    let (identity, tokens) = serde_json::from_slice::<HeldIdentity>(&opened)
        .map_err(FlowError::internal)?
        .into_parts();
    let account = link(
        state,
        tx.as_mut(),
        user.id,
        provider,
        &identity,
        &tokens,
        now,
    )
    .await?;
    let entry = audit::Entry::by_user(audit::Kind::AccountLinked, user.id)
        .details(json!({ "provider": provider.id, "subject": identity.subject }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let notice = (
        MailKind::AccountLinked,
        json!({ "provider": provider.name }),
    );
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(account)
}
