//! Password reset by emailed code or link. The new password goes through
//! the same screening as at sign-up; every session ends, and so does every
//! pending email change and link flow; the owner gets a notice that names the
//! linked provider identities, which the reset can remove in the same step;
//! nobody is signed in. A sign-in lockout does not stop a reset, and a reset
//! clears it.

use super::codes::{self, Proof};
use super::{account, audit, passwords};
use crate::domain::{CodeAction, Email, Password};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::mail::MailKind;
use crate::state::AppState;
use serde_json::json;

/// Mails a `reset_password` code to an existing, unbanned account; anyone
/// else gets nothing, with the same answer.
pub async fn request(state: &AppState, email: &Email, client: &Origin) -> Result<(), FlowError> {
    let what = (CodeAction::ResetPassword, MailKind::ResetPassword);
    codes::mail_to_account(state, email, what, client).await
}

/// What a reset does besides setting the password.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetOptions {
    /// Remove every linked provider identity too (someone else's may be
    /// among them).
    pub unlink_accounts: bool,
}

/// Sets the new password. It is screened and hashed before the code is
/// consumed, so a refused password leaves the code usable.
pub async fn confirm(
    state: &AppState,
    proof: Proof,
    new_password: Password,
    options: ResetOptions,
    client: &Origin,
) -> Result<(), FlowError> {
    let action = CodeAction::ResetPassword;
    // A wrong code is refused before the password is hashed: the time of a
    // refusal says nothing about whether the address has an account.
    let email = codes::check(state, action, &proof, state.clock.now(), client).await?;
    let mut repo = state.store.connection().await?;
    let user = repo.user_by_email(&email).await?;
    drop(repo);
    let Some(user) = user else {
        return Err(FlowError::InvalidCode);
    };
    let hash = passwords::screen_and_hash(state, &user, &new_password, client).await?;

    let now = state.clock.now();
    let tx = state.store.transaction().await?;
    let (mut tx, consumed) = codes::consume(state, tx, action, &proof, now, client).await?;
    if consumed.user_id != Some(user.id) || consumed.email != user.email {
        return Err(FlowError::InvalidCode);
    }
    tx.set_password_hash(user.id, &hash, now).await?;
    let ended = tx
        .revoke_sessions_of_user(user.id, None, now, "password_reset")
        .await?;
    tx.clear_login_attempts(user.email.as_str()).await?;
    let grants_ended = account::end_pending_grants(tx.as_mut(), user.id).await?;
    let unlinked = if options.unlink_accounts {
        tx.delete_accounts_of_user(user.id).await?
    } else {
        0
    };
    let linked: Vec<String> = tx
        .accounts_of_user(user.id)
        .await?
        .into_iter()
        .map(|account| provider_name(state, &account.provider_id))
        .collect();
    let entry = audit::Entry::by_user(audit::Kind::PasswordReset, user.id).details(json!({
        "sessions_ended": ended,
        "pending_changes_ended": grants_ended,
        "accounts_unlinked": unlinked,
    }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let values = json!({ "reset": true, "linked": linked, "unlinked": unlinked });
    let notice = (MailKind::PasswordChanged, values);
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    tracing::info!(user_id = %user.id, "password reset");
    Ok(())
}

/// The provider's display name, or its id once it is no longer configured.
fn provider_name(state: &AppState, id: &str) -> String {
    state
        .providers
        .get(id)
        .map_or_else(|| id.to_string(), |provider| provider.name.clone())
}
