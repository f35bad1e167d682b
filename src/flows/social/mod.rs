//! Social sign-in and account linking. The identity is (provider, subject),
//! never the address; a provider's address only joins an existing user when
//! the provider says it is verified and so is the local one.

mod identity;
mod link;

use super::audit;
use super::sessions::complete_sign_in;
use super::sessions::SignInOutcome;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::AuthMethod;
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::oauth::{AuthorizationRequest, Provider};
use crate::state::AppState;
use crate::store::{Account, OAuthHandoff, OAuthPurpose, OAuthState};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use identity::sign_in_or_up;
pub use link::{complete_link, start_link};
use oauth2::PkceCodeChallenge;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

pub enum Purpose {
    SignIn,
    Link(Uuid),
}

/// A flow handed to the provider: where to send the browser, and the state
/// to bind to it (sign-in sets it as a cookie).
pub struct StartedFlow {
    pub provider_url: String,
    pub state: String,
}

/// What the provider sent back to the callback.
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a Provider, FlowError> {
    state.providers.get(id).ok_or(FlowError::NotFound)
}

/// The checks before a flow starts, in the order a client fixes them: the
/// provider exists (404), then `redirect_to` is allowed (400).
pub fn check_start(
    state: &AppState,
    provider_id: &str,
    redirect_to: &str,
) -> Result<(), FlowError> {
    provider(state, provider_id)?;
    check_redirect(state, redirect_to)
}

/// `redirect_to` must be on the allow-list, character for character.
fn check_redirect(state: &AppState, redirect_to: &str) -> Result<(), FlowError> {
    if state
        .settings
        .oauth
        .redirect_allowlist
        .iter()
        .any(|allowed| allowed == redirect_to)
    {
        Ok(())
    } else {
        Err(FlowError::bad_request(
            "redirect_to",
            "is not on the allow-list",
        ))
    }
}

/// The frontend's own PKCE challenge, required for every sign-in (as OAuth
/// 2.1 requires it of public clients): it binds the one-time code in the
/// redirect to the frontend that started the flow. S256 only, 43 to 128
/// base64url characters.
pub fn check_client_challenge(
    challenge: Option<String>,
    method: Option<&str>,
) -> Result<String, FlowError> {
    let Some(challenge) = challenge else {
        return Err(FlowError::bad_request(
            "code_challenge",
            "is required (PKCE with S256): send the S256 hash of a code_verifier you keep",
        ));
    };
    if method.unwrap_or("S256") != "S256" {
        return Err(FlowError::bad_request(
            "code_challenge_method",
            "only S256 is supported",
        ));
    }
    let well_formed = (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(FlowError::bad_request(
            "code_challenge",
            "must be 43 to 128 base64url characters",
        ));
    }
    Ok(challenge)
}

/// Records a new flow (state, nonce, our PKCE verifier; 10 minutes) and
/// returns the provider's authorization URL.
pub async fn start(
    state: &AppState,
    provider_id: &str,
    redirect_to: &str,
    client_challenge: Option<String>,
    purpose: Purpose,
) -> Result<StartedFlow, FlowError> {
    let provider = provider(state, provider_id)?;
    check_redirect(state, redirect_to)?;
    let flow_state = random_token();
    let nonce = random_token();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let provider_url = provider
        .authorization_url(
            state.providers.http(),
            AuthorizationRequest {
                state: &flow_state,
                nonce: &nonce,
                pkce_challenge: challenge,
            },
        )
        .await?;
    let now = state.clock.now();
    let (purpose, user_id) = match purpose {
        Purpose::SignIn => (OAuthPurpose::SignIn, None),
        Purpose::Link(user_id) => (OAuthPurpose::Link, Some(user_id)),
    };
    let mut repo = state.store.connection().await?;
    repo.insert_oauth_state(&OAuthState {
        state_hash: sha256_hex(&flow_state),
        provider: provider.id.clone(),
        purpose,
        user_id,
        nonce,
        pkce_verifier: verifier.secret().clone(),
        redirect_to: redirect_to.to_string(),
        client_code_challenge: client_challenge,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(state.settings.oauth.state_ttl_secs)),
    })
    .await?;
    Ok(StartedFlow {
        provider_url,
        state: flow_state,
    })
}

