//! Passkeys (WebAuthn): registration, passwordless sign-in, and the
//! assertion check that the second step of a sign-in and step-up share.
//!
//! Ceremony state lives in the database, sealed and bound to the ceremony
//! id: options handed out by one instance verify on any other, and a
//! ceremony is taken (deleted) before its answer is checked, so each is used
//! once whatever the outcome.

pub mod manage;
pub mod registration;
pub mod sign_in;

use super::audit;
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::passkeys::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PublicKeyCredential, WebauthnError,
};
use crate::state::AppState;
use crate::store::{Ceremony, PasskeyRecord, Repo, Timestamp};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// What a ceremony is for; stored with it and checked when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    SignIn,
    SecondFactor,
    StepUp,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
            Purpose::SecondFactor => "second_factor",
            Purpose::StepUp => "step_up",
        }
    }
}

/// Options for the browser or app, and the ceremony they belong to.
pub struct Options {
    pub challenge_id: Uuid,
    /// WebAuthn Level 3 JSON (`PublicKeyCredentialCreationOptionsJSON` or
    /// `PublicKeyCredentialRequestOptionsJSON`).
    pub options: Value,
    pub expires_at: Timestamp,
}

/// A passkey assertion answering a ceremony.
pub struct Assertion {
    pub challenge_id: Uuid,
    pub credential: PublicKeyCredential,
}

