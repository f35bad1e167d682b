//! Invitations: an administrator creates an account without a password and
//! the person gets a `sign_in` code by mail. No administrator ever sees or
//! sets a password; the person sets one later with a `reset_password` code.

use super::admin::current_role;
use super::audit::{self, Entry, Kind};
use super::codes::{self, CodeMail};
use crate::domain::{CodeAction, Email, Locale, Role};
use crate::error::FlowError;
use crate::flows::context::{Admin, Origin};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{NewUser, User};
use serde_json::json;

pub struct Invitation {
    pub email: Email,
    pub role: Role,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<Locale>,
}

/// Creates the user (unverified until the code is used) and queues the
/// invitation, in one transaction; 409 when the address has an account.
pub async fn invite(
    state: &AppState,
    admin: &Admin,
    invitation: Invitation,
    client: &Origin,
) -> Result<User, FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    tx.lock("super_admins").await?;
    if invitation.role > current_role(tx.as_mut(), admin, now).await? {
        return Err(admin.refuse("nobody grants a role above their own"));
    }
    let user = tx
        .insert_user(&NewUser {
            email_verified_at: None,
            role: invitation.role,
            first_name: invitation.first_name,
            last_name: invitation.last_name,
            locale: invitation.locale.map(|l| l.as_str().to_string()),
            ..NewUser::verified(invitation.email.clone(), "email", now)
        })
        .await
        .map_err(super::email_conflict)?;
    let locale = invitation
        .locale
        .unwrap_or_else(|| codes::mail_locale(None, client));
    let mail = CodeMail {
        to: &invitation.email,
        action: CodeAction::SignIn,
        kind: MailKind::Invite,
        user_id: Some(user.id),
        locale,
    };
    codes::send_code(state, tx.as_mut(), mail, now).await?;
    let entry = Entry::new(Kind::UserInvited)
        .user(user.id)
        .actor(admin.auth.user.id)
        .details(json!({ "email": user.email, "role": user.role }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(user)
}
