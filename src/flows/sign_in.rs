//! Sign-in with a password.

use super::sessions::open_session;
use super::SignedIn;
use crate::domain::{Email, Username};
use crate::error::ApiError;
use crate::hashing::Verdict;
use crate::http::ClientInfo;
use crate::state::AppState;
use crate::store::Timestamp;

pub enum Identifier {
    Email(Email),
    Username(Username),
}

/// Unknown account, missing password, wrong password: the same error after
/// the same work (one Argon2 verification, against a dummy hash if needed).
pub async fn with_password(
    state: &AppState,
    identifier: Identifier,
    password: &str,
    client: ClientInfo,
) -> Result<SignedIn, ApiError> {
    let user = {
        let mut repo = state.store.connection().await?;
        match &identifier {
            Identifier::Email(email) => repo.user_by_email(email.as_str()).await?,
            Identifier::Username(name) => repo.user_by_username(name.as_str()).await?,
        }
    };
    // No connection is held while hashing.
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let verdict = state.hasher.verify(password, stored).await?;
    let user = match user {
        Some(user) if verdict.is_match() && user.email_verified_at.is_some() => user,
        _ => return Err(ApiError::InvalidCredentials),
    };
    let now = Timestamp::now();
    if verdict == Verdict::MatchNeedsRehash {
        rehash(state, &user.id, password, now).await;
    }
    let mut tx = state.store.transaction().await?;
    let (session, refresh_token) = open_session(state, tx.as_mut(), user.id, &client, now).await?;
    tx.commit().await?;
    let access = state.tokens.issue(user.id, session.id, user.role, now)?;
    Ok(SignedIn {
        access,
        refresh_token,
        session,
        user,
    })
}

/// Stores the password again with the configured parameters. A failure only
/// costs the upgrade, never the sign-in.
async fn rehash(state: &AppState, user_id: &uuid::Uuid, password: &str, now: Timestamp) {
    let result = async {
        let hash = state.hasher.hash(password).await.map_err(ApiError::from)?;
        let mut repo = state.store.connection().await?;
        repo.set_password_hash(*user_id, &hash, now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => tracing::info!(user_id = %user_id, "password re-hashed with current parameters"),
        Err(error) => tracing::warn!(user_id = %user_id, error = ?error, "password re-hash failed"),
    }
}
