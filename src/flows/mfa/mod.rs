//! Multi-factor sign-in: the second step of a sign-in, step-up, factor
//! enrolment and removal, recovery codes, and the guard of sensitive
//! changes.
//!
//! A code is accepted once: a TOTP code by the conditional update of its
//! factor's last used time step, a recovery code by the conditional update
//! of its row. Wrong codes count in the account's sign-in lockout, as wrong
//! passwords do.

pub mod challenge;
pub mod factors;
pub mod step_up;

pub use challenge::PendingSecondStep;

use super::codes;
use super::{audit, SignedIn};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{RecoveryCode, SecondFactor, TotpCode};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::mail::MailKind;
use crate::mfa::totp;
use crate::state::AppState;
use crate::store::{Factor, Repo, StoreResult, Timestamp, User};
use serde_json::json;
use uuid::Uuid;

/// What a person gives as their second factor.
pub enum Proof {
    Totp(TotpCode),
    RecoveryCode(RecoveryCode),
    /// A passkey assertion, for a ceremony started for this very step.
    Passkey(Box<crate::flows::passkeys::Assertion>),
    /// A passkey assertion already checked (see [`check_passkey`]).
    CheckedPasskey(Option<SecondFactor>),
}

impl Proof {
    /// From a request's `code` and `recovery_code` fields: exactly one.
    pub fn from_fields(
        code: Option<TotpCode>,
        recovery_code: Option<RecoveryCode>,
    ) -> Result<Self, FlowError> {
        match (code, recovery_code) {
            (Some(code), None) => Ok(Proof::Totp(code)),
            (None, Some(code)) => Ok(Proof::RecoveryCode(code)),
            _ => Err(FlowError::malformed("send either code or recovery_code")),
        }
    }
}

/// The user's verified factors.
pub async fn active_factors(repo: &mut dyn Repo, user_id: Uuid) -> StoreResult<Vec<Factor>> {
    let mut factors = repo.factors_of_user(user_id).await?;
    factors.retain(Factor::is_active);
    Ok(factors)
}

/// Checks the proof against the user's active factors in `tx` and uses it
/// up: `None` when it is not valid (or was used already). Using a recovery
/// code is audited and mailed to the owner in the same transaction.
async fn verify(
    state: &AppState,
    tx: &mut dyn Repo,
    user: &User,
    proof: &Proof,
    client: &Origin,
    now: Timestamp,
) -> Result<Option<SecondFactor>, FlowError> {
    match proof {
        Proof::CheckedPasskey(checked) => Ok(*checked),
        Proof::Passkey(_) => Err(FlowError::internal(anyhow::anyhow!(
            "a passkey proof must be checked before the transaction"
        ))),
        Proof::Totp(code) => {
            for factor in active_factors(tx, user.id).await? {
                let secret = state
                    .factors
                    .open(factor.id, &factor.secret_enc)
                    .map_err(FlowError::internal)?;
                for step in totp::matching_steps(&secret, code.expose(), now.unix_seconds()) {
                    if tx
                        .accept_totp_step(factor.id, user.id, step, false, now)
                        .await?
                    {
                        return Ok(Some(SecondFactor::Totp));
                    }
                }
            }
            Ok(None)
        }
        Proof::RecoveryCode(code) => {
            let hash = state.factors.hash_recovery_code(user.id, code.expose());
            if !tx.use_recovery_code(user.id, &hash, now).await? {
                return Ok(None);
            }
            let remaining = tx.remaining_recovery_codes(user.id).await?;
            let entry = audit::Entry::by_user(audit::Kind::RecoveryCodeUsed, user.id)
                .details(json!({ "remaining": remaining }));
            audit::record_in(state, tx, client, entry).await?;
            let notice = (
                MailKind::FactorChanged,
                json!({ "event": "recovery_code_used", "remaining": remaining }),
            );
            codes::notify_user(state, tx, user, notice, client, now).await?;
            Ok(Some(SecondFactor::RecoveryCode))
        }
    }
}

/// Checks a passkey proof ahead of the transaction that uses it (the check
/// writes the credential's counter on its own connection); other proofs
/// pass through.
async fn check_passkey(
    state: &AppState,
    user: &User,
    proof: Proof,
    binding: (crate::flows::passkeys::Purpose, &str),
    client: &Origin,
) -> Result<Proof, FlowError> {
    match proof {
        Proof::Passkey(assertion) => {
            let checked = crate::flows::passkeys::sign_in::as_second_factor(
                state, user.id, &assertion, binding, client,
            );
            Ok(Proof::CheckedPasskey(checked.await?))
        }
        other => Ok(other),
    }
}