/// Handles the provider's redirect back. Returns where to send the browser:
/// `redirect_to` with a one-time `code` (sign-in), a one-time `link_code`
/// (link; claimed with `POST /v1/accounts/link`) or the provider's `error`
/// (the person declined).
pub async fn callback(
    state: &AppState,
    provider_id: &str,
    params: Callback,
    bound_state: Option<String>,
) -> Result<String, FlowError> {
    let provider = provider(state, provider_id)?;
    let invalid_state = || FlowError::bad_request("state", "unknown, expired or already used");
    let flow_state = params
        .state
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| FlowError::bad_request("state", "is required"))?;
    let now = state.clock.now();
    // Consumed first, whatever happens next: a callback works once.
    let flow = {
        let mut repo = state.store.connection().await?;
        repo.consume_oauth_state(&sha256_hex(&flow_state), &provider.id, now)
            .await?
            .ok_or_else(invalid_state)?
    };
    // A sign-in must come back to the browser that started it.
    if flow.purpose == OAuthPurpose::SignIn && bound_state.as_deref() != Some(flow_state.as_str()) {
        return Err(invalid_state());
    }
    if let Some(error) = params.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return with_query(&flow.redirect_to, &[("error", &error)]);
    }
    let code = params
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| FlowError::bad_request("code", "is required"))?;
    let (identity, tokens) = provider
        .complete(
            state.providers.http(),
            &code,
            &flow.pkce_verifier,
            &flow.nonce,
        )
        .await?;

    let mut tx = state.store.transaction().await?;
    let location = match flow.user_id {
        Some(user_id) if flow.purpose == OAuthPurpose::Link => {
            let held = (&identity, &tokens);
            let link_code = link::hold(state, tx.as_mut(), user_id, provider, held, now).await?;
            with_query(&flow.redirect_to, &[("link_code", &link_code)])?
        }
        _ => {
            let user_id =
                sign_in_or_up(state, tx.as_mut(), provider, &identity, &tokens, now).await?;
            let code = random_token();
            tx.insert_handoff(&OAuthHandoff {
                code_hash: sha256_hex(&code),
                user_id,
                provider: provider.id.clone(),
                client_code_challenge: flow.client_code_challenge,
                created_at: now,
                expires_at: now.plus(Duration::from_secs(state.settings.oauth.handoff_ttl_secs)),
            })
            .await?;
            with_query(&flow.redirect_to, &[("code", &code)])?
        }
    };
    tx.commit().await?;
    Ok(location)
}

/// `redirect_to` with extra query parameters.
fn with_query(redirect_to: &str, pairs: &[(&str, &str)]) -> Result<String, FlowError> {
    let mut url = oauth2::url::Url::parse(redirect_to)
        .map_err(|_| FlowError::bad_request("redirect_to", "is not a URL"))?;
    for (key, value) in pairs {
        url.query_pairs_mut().append_pair(key, value);
    }
    Ok(url.into())
}

/// Exchanges the one-time code from the callback for a session, with the
/// verifier of the flow's `code_challenge`.
pub async fn exchange(
    state: &AppState,
    code: &str,
    code_verifier: Option<&str>,
    client: &Origin,
) -> Result<SignInOutcome, FlowError> {
    let invalid = || FlowError::bad_request("code", "unknown, expired or already used");
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let handoff = tx
        .consume_handoff(&sha256_hex(code), now)
        .await?
        .ok_or_else(invalid)?;
    // Flows started before the challenge became mandatory have none; they
    // live 60 seconds, so this `None` is only ever seen around an upgrade.
    if let Some(challenge) = &handoff.client_code_challenge {
        let proven = code_verifier
            .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *challenge);
        if !proven {
            // The code is spent either way: it was single use.
            tx.commit().await?;
            return Err(FlowError::bad_request(
                "code_verifier",
                "does not match the code_challenge of the flow",
            ));
        }
    }
    let user = tx.user_by_id(handoff.user_id).await?.ok_or_else(invalid)?;
    if user.is_banned(now) {
        tx.commit().await?;
        return Err(FlowError::Forbidden("this account is suspended"));
    }
    let user_id = user.id;
    let how = json!({ "method": "oauth", "provider": handoff.provider });
    let signed_in = complete_sign_in(
        state,
        tx,
        (user, AuthMethod::Provider),
        client,
        (audit::Kind::SignInSucceeded, how),
        now,
    )
    .await?;
    tracing::info!(user_id = %user_id, provider = %handoff.provider, "signed in with a provider");
    Ok(signed_in)
}

pub async fn accounts(state: &AppState, auth: &Caller) -> Result<Vec<Account>, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.accounts_of_user(auth.user.id).await?)
}

/// Unlinks one of the caller's accounts, unless it is the only way a user
/// without a password can sign in. The user row is locked first, so two
/// concurrent unlinks cannot both pass the check.
pub async fn unlink(
    state: &AppState,
    auth: &Caller,
    id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    let mut tx = state.store.transaction().await?;
    let has_password = tx
        .lock_user(auth.user.id)
        .await?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))?;
    let accounts = tx.accounts_of_user(auth.user.id).await?;
    let Some(account) = accounts.iter().find(|a| a.id == id) else {
        return Err(FlowError::NotFound);
    };
    let passkeys = tx.passkeys_of_user(auth.user.id).await?;
    let has_passkey = passkeys.iter().any(crate::store::PasskeyRecord::is_usable);
    if !has_password && !has_passkey && accounts.len() == 1 {
        return Err(FlowError::Conflict {
            slug: "last-sign-in-method",
            detail: "this is your only way to sign in; set a password or link another \
                     provider first"
                .into(),
        });
    }
    tx.delete_account(id, auth.user.id).await?;
    let entry = audit::Entry::by_user(audit::Kind::AccountUnlinked, auth.user.id)
        .details(json!({ "provider": account.provider_id, "subject": account.account_id }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(())
}
