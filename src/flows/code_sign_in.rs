//! Sign-in with an emailed code or link: no password needed, so it also
//! serves accounts created through a social provider or an invitation.

use super::codes::{self, claim_mail_slot, Proof};
use super::sessions::open_session;
use super::{audit, SignedIn};
use crate::domain::{CodeAction, Email};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::Timestamp;
use serde_json::json;

/// Mails a `sign_in` code to an existing, unbanned account; anyone else
/// gets nothing, with the same answer.
pub async fn request(state: &AppState, email: &Email, client: &ClientInfo) -> Result<(), ApiError> {
    let now = Timestamp::now();
    let mut tx = state.store.transaction().await?;
    let Some(user) = tx.user_by_email(email.as_str()).await? else {
        return Ok(());
    };
    if user.is_banned(now) || !claim_mail_slot(state, tx.as_mut(), email, now).await? {
        return Ok(());
    }
    let locale = codes::mail_locale(Some(&user), client);
    let (action, kind) = (CodeAction::SignIn, MailKind::SignIn);
    codes::send_code(
        state,
        tx.as_mut(),
        email,
        action,
        Some(user.id),
        kind,
        locale,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Consumes the code and opens a session in one transaction. The code
/// proves the address, so an unverified one becomes verified.
pub async fn confirm(
    state: &AppState,
    proof: Proof,
    client: ClientInfo,
) -> Result<SignedIn, ApiError> {
    let now = Timestamp::now();
    let tx = state.store.transaction().await?;
    let (mut tx, consumed) = codes::consume(state, tx, CodeAction::SignIn, &proof, now).await?;
    let user = match consumed.user_id {
        Some(id) => tx.user_by_id(id).await?,
        None => None,
    }
    .filter(|user| user.email == consumed.email && !user.is_banned(now))
    .ok_or(ApiError::InvalidCode)?;
    let mut user = user;
    if user.email_verified_at.is_none() {
        tx.set_email_verified(user.id, Some(now), now).await?;
        user.email_verified_at = Some(now);
    }
    let (session, refresh_token) = open_session(state, tx.as_mut(), user.id, &client, now).await?;
    let entry = audit::Entry::by_user(audit::Kind::SignInSucceeded, user.id)
        .details(json!({ "method": "email_code", "session_id": session.id }));
    audit::record_in(tx.as_mut(), &client, entry).await?;
    tx.commit().await?;
    let access = state.tokens.issue(user.id, session.id, user.role, now)?;
    Ok(SignedIn {
        access,
        refresh_token,
        session,
        user,
    })
}
