//! Registering a passkey: the signed-in owner, recently proven (and with
//! the second factor first when the account has one), gets creation
//! options, and the authenticator's answer stores the credential.

use super::{start_ceremony, take_ceremony, Options, Purpose};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::flows::mfa::factors::{lock_user, proven_owner};
use crate::flows::reauth::Reauthentication;
use crate::flows::{audit, codes};
use crate::mail::MailKind;
use crate::passkeys::{PasskeyRegistration, RegisterPublicKeyCredential};
use crate::state::AppState;
use crate::store::{PasskeyRecord, UniqueKey};
use data_encoding::BASE64URL_NOPAD;
use serde_json::{json, Value};
use uuid::Uuid;

/// An account holds at most this many passkeys.
pub const MAX_PASSKEYS: usize = 20;

pub async fn options(
    state: &AppState,
    caller: &Caller,
    proof: Option<Reauthentication>,
    client: &Origin,
) -> Result<Options, FlowError> {
    let user = caller.user.clone();
    let mut tx = proven_owner(state, caller, &user, proof, client).await?;
    lock_user(tx.as_mut(), user.id).await?;
    let existing = tx.passkeys_of_user(user.id).await?;
    if existing.len() >= MAX_PASSKEYS {
        return Err(FlowError::Conflict {
            slug: "too-many-passkeys",
            detail: format!("an account has at most {MAX_PASSKEYS} passkeys"),
        });
    }
    let handle = match tx.passkey_handle(user.id).await? {
        Some(handle) => handle,
        None => {
            let handle = Uuid::new_v4();
            tx.insert_passkey_handle(user.id, handle).await?;
            handle
        }
    };
    // Every credential of the account, flagged ones too: an authenticator
    // that holds one does not make another.
    let exclude = existing
        .iter()
        .filter_map(|p| BASE64URL_NOPAD.decode(p.credential_id.as_bytes()).ok())
        .map(Into::into)
        .collect();
    let name = user.email.as_str();
    let display = user.display_name.as_deref().unwrap_or(name);
    let (creation, registration) = state
        .passkeys
        .relying_party()
        .start_passkey_registration(handle, name, display, Some(exclude))
        .map_err(FlowError::internal)?;
    let mut options = serde_json::to_value(&creation.public_key).map_err(FlowError::internal)?;
    prefer_resident_key(&mut options);
    let now = state.clock.now();
    let ceremony = (
        Purpose::Register,
        Some(user.id),
        Some(caller.session.id.to_string()),
    );
    let (challenge_id, expires_at) =
        start_ceremony(state, tx.as_mut(), ceremony, &registration, now).await?;
    tx.commit().await?;
    Ok(Options {
        challenge_id,
        options,
        expires_at,
    })
}

/// Asks for a discoverable credential where the authenticator can make one
/// (passwordless sign-in without typing the address), without failing on
/// those that cannot.
fn prefer_resident_key(options: &mut Value) {
    if let Some(selection) = options
        .get_mut("authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), json!("preferred"));
        selection.insert("requireResidentKey".into(), json!(false));
    }
}

pub async fn verify(
    state: &AppState,
    caller: &Caller,
    (challenge_id, credential): (Uuid, RegisterPublicKeyCredential),
    name: Option<String>,
    client: &Origin,
) -> Result<PasskeyRecord, FlowError> {
    let session = caller.session.id.to_string();
    let binding = (
        Purpose::Register,
        Some(caller.user.id),
        Some(session.as_str()),
    );
    let (_, registration): (_, PasskeyRegistration) =
        take_ceremony(state, challenge_id, binding).await?;
    let passkey = state
        .passkeys
        .relying_party()
        .finish_passkey_registration(&credential, &registration)
        .map_err(|error| {
            tracing::info!(%error, "passkey registration refused");
            FlowError::bad_request("credential", "the authenticator's answer did not verify")
        })?;
    let stored = serde_json::to_value(&passkey).map_err(FlowError::internal)?;
    let backup_eligible = stored["cred"]["backup_eligible"].as_bool().unwrap_or(false);
    let user = caller.user.clone();
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_user(tx.as_mut(), user.id).await?;
    let count = tx.passkeys_of_user(user.id).await?.len();
    // Again here: options handed out earlier must not add up past it.
    if count >= MAX_PASSKEYS {
        return Err(FlowError::Conflict {
            slug: "too-many-passkeys",
            detail: format!("an account has at most {MAX_PASSKEYS} passkeys"),
        });
    }
    let record = PasskeyRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        credential_id: BASE64URL_NOPAD.encode(passkey.cred_id().as_ref()),
        name: name.unwrap_or_else(|| format!("Passkey {}", count + 1)),
        credential: stored.to_string(),
        backup_eligible,
        created_at: now,
        last_used_at: None,
        flagged_at: None,
    };
    tx.insert_passkey(&record).await.map_err(|e| {
        if e.is_conflict_on(UniqueKey::PasskeysCredential) {
            FlowError::Conflict {
                slug: "passkey-registered",
                detail: "this passkey is registered already".into(),
            }
        } else {
            e.into()
        }
    })?;
    let entry = audit::Entry::by_user(audit::Kind::PasskeyRegistered, user.id)
        .details(json!({ "passkey_id": record.id, "synced": backup_eligible }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let notice = (MailKind::FactorChanged, json!({ "event": "passkey_added" }));
    codes::notify_user(state, tx.as_mut(), &user, notice, client, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(record)
}
