//! The owner's and administrators' view of a user's passkeys: list,
//! rename, remove.

use crate::error::FlowError;
use crate::flows::context::{Admin, Caller, Origin};
use crate::flows::mfa::factors::{admin_over_factors, lock_user};
use crate::flows::mfa::require_recent_second_factor;
use crate::flows::{audit, codes};
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{PasskeyRecord, Repo, Timestamp, User};
use serde_json::json;
use uuid::Uuid;

pub async fn list(state: &AppState, user_id: Uuid) -> Result<Vec<PasskeyRecord>, FlowError> {
    let mut repo = state.store.connection().await?;
    Ok(repo.passkeys_of_user(user_id).await?)
}

/// An administrator's view: 404 for an unknown user.
pub async fn list_of_user(
    state: &AppState,
    user_id: Uuid,
) -> Result<Vec<PasskeyRecord>, FlowError> {
    let mut repo = state.store.connection().await?;
    repo.user_by_id(user_id).await?.ok_or(FlowError::NotFound)?;
    Ok(repo.passkeys_of_user(user_id).await?)
}

pub async fn rename(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    name: &str,
) -> Result<PasskeyRecord, FlowError> {
    let mut repo = state.store.connection().await?;
    if !repo.rename_passkey(id, caller.user.id, name).await? {
        return Err(FlowError::NotFound);
    }
    let keys = repo.passkeys_of_user(caller.user.id).await?;
    keys.into_iter()
        .find(|k| k.id == id)
        .ok_or(FlowError::NotFound)
}

/// The owner removes a passkey: with the second factor first when the
/// account has one, never the last way to sign in (no password, no linked
/// provider, no other passkey). The owner is told by mail.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    require_recent_second_factor(state, caller).await?;
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let has_password = lock_user(tx.as_mut(), caller.user.id).await?;
    let keys = tx.passkeys_of_user(caller.user.id).await?;
    if !keys.iter().any(|k| k.id == id) {
        return Err(FlowError::NotFound);
    }
    let providers = tx.accounts_of_user(caller.user.id).await?.len();
    // A flagged passkey signs nobody in: it is no way to sign in.
    let others = keys.iter().filter(|k| k.id != id && k.is_usable()).count();
    if !has_password && providers == 0 && others == 0 {
        return Err(FlowError::Conflict {
            slug: "last-sign-in-method",
            detail: "this is your only way to sign in; set a password or add another passkey \
                     first"
                .into(),
        });
    }
    let user = tx
        .user_by_id(caller.user.id)
        .await?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))?;
    delete(state, tx.as_mut(), (&user, id), None, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// An administrator removes a user's passkey (a lost device); audited with
/// the actor, and the user is told. Only a SUPER-ADMIN touches a
/// SUPER-ADMIN's passkeys; nobody removes their own here.
pub async fn remove_by_admin(
    state: &AppState,
    admin: &Admin,
    (user_id, id): (Uuid, Uuid),
    client: &Origin,
) -> Result<(), FlowError> {
    let refusals = (
        "remove your own passkeys at /v1/users/me/passkeys",
        "only a SUPER-ADMIN can remove a SUPER-ADMIN's passkeys",
    );
    let (mut tx, user) = admin_over_factors(state, admin, user_id, refusals).await?;
    let now = state.clock.now();
    delete(
        state,
        tx.as_mut(),
        (&user, id),
        Some(admin.auth.user.id),
        client,
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

async fn delete(
    state: &AppState,
    tx: &mut dyn Repo,
    (user, id): (&User, Uuid),
    actor: Option<Uuid>,
    client: &Origin,
    now: Timestamp,
) -> Result<(), FlowError> {
    if !tx.delete_passkey(id, user.id).await? {
        return Err(FlowError::NotFound);
    }
    let entry = audit::Entry::new(audit::Kind::PasskeyRemoved)
        .user(user.id)
        .actor(actor.unwrap_or(user.id))
        .details(json!({ "passkey_id": id }));
    audit::record_in(state, tx, client, entry).await?;
    let notice = (
        MailKind::FactorChanged,
        json!({ "event": "passkey_removed" }),
    );
    codes::notify_user(state, tx, user, notice, client, now).await
}
