//! A user's own factors and recovery codes, and the administrators' reset.

use super::step_up::{no_second_factor, wrong_code};
use super::{active_factors, is_recent, raise_and_reissue, require_recent_second_factor};
use crate::domain::{Role, SecondFactor, TotpCode};
use crate::error::FlowError;
use crate::flows::context::{Admin, Caller, Origin};
use crate::flows::reauth::{self, Reauthentication};
use crate::flows::{audit, codes, SignedIn};
use crate::mail::MailKind;
use crate::mfa::{totp, SecondFactors};
use crate::state::AppState;
use crate::store::{Factor, Repo, Timestamp, User};
use crate::throttle::{self, Limited};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// The most active TOTP factors one account may have.
const MAX_FACTORS: usize = 5;
/// How long an enrolment may wait for its first code.
const ENROLMENT_TTL: Duration = Duration::from_secs(15 * 60);

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Factor>, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.factors_of_user(caller.user.id).await?)
}

/// A started enrolment: the secret is shown once, here.
pub struct Enrolment {
    pub factor: Factor,
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// Starts a TOTP enrolment (an earlier unfinished one is dropped). Needs a
/// recent sign-in or the proof of the first factor, and the second factor
/// when one is already active.
pub async fn enrol_totp(
    state: &AppState,
    caller: &Caller,
    proof: Option<Reauthentication>,
    client: &Origin,
) -> Result<Enrolment, FlowError> {
    let user = caller.user.clone();
    let mut tx = proven_owner(state, caller, &user, proof, client).await?;
    lock_user(tx.as_mut(), user.id).await?;
    if active_factors(tx.as_mut(), user.id).await?.len() >= MAX_FACTORS {
        return Err(FlowError::Conflict {
            slug: "too-many-factors",
            detail: format!("an account has at most {MAX_FACTORS} authenticator apps"),
        });
    }
    tx.delete_unverified_factors(user.id).await?;
    let now = state.clock.now();
    let secret = SecondFactors::new_secret();
    let id = Uuid::now_v7();
    let factor = Factor {
        id,
        user_id: user.id,
        kind: "totp".into(),
        secret_enc: state.factors.seal(id, &secret.bytes)?,
        last_used_step: None,
        created_at: now,
        verified_at: None,
        last_used_at: None,
    };
    tx.insert_factor(&factor).await?;
    let entry = audit::Entry::by_user(audit::Kind::MfaEnrolmentStarted, user.id)
        .details(json!({ "factor_id": id, "type": "totp" }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    let otpauth_uri = state
        .factors
        .otpauth_uri(&secret.base32, user.email.as_str());
    Ok(Enrolment {
        factor,
        secret_base32: secret.base32,
        otpauth_uri,
    })
}

/// A factor that has just become active.
pub struct Activated {
    pub factor: Factor,
    /// The first factor of the account brings recovery codes, shown once.
    pub recovery_codes: Option<Vec<String>>,
    /// The caller's session, raised to `aal2`.
    pub signed_in: SignedIn,
}

/// Activates an enrolment with its first code; the caller's session is
/// raised to `aal2` with a new token pair, and the owner gets a notice.
pub async fn activate(
    state: &AppState,
    caller: &Caller,
    factor_id: Uuid,
    code: &TotpCode,
    client: &Origin,
) -> Result<Activated, FlowError> {
    throttle::check_rate(state, Limited::Reauthentication, client).await?;
    let user = caller.user.clone();
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_user(tx.as_mut(), user.id).await?;
    let factors = tx.factors_of_user(user.id).await?;
    let factor = factors
        .iter()
        .find(|f| f.id == factor_id)
        .ok_or(FlowError::NotFound)?;
    if factor.is_active() {
        return Err(FlowError::Conflict {
            slug: "factor-active",
            detail: "this factor is active already".into(),
        });
    }
    if factor.created_at <= now.minus(ENROLMENT_TTL) {
        return Err(FlowError::Conflict {
            slug: "enrolment-expired",
            detail: "the enrolment expired: start again".into(),
        });
    }
    let secret = state
        .factors
        .open(factor.id, &factor.secret_enc)
        .map_err(FlowError::internal)?;
    let mut accepted = false;
    for step in totp::matching_steps(&secret, code.expose(), now.unix_seconds()) {
        if tx
            .accept_totp_step(factor.id, user.id, step, true, now)
            .await?
        {
            accepted = true;
            break;
        }
    }
    if !accepted {
        return Err(wrong_code());
    }
    let first = !factors.iter().any(Factor::is_active);
    let recovery_codes = if first {
        Some(new_recovery_codes(state, tx.as_mut(), &user, now).await?)
    } else {
        None
    };
    let entry = audit::Entry::by_user(audit::Kind::MfaEnrolled, user.id)
        .details(json!({ "factor_id": factor.id, "type": "totp" }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    notify(state, tx.as_mut(), &user, "enabled", client, now).await?;
    let mut factor = factor.clone();
    factor.verified_at = Some(now);
    factor.last_used_at = Some(now);
    let signed_in = raise_and_reissue(
        state,
        tx,
        (user, caller.session.id),
        SecondFactor::Totp,
        now,
    )
    .await?;
    state.outbox.wake();
    Ok(Activated {
        factor,
        recovery_codes,
        signed_in,
    })
}

/// Removes one of the caller's factors (a recent second factor first). The
/// last one goes with the recovery codes, unless the role must keep one.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    factor_id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    let user = caller.user.clone();
    require_recent_second_factor(state, caller).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_user(tx.as_mut(), user.id).await?;
    let factors = tx.factors_of_user(user.id).await?;
    let factor = factors
        .iter()
        .find(|f| f.id == factor_id)
        .ok_or(FlowError::NotFound)?;
    let others_active = factors
        .iter()
        .filter(|f| f.id != factor_id && f.is_active())
        .count();
    if factor.is_active() && others_active == 0 {
        if state.settings.mfa.required_for(user.role) {
            return Err(FlowError::Conflict {
                slug: "second-factor-required",
                detail: "your role must use a second factor: add another one first".into(),
            });
        }
        tx.delete_factors_of_user(user.id).await?;
        tx.delete_mfa_challenges_of_user(user.id).await?;
    } else {
        tx.delete_factor(factor_id, user.id).await?;
    }
    if factor.is_active() {
        let entry = audit::Entry::by_user(audit::Kind::FactorRemoved, user.id)
            .details(json!({ "factor_id": factor_id, "type": factor.kind }));
        audit::record_in(state, tx.as_mut(), client, entry).await?;
        notify(state, tx.as_mut(), &user, "removed", client, now).await?;
    }
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

pub async fn remaining_recovery_codes(state: &AppState, caller: &Caller) -> Result<i64, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.remaining_recovery_codes(caller.user.id).await?)
}

/// New recovery codes (a recent second factor first); the old ones die.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    caller: &Caller,
    client: &Origin,
) -> Result<Vec<String>, FlowError> {
    let user = caller.user.clone();
    require_recent_second_factor(state, caller).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_user(tx.as_mut(), user.id).await?;
    if active_factors(tx.as_mut(), user.id).await?.is_empty() {
        return Err(no_second_factor());
    }
    let codes = new_recovery_codes(state, tx.as_mut(), &user, now).await?;
    let entry = audit::Entry::by_user(audit::Kind::RecoveryCodesRegenerated, user.id);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    notify(state, tx.as_mut(), &user, "regenerated", client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(codes)
}

/// An administrator removes every factor and recovery code of a user (a
/// lost phone); only a SUPER-ADMIN may do it to a SUPER-ADMIN, nobody to
/// themselves (the owner's own route asks for their second factor), and an
/// administrator with a factor needs a recent second factor for it. Audited,
/// and the user is told; the user's pending second steps end.
pub async fn reset(
    state: &AppState,
    admin: &Admin,
    user_id: Uuid,
    client: &Origin,
) -> Result<u64, FlowError> {
    let refusals = (
        "reset your own factors at /v1/users/me/factors",
        "only a SUPER-ADMIN can reset a SUPER-ADMIN's factors",
    );
    let (mut tx, user) = admin_over_factors(state, admin, user_id, refusals).await?;
    let now = state.clock.now();
    let removed = tx.delete_factors_of_user(user.id).await?;
    tx.delete_mfa_challenges_of_user(user.id).await?;
    let entry = audit::Entry::new(audit::Kind::FactorsReset)
        .user(user.id)
        .actor(admin.auth.user.id)
        .details(json!({ "factors": removed }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    if removed > 0 {
        notify(state, tx.as_mut(), &user, "reset", client, now).await?;
    }
    tx.commit().await?;
    state.outbox.wake();
    Ok(removed)
}

/// The owner proven for adding a way to sign in (an authenticator app, a
/// passkey): a recent second factor when the account has one, and a recent
/// sign-in or else the first factor again (`proof`). A transaction to make
/// the change in.
pub(crate) async fn proven_owner(
    state: &AppState,
    caller: &Caller,
    user: &User,
    proof: Option<Reauthentication>,
    client: &Origin,
) -> Result<Box<dyn Repo>, FlowError> {
    require_recent_second_factor(state, caller).await?;
    match proof {
        Some(proof) => reauth::reauthenticate(state, user, proof, client).await,
        None if is_recent(state, caller) => Ok(state.store.transaction().await?),
        None => Err(FlowError::InsufficientAuthentication {
            detail: "the sign-in is not recent: send the password (or a sign_in code)",
            acr: None,
            max_age: Some(state.settings.mfa.step_up_max_age_secs),
        }),
    }
}

/// The checks of an administrator changing another user's factors or
/// passkeys: never their own (`refusals.0`: the owner's route asks for the
/// second factor), a recent second factor of their own if they have one,
/// their role as it is now (under the lock of role changes), and only a
/// SUPER-ADMIN for a SUPER-ADMIN (`refusals.1`). The transaction holds the
/// user's row.
pub(crate) async fn admin_over_factors(
    state: &AppState,
    admin: &Admin,
    user_id: Uuid,
    refusals: (&'static str, &'static str),
) -> Result<(Box<dyn Repo>, User), FlowError> {
    if user_id == admin.auth.user.id {
        return Err(admin.refuse(refusals.0));
    }
    require_recent_second_factor(state, &admin.auth).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    tx.lock("super_admins").await?;
    let actor_role = crate::flows::admin::current_role(tx.as_mut(), admin, now).await?;
    let user = tx.user_by_id(user_id).await?.ok_or(FlowError::NotFound)?;
    if user.role == Role::SuperAdmin && actor_role < Role::SuperAdmin {
        return Err(admin.refuse(refusals.1));
    }
    lock_user(tx.as_mut(), user.id).await?;
    Ok((tx, user))
}

/// Serialises changes to one user's factors (two removals racing past the
/// "last factor" check, two first activations each making codes).
/// Also says whether the user has a password (for "the last way to sign in").
pub(crate) async fn lock_user(tx: &mut dyn Repo, user_id: Uuid) -> Result<bool, FlowError> {
    tx.lock_user(user_id)
        .await?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))
}

/// Ten new codes replace the user's codes; returned in clear, stored hashed.
async fn new_recovery_codes(
    state: &AppState,
    tx: &mut dyn Repo,
    user: &User,
    now: Timestamp,
) -> Result<Vec<String>, FlowError> {
    let codes = SecondFactors::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|code| {
            let canonical = code.replace('-', "");
            state.factors.hash_recovery_code(user.id, &canonical)
        })
        .collect();
    tx.replace_recovery_codes(user.id, &hashes, now).await?;
    Ok(codes)
}

async fn notify(
    state: &AppState,
    tx: &mut dyn Repo,
    user: &User,
    event: &str,
    client: &Origin,
    now: Timestamp,
) -> Result<(), FlowError> {
    let notice = (MailKind::FactorChanged, json!({ "event": event }));
    codes::notify_user(state, tx, user, notice, client, now).await
}
