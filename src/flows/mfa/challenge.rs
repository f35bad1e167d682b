//! The second step of a sign-in: the first factor was right and the user
//! has a second one. No session exists until `POST /v1/sessions/mfa`
//! completes the step with the `mfa_token` (a JSON value, not a cookie, so
//! mobile and server clients use it as browsers do).

use super::{check_passkey, record_failure, verify, Proof};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{Assurance, AuthMethod};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::flows::passkeys::Purpose;
use crate::flows::sessions::finish_sign_in;
use crate::flows::{audit, SignedIn};
use crate::state::AppState;
use crate::store::{Factor, MfaChallenge, Repo, Timestamp, User};
use crate::throttle;
use serde_json::json;

/// What the first step of such a sign-in answers.
pub struct PendingSecondStep {
    /// Single use; only its SHA-256 is stored.
    pub mfa_token: String,
    pub expires_in: u64,
    /// The factors that can complete it (recovery codes always can).
    pub factors: Vec<Offered>,
}

/// A factor offered for the second step: its id and type (`totp` or
/// `passkey`).
pub struct Offered {
    pub id: uuid::Uuid,
    pub kind: String,
}

/// Stores the pending second step in `tx` (with the sign-in's audit
/// details, kept for the event the second step records), audits it and
/// commits.
pub async fn start(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    (user, method): (&User, AuthMethod),
    factors: Vec<Factor>,
    client: &Origin,
    details: serde_json::Value,
    now: Timestamp,
) -> Result<PendingSecondStep, FlowError> {
    let mfa_token = random_token();
    let ttl = state.settings.mfa.challenge_ttl_secs;
    let challenge = MfaChallenge {
        token_hash: sha256_hex(&mfa_token),
        user_id: user.id,
        auth_method: method,
        details: details.to_string(),
        attempts: 0,
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(ttl)),
    };
    tx.insert_mfa_challenge(&challenge).await?;
    let mut offered: Vec<Offered> = factors
        .into_iter()
        .map(|f| Offered {
            id: f.id,
            kind: f.kind,
        })
        .collect();
    let passkeys = tx.passkeys_of_user(user.id).await?;
    offered.extend(
        passkeys
            .into_iter()
            .filter(crate::store::PasskeyRecord::is_usable)
            .map(|p| Offered {
                id: p.id,
                kind: "passkey".into(),
            }),
    );
    let entry = audit::Entry::by_user(audit::Kind::SecondFactorRequired, user.id).details(details);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(PendingSecondStep {
        mfa_token,
        expires_in: ttl,
        factors: offered,
    })
}

/// Completes a pending sign-in with the second factor. The `mfa_token` is
/// used up by a success, dies after `code_max_attempts` wrong codes and at
/// its expiry; every attempt counts in the account's lockout (a locked
/// account gets the same answer as a wrong code).
pub async fn complete(
    state: &AppState,
    mfa_token: &str,
    proof: Proof,
    client: &Origin,
) -> Result<SignedIn, FlowError> {
    let hash = sha256_hex(mfa_token);
    let now = state.clock.now();
    let (challenge, user) = {
        let mut repo = state.store.connection().await?;
        let max_attempts = state.settings.code_max_attempts;
        let challenge = repo
            .mfa_challenge(&hash, now, max_attempts)
            .await?
            .ok_or(FlowError::InvalidSecondFactor)?;
        let user = repo
            .user_by_id(challenge.user_id)
            .await?
            .filter(|user| !user.is_banned(now))
            .ok_or(FlowError::InvalidSecondFactor)?;
        (challenge, user)
    };
    let allowed = throttle::claim_second_factor(state, user.email.as_str()).await?;
    let proof = match allowed {
        true => check_passkey(state, &user, proof, (Purpose::SecondFactor, &hash), client).await?,
        false => proof,
    };
    let mut tx = state.store.transaction().await?;
    let second = match allowed {
        true => verify(state, tx.as_mut(), &user, &proof, client, now).await?,
        false => None,
    };
    super::count_check(state, &proof, second.is_some());
    let Some(second) = second else {
        drop(tx);
        // One connection at a time: holding one while the audit takes
        // another starves the pool under a burst of wrong codes.
        state
            .store
            .connection()
            .await?
            .count_mfa_failure(&hash)
            .await?;
        let reason = if allowed { "wrong_code" } else { "locked" };
        record_failure(state, &user, reason, client).await;
        return Err(FlowError::InvalidSecondFactor);
    };
    // Two requests with one token and two valid codes: one of them wins.
    if !tx.take_mfa_challenge(&hash).await? {
        return Err(FlowError::InvalidSecondFactor);
    }
    throttle::clear_second_factor(tx.as_mut(), user.email.as_str()).await?;
    let mut details: serde_json::Value =
        serde_json::from_str(&challenge.details).unwrap_or_else(|_| json!({}));
    if let Some(details) = details.as_object_mut() {
        details.insert("second_factor".into(), json!(second.as_str()));
    }
    let assurance = Assurance {
        first: challenge.auth_method,
        second: Some(second),
    };
    let kind = (audit::Kind::SignInSucceeded, details);
    finish_sign_in(state, tx, (user, assurance), client, kind, now).await
}
