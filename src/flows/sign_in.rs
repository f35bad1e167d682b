//! Sign-in with a password.

use super::audit;
use super::code_sign_in;
use super::codes::Proof;
use super::sessions::{complete_sign_in, SignInOutcome};
use crate::domain::{AuthMethod, Email, Username, VerificationCode};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::hashing::Verdict;
use crate::metrics::Outcome;
use crate::state::AppState;
use crate::store::{Timestamp, User};
use crate::throttle;
use serde_json::json;

pub enum Identifier {
    Email(Email),
    Username(Username),
}

/// What a person signs in with, parsed from the request once.
pub enum Credentials {
    Password {
        identifier: Identifier,
        password: String,
    },
    /// A `sign_in` code mailed to the address.
    Code {
        email: Email,
        code: VerificationCode,
    },
}

/// Signs in with either kind of credentials. A wrong code is the same
/// `InvalidCredentials` as a wrong password: at sign-in, nothing tells which
/// part was wrong.
pub async fn sign_in(
    state: &AppState,
    credentials: Credentials,
    client: Origin,
) -> Result<SignInOutcome, FlowError> {
    let (method, result) = match credentials {
        Credentials::Password {
            identifier,
            password,
        } => (
            AuthMethod::Password,
            with_password(state, identifier, &password, client).await,
        ),
        Credentials::Code { email, code } => {
            let proof = Proof::Code { email, code };
            let result = code_sign_in::confirm(state, proof, client)
                .await
                .map_err(|error| match error {
                    FlowError::InvalidCode => FlowError::InvalidCredentials,
                    other => other,
                });
            (AuthMethod::EmailCode, result)
        }
    };
    // Successes are counted where the session opens, on every path.
    if let Err(FlowError::InvalidCredentials) = &result {
        super::sessions::count_sign_in(state, method, Outcome::failure);
    }
    result
}

/// Unknown account, missing password, wrong password, locked account: the
/// same error after the same work (one Argon2 verification, against a dummy
/// hash if needed).
pub async fn with_password(
    state: &AppState,
    identifier: Identifier,
    password: &str,
    client: Origin,
) -> Result<SignInOutcome, FlowError> {
    // A hashing slot first: when the service is overloaded the answer is a
    // 503 that costs no database work and counts nothing against the account.
    let client_key = client.limit_key();
    let slot = state.hasher.slot(client_key.as_deref()).await?;
    let user = {
        let mut repo = state.store.connection().await?;
        match &identifier {
            Identifier::Email(email) => repo.user_by_email(email).await?,
            Identifier::Username(name) => repo.user_by_username(name.as_str()).await?,
        }
    };
    // The lockout counts per account: its address, or what was typed when
    // there is no such account, so that both behave alike.
    let key = match (&user, &identifier) {
        (Some(user), _) => user.email.to_string(),
        (None, Identifier::Email(email)) => email.to_string(),
        (None, Identifier::Username(name)) => format!("@{}", name.as_str()),
    };
    let allowed = throttle::claim_sign_in(state, &key).await?;
    let stored = user
        .as_ref()
        .filter(|_| allowed)
        .and_then(|u| u.password_hash.as_deref());
    // No database connection is held while hashing.
    let verdict = slot.verify(password, stored).await?;
    let now = state.clock.now();
    let failure = match &user {
        None => Some("invalid_credentials"),
        Some(_) if !allowed => Some("locked"),
        Some(_) if !verdict.is_match() => Some("invalid_credentials"),
        Some(user) if user.email_verified_at.is_none() => Some("unverified"),
        Some(user) if user.is_banned(now) => Some("banned"),
        Some(_) => None,
    };
    if let Some(reason) = failure {
        let mut entry = audit::Entry::new(audit::Kind::SignInFailed)
            .details(json!({ "identifier": key, "reason": reason }));
        if let Some(user) = &user {
            entry = entry.user(user.id);
        }
        audit::record(state, &client, entry).await;
        return Err(FlowError::InvalidCredentials);
    }
    let Some(mut user) = user else {
        return Err(FlowError::InvalidCredentials);
    };
    if verdict == Verdict::MatchNeedsRehash {
        if let Some(upgraded) = rehash(state, &user, password, now).await {
            // The session is opened for the user as it now is: the check
            // that the password did not change meanwhile compares with this.
            user.password_hash = Some(upgraded);
        }
    }
    let tx = state.store.transaction().await?;
    let method = (
        audit::Kind::SignInSucceeded,
        json!({ "method": "password" }),
    );
    let user = (user, AuthMethod::Password);
    complete_sign_in(state, tx, user, &client, method, now).await
}

/// Stores the password again with the configured parameters, and returns
/// the new hash once stored. Only over the hash that was checked: a
/// password changed since (a reset in another request) is never put back.
/// A failure only costs the upgrade, never the sign-in.
async fn rehash(state: &AppState, user: &User, password: &str, now: Timestamp) -> Option<String> {
    let checked = user.password_hash.as_deref()?;
    // Only with a slot free now: under load the upgrade waits for a later
    // sign-in rather than make this one wait, or take a queue place.
    let Some(slot) = state.hasher.slot_now() else {
        tracing::debug!("no free hashing slot: the password is upgraded at a later sign-in");
        return None;
    };
    let result = async {
        let hash = slot.hash(password).await.map_err(FlowError::from)?;
        let mut repo = state.store.connection().await?;
        let stored = repo
            .upgrade_password_hash(user.id, checked, &hash, now)
            .await?;
        Ok::<_, FlowError>(stored.then_some(hash))
    }
    .await;
    match result {
        Ok(Some(hash)) => {
            tracing::info!(user_id = %user.id, "password re-hashed with current parameters");
            Some(hash)
        }
        Ok(None) => {
            tracing::info!(user_id = %user.id, "password changed meanwhile: not re-hashed");
            None
        }
        Err(error) => {
            tracing::warn!(user_id = %user.id, error = ?error, "password re-hash failed");
            None
        }
    }
}
