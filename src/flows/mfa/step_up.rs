//! Step-up: the caller's session proves the second factor again (or for the
//! first time, if it was opened before the factor existed) and gets a new
//! token pair with `aal2` and a new `auth_time`; same session, same `sid`.

use super::{active_factors, check_passkey, raise_and_reissue, record_failure, verify, Proof};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::flows::passkeys::Purpose;
use crate::flows::{audit, SignedIn};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use serde_json::json;

pub async fn step_up(
    state: &AppState,
    caller: &Caller,
    proof: Proof,
    client: &Origin,
) -> Result<SignedIn, FlowError> {
    throttle::check_rate(state, Limited::Reauthentication, client).await?;
    let user = caller.user.clone();
    {
        let mut repo = state.store.connection().await?;
        // A passkey raises a session on its own (an account with passkeys
        // and no authenticator app, whose role needs aal2).
        let passkey = matches!(proof, Proof::Passkey(_));
        if !passkey && active_factors(repo.as_mut(), user.id).await?.is_empty() {
            return Err(no_second_factor());
        }
    }
    // A stolen access token must not become a way to guess codes: every
    // attempt counts in the account's lockout.
    let allowed = throttle::claim_second_factor(state, user.email.as_str()).await?;
    let session = caller.session.id.to_string();
    let proof = match allowed {
        true => check_passkey(state, &user, proof, (Purpose::StepUp, &session), client).await?,
        false => proof,
    };
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let second = match allowed {
        true => verify(state, tx.as_mut(), &user, &proof, client, now).await?,
        false => None,
    };
    super::count_check(state, &proof, second.is_some());
    let Some(second) = second else {
        drop(tx);
        let reason = if allowed { "wrong_code" } else { "locked" };
        record_failure(state, &user, reason, client).await;
        return Err(wrong_code());
    };
    throttle::clear_second_factor(tx.as_mut(), user.email.as_str()).await?;
    let entry = audit::Entry::by_user(audit::Kind::MfaVerified, user.id).details(json!({
        "session_id": caller.session.id,
        "second_factor": second.as_str(),
    }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let raised = raise_and_reissue(state, tx, (user, caller.session.id), second, now).await?;
    state.outbox.wake();
    Ok(raised)
}

/// A wrong code on a signed-in route: 403, not 401, so that clients do not
/// take it for an expired access token.
pub(super) fn wrong_code() -> FlowError {
    FlowError::Forbidden("the code is not valid")
}

pub(super) fn no_second_factor() -> FlowError {
    FlowError::Conflict {
        slug: "no-second-factor",
        detail: "the account has no active second factor".into(),
    }
}
