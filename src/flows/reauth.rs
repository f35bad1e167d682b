//! Proof of the account owner before a sensitive change (password change,
//! email change, account deletion, linking a provider). A stolen access token
//! alone is not enough for any of them, and it cannot be used to guess the
//! password either: each check counts against a per-client limit of its own
//! and in the account's sign-in lockout, and one client holds at most its
//! share of the hashing queue.

use super::audit;
use super::codes::{self, Proof};
use crate::domain::{CodeAction, VerificationCode};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::state::AppState;
use crate::store::{Repo, User};
use crate::throttle::{self, Limited};
use serde_json::json;

/// How the owner proves it is them.
pub enum Reauthentication {
    Password(String),
    /// A fresh `sign_in` code, for accounts without a password.
    Code(VerificationCode),
}

impl Reauthentication {
    /// From a request's `password` and `code` fields: exactly one of them.
    pub fn from_fields(
        password: Option<String>,
        code: Option<VerificationCode>,
    ) -> Result<Self, FlowError> {
        match (password, code) {
            (Some(password), None) => Ok(Reauthentication::Password(password)),
            (None, Some(code)) => Ok(Reauthentication::Code(code)),
            _ => Err(FlowError::malformed("send either password or code")),
        }
    }
}

/// Checks the current password. 403 `forbidden` when it is not the
/// account's, when the account has none, and while the account is locked
/// (the same answer, as at sign-in, so a locked account gives nothing away).
pub async fn confirm_password(
    state: &AppState,
    user: &User,
    password: &str,
    client: &Origin,
) -> Result<(), FlowError> {
    throttle::check_rate(state, Limited::Reauthentication, client).await?;
    let client_key = client.limit_key();
    let slot = state.hasher.slot(client_key.as_deref()).await?;
    let allowed = throttle::claim_sign_in(state, user.email.as_str()).await?;
    let stored = user.password_hash.as_deref().filter(|_| allowed);
    // No database connection is held while hashing.
    let verdict = slot.verify(password, stored).await?;
    if stored.is_some() && verdict.is_match() {
        let mut repo = state.store.connection().await?;
        repo.clear_login_attempts(user.email.as_str()).await?;
        return Ok(());
    }
    let reason = if allowed { "wrong_password" } else { "locked" };
    let entry = audit::Entry::by_user(audit::Kind::ReauthenticationFailed, user.id)
        .details(json!({ "reason": reason }));
    audit::record(state, client, entry).await;
    Err(wrong_password())
}

pub fn wrong_password() -> FlowError {
    FlowError::Forbidden("the current password is not correct")
}

/// Checks the proof and returns a write transaction to make the change in.
/// A code is consumed in that transaction (it only counts once the change
/// commits); a password is checked before it opens, so no write lock is held
/// while Argon2 runs. An account with a password must use it: the mailbox
/// alone is the weaker proof.
pub async fn reauthenticate(
    state: &AppState,
    user: &User,
    proof: Reauthentication,
    client: &Origin,
) -> Result<Box<dyn Repo>, FlowError> {
    match proof {
        Reauthentication::Password(password) => {
            confirm_password(state, user, &password, client).await?;
            Ok(state.store.transaction().await?)
        }
        Reauthentication::Code(_) if user.password_hash.is_some() => Err(FlowError::bad_request(
            "code",
            "this account has a password: confirm with it",
        )),
        Reauthentication::Code(code) => {
            throttle::check_rate(state, Limited::Reauthentication, client).await?;
            let email = user.email.clone();
            let proof = Proof::Code { email, code };
            let tx = state.store.transaction().await?;
            let now = state.clock.now();
            let (tx, consumed) =
                codes::consume(state, tx, CodeAction::SignIn, &proof, now, client).await?;
            if consumed.user_id != Some(user.id) {
                return Err(FlowError::InvalidCode);
            }
            Ok(tx)
        }
    }
}