/// The state of an authentication ceremony: the user's credentials were
/// listed, or any discoverable credential may answer.
#[derive(Serialize, Deserialize)]
enum AuthState {
    Listed(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// Stores a ceremony with its sealed state in `tx`.
async fn start_ceremony<T: Serialize>(
    state: &AppState,
    tx: &mut dyn Repo,
    (purpose, user_id, binding): (Purpose, Option<Uuid>, Option<String>),
    ceremony_state: &T,
    now: Timestamp,
) -> Result<(Uuid, Timestamp), FlowError> {
    let id = Uuid::now_v7();
    let expires_at = now.plus(state.passkeys.ceremony_ttl());
    let ceremony = Ceremony {
        id,
        purpose: purpose.as_str().into(),
        user_id,
        binding,
        state_enc: state
            .passkeys
            .seal(id, ceremony_state)
            .map_err(FlowError::internal)?,
        created_at: now,
        expires_at,
    };
    tx.insert_ceremony(&ceremony).await?;
    Ok((id, expires_at))
}

/// Takes the live ceremony `id` (on its own connection: it is used up even
/// when the answer turns out wrong) and opens its state. Anything else
/// (unknown, expired, used, another purpose or user) is the same 400.
async fn take_ceremony<T: DeserializeOwned>(
    state: &AppState,
    id: Uuid,
    (purpose, user_id, binding): (Purpose, Option<Uuid>, Option<&str>),
) -> Result<(Ceremony, T), FlowError> {
    let now = state.clock.now();
    let mut repo = state.store.connection().await?;
    let ceremony = repo
        .take_ceremony(id, now)
        .await?
        .filter(|c| c.purpose == purpose.as_str())
        .filter(|c| user_id.is_none() || c.user_id == user_id)
        .filter(|c| binding.is_none() || c.binding.as_deref() == binding)
        .ok_or_else(unknown_ceremony)?;
    let opened = state
        .passkeys
        .open(ceremony.id, &ceremony.state_enc)
        .map_err(FlowError::internal)?;
    Ok((ceremony, opened))
}

fn unknown_ceremony() -> FlowError {
    FlowError::bad_request(
        "challenge_id",
        "is unknown, expired or used: request new options",
    )
}

/// The user's passkeys that may sign in (flagged ones may not), with their
/// credentials.
async fn usable_passkeys(
    repo: &mut dyn Repo,
    user_id: Uuid,
) -> Result<Vec<(PasskeyRecord, Passkey)>, FlowError> {
    let records = repo.passkeys_of_user(user_id).await?;
    records
        .into_iter()
        .filter(PasskeyRecord::is_usable)
        .map(|r| {
            let key: Passkey = serde_json::from_str(&r.credential).map_err(FlowError::internal)?;
            Ok((r, key))
        })
        .collect()
}

/// Starts an authentication ceremony listing the user's usable passkeys.
async fn start_listed(
    state: &AppState,
    tx: &mut dyn Repo,
    (purpose, user_id, binding): (Purpose, Uuid, Option<String>),
    now: Timestamp,
) -> Result<Options, FlowError> {
    let keys = usable_passkeys(tx, user_id).await?;
    start_listing(state, tx, (purpose, user_id, binding), keys, now).await
}

/// Starts an authentication ceremony listing `keys` (the user's usable
/// passkeys, already loaded).
async fn start_listing(
    state: &AppState,
    tx: &mut dyn Repo,
    (purpose, user_id, binding): (Purpose, Uuid, Option<String>),
    keys: Vec<(PasskeyRecord, Passkey)>,
    now: Timestamp,
) -> Result<Options, FlowError> {
    let keys: Vec<Passkey> = keys.into_iter().map(|(_, key)| key).collect();
    if keys.is_empty() {
        return Err(FlowError::Conflict {
            slug: "no-passkey",
            detail: "the account has no passkey".into(),
        });
    }
    let (options, auth) = state
        .passkeys
        .relying_party()
        .start_passkey_authentication(&keys)
        .map_err(FlowError::internal)?;
    let ceremony = (purpose, Some(user_id), binding);
    let auth = AuthState::Listed(auth);
    let (challenge_id, expires_at) = start_ceremony(state, tx, ceremony, &auth, now).await?;
    Ok(Options {
        challenge_id,
        options: uniform(serde_json::to_value(&options.public_key).map_err(FlowError::internal)?),
        expires_at,
    })
}

/// Request options in the one shape every listing has (no extensions, no
/// transports), so that a stand-in for an unknown address looks like a
/// real account's.
fn uniform(mut options: Value) -> Value {
    if let Some(object) = options.as_object_mut() {
        object.remove("extensions");
    }
    if let Some(listed) = options
        .get_mut("allowCredentials")
        .and_then(Value::as_array_mut)
    {
        for entry in listed.iter_mut().filter_map(Value::as_object_mut) {
            entry.remove("transports");
        }
    }
    options
}

/// Checks an assertion against a ceremony's state and the passkeys of the
/// user it names: the passkey and the result, or `None` when it does not
/// verify (wrong origin or relying party, no user verification, unknown or
/// flagged credential, bad signature). A signature counter that went
/// backwards on a valid signature means a cloned authenticator: the
/// credential is flagged (it signs nobody in from then on) and audited.
async fn check_assertion(
    state: &AppState,
    auth: AuthState,
    user_id: Option<Uuid>,
    credential: &PublicKeyCredential,
    client: &Origin,
) -> Result<Option<(PasskeyRecord, AuthenticationResult)>, FlowError> {
    let relying_party = state.passkeys.relying_party();
    let mut repo = state.store.connection().await?;
    let user_id = match (&auth, user_id) {
        (AuthState::Listed(_), Some(user_id)) => user_id,
        (AuthState::Discoverable(_), _) => {
            let Ok((handle, _)) = relying_party.identify_discoverable_authentication(credential)
            else {
                return Ok(None);
            };
            match repo.user_of_passkey_handle(handle).await? {
                Some(user_id) => user_id,
                None => return Ok(None),
            }
        }
        (AuthState::Listed(_), None) => return Ok(None),
    };
    let keys = usable_passkeys(repo.as_mut(), user_id).await?;
    let result = match auth {
        AuthState::Listed(auth) => relying_party.finish_passkey_authentication(credential, &auth),
        AuthState::Discoverable(auth) => {
            let known: Vec<DiscoverableKey> = keys.iter().map(|(_, k)| k.into()).collect();
            relying_party.finish_discoverable_authentication(credential, auth, &known)
        }
    };
    let used = |id: &[u8]| {
        keys.iter()
            .find(|(_, k)| k.cred_id().as_ref() == id)
            .cloned()
    };
    match result {
        Ok(result) => {
            let Some((record, mut key)) = used(result.cred_id().as_ref()) else {
                return Ok(None);
            };
            key.update_credential(&result);
            let stored = serde_json::to_string(&key).map_err(FlowError::internal)?;
            let now = state.clock.now();
            let use_ = (stored.as_str(), result.counter());
            // A use racing with one that stored a later counter (or a flag)
            // first does not count.
            if !repo.record_passkey_use(record.id, use_, now).await? {
                return Ok(None);
            }
            Ok(Some((record, result)))
        }
        Err(WebauthnError::CredentialPossibleCompromise) => {
            if let Some((record, _)) = used(credential.raw_id.as_ref()) {
                let now = state.clock.now();
                if repo.flag_passkey(record.id, now).await? {
                    let entry = audit::Entry::by_user(audit::Kind::PasskeyFlagged, user_id)
                        .details(json!({ "passkey_id": record.id, "reason": "counter_went_back" }));
                    audit::record_in(state, repo.as_mut(), client, entry).await?;
                }
            }
            Ok(None)
        }
        Err(error) => {
            tracing::info!(%error, "passkey assertion refused");
            Ok(None)
        }
    }
}
