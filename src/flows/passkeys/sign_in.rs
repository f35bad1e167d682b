//! Passwordless sign-in with a passkey, and the options for a passkey as
//! the second step of a sign-in or for a step-up.

use super::{check_assertion, start_ceremony, start_listed, start_listing, take_ceremony};
use super::{usable_passkeys, Assertion, AuthState};
use super::{Options, Purpose};
use crate::crypto::{hmac_sha256, sha256_hex};
use crate::domain::{Assurance, AuthMethod, Email, SecondFactor};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::flows::sessions::{count_sign_in, finish_sign_in};
use crate::flows::{audit, SignedIn};
use crate::metrics::Outcome;

use crate::state::AppState;
use crate::throttle::{self, Limited};
use hmac::Mac;
use serde_json::json;
use uuid::Uuid;

/// Options for a passwordless sign-in. With an address, the account's
/// passkeys are listed; an unknown address (or one without passkeys) gets
/// a stand-in credential derived from it, so the answer does not tell
/// whether the account exists. Without one, any discoverable passkey of
/// this site may answer.
pub async fn options(
    state: &AppState,
    email: Option<Email>,
    client: &Origin,
) -> Result<Options, FlowError> {
    throttle::check_rate(state, Limited::SignIn, client).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    if let Some(email) = &email {
        let user = tx.user_by_email(email).await?;
        if let Some(user) = user.filter(|user| !user.is_banned(now)) {
            let keys = usable_passkeys(tx.as_mut(), user.id).await?;
            if !keys.is_empty() {
                let ceremony = (Purpose::SignIn, user.id, None);
                let options = start_listing(state, tx.as_mut(), ceremony, keys, now).await?;
                tx.commit().await?;
                return Ok(options);
            }
        }
    }
    let (request, auth) = state
        .passkeys
        .relying_party()
        .start_discoverable_authentication()
        .map_err(FlowError::internal)?;
    let mut options = serde_json::to_value(&request.public_key).map_err(FlowError::internal)?;
    if let Some(email) = &email {
        options["allowCredentials"] = json!([{
            "type": "public-key",
            "id": stand_in_credential(state, email),
        }]);
        options = super::uniform(options);
    }
    let auth = AuthState::Discoverable(auth);
    let ceremony = (Purpose::SignIn, None, None);
    let (challenge_id, expires_at) =
        start_ceremony(state, tx.as_mut(), ceremony, &auth, now).await?;
    tx.commit().await?;
    Ok(Options {
        challenge_id,
        options,
        expires_at,
    })
}

/// A credential id that looks like a real one and is the same for an
/// address every time (keyed, so nobody else can compute it).
fn stand_in_credential(state: &AppState, email: &Email) -> String {
    let mut mac = hmac_sha256(&state.passkeys.stand_in_key());
    mac.update(email.as_str().as_bytes());
    let bytes = mac.finalize().into_bytes();
    // 16 bytes: the length most platform authenticators use.
    data_encoding::BASE64URL_NOPAD.encode(&bytes[..16])
}

/// Completes a passwordless sign-in: the usual token pair at `aal2` (a
/// passkey with user verification is two factors), no second step.
pub async fn verify(
    state: &AppState,
    assertion: Assertion,
    client: &Origin,
) -> Result<SignedIn, FlowError> {
    throttle::check_rate(state, Limited::SignIn, client).await?;
    let ceremony = (Purpose::SignIn, None, None);
    let (ceremony, auth): (_, AuthState) =
        take_ceremony(state, assertion.challenge_id, ceremony).await?;
    let checked = check_assertion(state, auth, ceremony.user_id, &assertion.credential, client);
    let Some((record, result)) = checked.await? else {
        return Err(refused(state, ceremony.user_id, "invalid_passkey", client).await);
    };
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let user = tx.user_by_id(record.user_id).await?;
    let Some(user) = user.filter(|user| !user.is_banned(now)) else {
        drop(tx);
        return Err(refused(state, Some(record.user_id), "banned", client).await);
    };
    let assurance = Assurance {
        first: AuthMethod::passkey(result.backup_eligible()),
        second: None,
    };
    let details = json!({ "method": "passkey", "passkey_id": record.id });
    let kind = (audit::Kind::SignInSucceeded, details);
    finish_sign_in(state, tx, (user, assurance), client, kind, now).await
}

/// A refused passkey sign-in: counted, and audited when the account is
/// known (a discoverable answer that matches nobody names no account).
async fn refused(
    state: &AppState,
    user_id: Option<Uuid>,
    reason: &str,
    client: &Origin,
) -> FlowError {
    count_sign_in(state, AuthMethod::Passkey, Outcome::failure);
    if let Some(user_id) = user_id {
        let entry = audit::Entry::by_user(audit::Kind::SignInFailed, user_id)
            .details(json!({ "method": "passkey", "reason": reason }));
        audit::record(state, client, entry).await;
    }
    FlowError::InvalidCredentials
}

/// Options for a passkey as the second step of a pending sign-in.
pub async fn second_step_options(
    state: &AppState,
    mfa_token: &str,
    client: &Origin,
) -> Result<Options, FlowError> {
    throttle::check_rate(state, Limited::SignIn, client).await?;
    let hash = sha256_hex(mfa_token);
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let max_attempts = state.settings.code_max_attempts;
    let challenge = tx
        .mfa_challenge(&hash, now, max_attempts)
        .await?
        .ok_or(FlowError::InvalidSecondFactor)?;
    let ceremony = (Purpose::SecondFactor, challenge.user_id, Some(hash));
    let options = start_listed(state, tx.as_mut(), ceremony, now).await?;
    tx.commit().await?;
    Ok(options)
}

/// Options for a passkey step-up of the caller's session.
pub async fn step_up_options(
    state: &AppState,
    caller: &Caller,
    client: &Origin,
) -> Result<Options, FlowError> {
    throttle::check_rate(state, Limited::Reauthentication, client).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let binding = Some(caller.session.id.to_string());
    let ceremony = (Purpose::StepUp, caller.user.id, binding);
    let options = start_listed(state, tx.as_mut(), ceremony, now).await?;
    tx.commit().await?;
    Ok(options)
}

/// Checks a passkey given as a second factor (second step or step-up):
/// the ceremony must be the user's, for this purpose and this pending
/// sign-in or session. Run before the caller opens its transaction (the
/// check writes the credential's counter on a connection of its own).
pub async fn as_second_factor(
    state: &AppState,
    user_id: Uuid,
    assertion: &Assertion,
    (purpose, binding): (Purpose, &str),
    client: &Origin,
) -> Result<Option<SecondFactor>, FlowError> {
    let ceremony = (purpose, Some(user_id), Some(binding));
    let (_, auth): (_, AuthState) = take_ceremony(state, assertion.challenge_id, ceremony).await?;
    let checked = check_assertion(state, auth, Some(user_id), &assertion.credential, client);
    Ok(checked
        .await?
        .map(|(_, result)| SecondFactor::passkey(result.backup_eligible())))
}
