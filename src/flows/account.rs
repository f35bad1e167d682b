//! What signed-in users do to their own account: change the password, move
//! to another address, delete the account, export their data.

use super::codes::{self, CodeMail, Proof};
use super::reauth::{self, Reauthentication};
use super::{audit, passwords};
use crate::domain::{CodeAction, Email, Password, Role};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{Account, AuditEvent, AuditQuery, Factor, Repo, Session, StoreResult, User};
use serde_json::json;
use uuid::Uuid;

/// Ends what a thief could have started with a stolen password or token and
/// finish after the owner took the account back: a pending email change,
/// started link flows, identities waiting to be linked, sign-ins waiting for
/// their second factor. Called by a password
/// reset, a password change and signing out of other or all sessions.
pub(crate) async fn end_pending_grants(repo: &mut dyn Repo, user_id: Uuid) -> StoreResult<u64> {
    let changes = repo.end_email_changes(user_id).await?;
    let links = repo.end_link_flows(user_id).await?;
    // A sign-in waiting for its second factor is a session in the making.
    let second_steps = repo.delete_mfa_challenges_of_user(user_id).await?;
    Ok(changes + links + second_steps)
}

/// Changes the password after checking the current one; optionally ends
/// every other session. The owner gets a notice.
pub async fn change_password(
    state: &AppState,
    auth: &Caller,
    current: &str,
    new_password: Password,
    revoke_other_sessions: bool,
    client: &Origin,
) -> Result<(), FlowError> {
    super::mfa::require_recent_second_factor(state, auth).await?;
    let user = auth.user.clone();
    reauth::confirm_password(state, &user, current, client).await?;
    let hash = passwords::screen_and_hash(state, &user, &new_password, client).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    tx.set_password_hash(user.id, &hash, now).await?;
    end_pending_grants(tx.as_mut(), user.id).await?;
    let ended = if revoke_other_sessions {
        tx.revoke_sessions_of_user(user.id, Some(auth.session.id), now, "password_changed")
            .await?
    } else {
        0
    };
    let entry = audit::Entry::by_user(audit::Kind::PasswordChanged, user.id)
        .details(json!({ "other_sessions_ended": ended }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let notice = (MailKind::PasswordChanged, json!({ "reset": false }));
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Starts a move to `new_email`: a code to the new address, a notice to the
/// old one. Nothing changes until the code is confirmed. An address that
/// already has an account gets no code (the answer is the same).
pub async fn start_email_change(
    state: &AppState,
    auth: &Caller,
    new_email: &Email,
    password: &str,
    client: &Origin,
) -> Result<(), FlowError> {
    super::mfa::require_recent_second_factor(state, auth).await?;
    let user = auth.user.clone();
    reauth::confirm_password(state, &user, password, client).await?;
    if *new_email == user.email {
        return Err(FlowError::bad_request(
            "new_email",
            "this is already the account's address",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let locale = codes::mail_locale(Some(&user), client);
    if tx.user_by_email(new_email).await?.is_none()
        && codes::claim_mail_slot(state, tx.as_mut(), new_email, CodeAction::ChangeEmail, now)
            .await?
    {
        let mail = CodeMail {
            to: new_email,
            action: CodeAction::ChangeEmail,
            kind: MailKind::ChangeEmail,
            user_id: Some(user.id),
            locale,
        };
        codes::send_code(state, tx.as_mut(), mail, now).await?;
    }
    let notice = (MailKind::EmailChangeRequested, json!({}));
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    let entry = audit::Entry::by_user(audit::Kind::EmailChangeRequested, user.id);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Moves the account to the address the code went to. Uniqueness is the
/// database's: when two users race for one address, the second gets 409. A
/// pending sign-up for that address (someone else's, unproven) is dropped.
/// A banned user cannot complete a change. The old address is told.
pub async fn confirm_email_change(
    state: &AppState,
    proof: Proof,
    client: &Origin,
) -> Result<User, FlowError> {
    let now = state.clock.now();
    let tx = state.store.transaction().await?;
    let (mut tx, consumed) =
        codes::consume(state, tx, CodeAction::ChangeEmail, &proof, now, client).await?;
    let user = match consumed.user_id {
        Some(id) => tx.user_by_id(id).await?,
        None => None,
    }
    .ok_or(FlowError::InvalidCode)?;
    if user.is_banned(now) {
        // The code stays unused: the transaction is rolled back.
        return Err(FlowError::Forbidden("this account is suspended"));
    }
    tx.set_email(user.id, &consumed.email, now)
        .await
        .map_err(super::email_conflict)?;
    tx.take_pending_registration(&consumed.email, now).await?;
    let entry = audit::Entry::by_user(audit::Kind::EmailChanged, user.id)
        .details(json!({ "from": user.email, "to": consumed.email }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let updated = tx
        .user_by_id(user.id)
        .await?
        .ok_or(FlowError::InvalidCode)?;
    let notice = (
        MailKind::EmailChanged,
        json!({ "new_email": consumed.email }),
    );
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(updated)
}

/// Deletes the account and everything of it (sessions, identities, codes);
/// its tokens stop working at once. The last SUPER-ADMIN cannot leave.
pub async fn delete_me(
    state: &AppState,
    auth: &Caller,
    proof: Reauthentication,
    client: &Origin,
) -> Result<(), FlowError> {
    super::mfa::require_recent_second_factor(state, auth).await?;
    let user = auth.user.clone();
    let now = state.clock.now();
    let mut tx = reauth::reauthenticate(state, &user, proof, client).await?;
    if user.role == Role::SuperAdmin {
        tx.lock("super_admins").await?;
        super::admin::ensure_another_super_admin(tx.as_mut(), &user, now).await?;
    }
    tx.delete_user(user.id).await?;
    let entry = audit::Entry::by_user(audit::Kind::AccountDeleted, user.id)
        .details(json!({ "email": user.email }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account deleted by its owner");
    Ok(())
}

/// Everything stored about a user, for `GET /v1/users/me/export`.
pub struct Export {
    pub user: User,
    pub accounts: Vec<Account>,
    pub sessions: Vec<Session>,
    pub factors: Vec<Factor>,
    pub passkeys: Vec<crate::store::PasskeyRecord>,
    pub recovery_codes_remaining: i64,
    pub events: Vec<AuditEvent>,
}

/// Security events in an export: the most recent ones.
const EXPORTED_EVENTS: i64 = 1000;

pub async fn export(state: &AppState, auth: &Caller) -> Result<Export, FlowError> {
    let now = state.clock.now();
    let idle_cutoff = now.minus(state.settings.session_idle_ttl());
    let mut repo = state.store.connection().await?;
    let user = repo
        .user_by_id(auth.user.id)
        .await?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))?;
    let accounts = repo.accounts_of_user(user.id).await?;
    let sessions = repo
        .live_sessions_of_user(user.id, now, idle_cutoff)
        .await?;
    let factors = repo.factors_of_user(user.id).await?;
    let passkeys = repo.passkeys_of_user(user.id).await?;
    let recovery_codes_remaining = repo.remaining_recovery_codes(user.id).await?;
    let events = repo
        .audit_events(&AuditQuery {
            user_id: Some(user.id),
            event_type: None,
            from: None,
            to: None,
            before: None,
            limit: EXPORTED_EVENTS,
        })
        .await?;
    Ok(Export {
        user,
        accounts,
        sessions,
        factors,
        passkeys,
        recovery_codes_remaining,
        events,
    })
}