/// Counts a second-factor check (a metric).
fn count_check(state: &AppState, proof: &Proof, ok: bool) {
    use crate::metrics::{FactorKind, FactorLabels, Outcome};
    let factor = match proof {
        Proof::Totp(_) => FactorKind::totp,
        Proof::RecoveryCode(_) => FactorKind::recovery_code,
        Proof::Passkey(_) | Proof::CheckedPasskey(_) => FactorKind::passkey,
    };
    let result = if ok {
        Outcome::success
    } else {
        Outcome::failure
    };
    let labels = FactorLabels { factor, result };
    state.metrics.second_factors.get_or_create(&labels).inc();
}

/// Records a wrong second factor (the reason says which step).
async fn record_failure(state: &AppState, user: &User, reason: &str, client: &Origin) {
    let entry =
        audit::Entry::by_user(audit::Kind::MfaFailed, user.id).details(json!({ "reason": reason }));
    audit::record(state, client, entry).await;
}

/// Whether the user can prove a second factor: an active authenticator
/// app, or a passkey that is not flagged.
pub async fn has_second_factor(repo: &mut dyn Repo, user_id: Uuid) -> StoreResult<bool> {
    if !active_factors(repo, user_id).await?.is_empty() {
        return Ok(true);
    }
    let passkeys = repo.passkeys_of_user(user_id).await?;
    Ok(passkeys.iter().any(crate::store::PasskeyRecord::is_usable))
}

/// The guard of a sensitive change (password, address, factors and
/// passkeys, account deletion): an account with an active second factor or a
/// passkey needs a session raised with one within
/// `mfa.step_up_max_age_secs`. Else the RFC 9470 answer, and the client
/// steps up at `POST /v1/sessions/current/step-up`. A session proven with
/// the password alone therefore cannot add a factor or passkey of its own
/// and step up with that.
pub async fn require_recent_second_factor(
    state: &AppState,
    caller: &Caller,
) -> Result<(), FlowError> {
    let mut repo = state.store.connection().await?;
    if !has_second_factor(repo.as_mut(), caller.user.id).await? {
        return Ok(());
    }
    let max_age = state.settings.mfa.step_up_max_age_secs;
    let (_, token_aal2) = caller.token_proof;
    if token_aal2 && caller.session.assurance().is_aal2() && is_recent(state, caller) {
        return Ok(());
    }
    Err(FlowError::InsufficientAuthentication {
        detail: "this change needs a recent second factor: step up first",
        acr: Some("aal2"),
        max_age: Some(max_age),
    })
}

/// Whether the proof of the request's access token is within
/// `mfa.step_up_max_age_secs`. The token's own `auth_time` counts, not the
/// session's: a token issued before a step-up does not share in it.
pub(crate) fn is_recent(state: &AppState, caller: &Caller) -> bool {
    let (token_auth_time, _) = caller.token_proof;
    let max_age = state.settings.mfa.step_up_max_age_secs;
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    let proven = token_auth_time.min(caller.session.auth_time.unix_seconds());
    proven > state.clock.now().unix_seconds().saturating_sub(max_age)
}

/// Raises the caller's session with `second` and replaces its token pair:
/// every refresh token the session had stops working (one presented later
/// counts as reuse), a new one is issued, and the access token carries the
/// new level and `auth_time`. Commits `tx`.
async fn raise_and_reissue(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    (user, session_id): (User, Uuid),
    second: SecondFactor,
    now: Timestamp,
) -> Result<SignedIn, FlowError> {
    let session = tx
        .raise_session(session_id, second, now)
        .await?
        .ok_or(FlowError::Unauthenticated("session ended"))?;
    tx.retire_refresh_tokens(session.id, now).await?;
    let refresh_token = random_token();
    tx.insert_refresh_token(&sha256_hex(&refresh_token), session.id, now)
        .await?;
    tx.commit().await?;
    let access = super::sessions::issue_access(state, &user, &session, now)?;
    Ok(SignedIn {
        access,
        refresh_token,
        session,
        user,
    })
}
