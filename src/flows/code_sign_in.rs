//! Sign-in with an emailed code or link: no password needed, so it also
//! serves accounts created through a social provider or an invitation.

use super::audit;
use super::codes::{self, Proof};
use super::sessions::{complete_sign_in, SignInOutcome};
use crate::domain::{AuthMethod, CodeAction, Email};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::mail::MailKind;
use crate::state::AppState;
use serde_json::json;

/// Mails a `sign_in` code to an existing, unbanned account; anyone else
/// gets nothing, with the same answer.
pub async fn request(state: &AppState, email: &Email, client: &Origin) -> Result<(), FlowError> {
    let what = (CodeAction::SignIn, MailKind::SignIn);
    codes::mail_to_account(state, email, what, client).await
}

/// Consumes the code and opens a session in one transaction. The code
/// proves the address, so an unverified one becomes verified.
pub async fn confirm(
    state: &AppState,
    proof: Proof,
    client: Origin,
) -> Result<SignInOutcome, FlowError> {
    let now = state.clock.now();
    let tx = state.store.transaction().await?;
    let (mut tx, consumed) =
        codes::consume(state, tx, CodeAction::SignIn, &proof, now, &client).await?;
    let user = match consumed.user_id {
        Some(id) => tx.user_by_id(id).await?,
        None => None,
    }
    .filter(|user| user.email == consumed.email && !user.is_banned(now))
    .ok_or(FlowError::InvalidCode)?;
    let mut user = user;
    if user.email_verified_at.is_none() {
        // An invited user's first code proves the address.
        tx.set_email_verified(user.id, Some(now), now).await?;
        user.email_verified_at = Some(now);
        let entry = audit::Entry::by_user(audit::Kind::AddressVerified, user.id)
            .details(json!({ "method": "email_code" }));
        audit::record_in(state, tx.as_mut(), &client, entry).await?;
    }
    let method = (
        audit::Kind::SignInSucceeded,
        json!({ "method": "email_code" }),
    );
    let user = (user, AuthMethod::EmailCode);
    complete_sign_in(state, tx, user, &client, method, now).await
}
