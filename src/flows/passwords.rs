//! What every new password goes through (sign-up, change, reset), and the
//! check of a current password before a sensitive change.

use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;

/// The policy (length, common passwords, the account's own words) and,
/// when configured, the breached-password check.
pub async fn screen(
    state: &AppState,
    password: &Password,
    context: &[&str],
) -> Result<(), ApiError> {
    state
        .password_policy
        .check(password, context)
        .map_err(|e| ApiError::bad_request("password", e.0))?;
    if state.pwned.is_pwned(password.expose()).await == Some(true) {
        return Err(ApiError::bad_request(
            "password",
            "this password appears in known data breaches; choose another one",
        ));
    }
    Ok(())
}

/// Words that identify an existing account.
pub fn context_of(user: &User) -> Vec<String> {
    let mut words = vec![user.email.clone()];
    if let Ok(email) = Email::parse(&user.email) {
        words.push(email.local_part().to_string());
    }
    words.extend(user.username.clone());
    words
}

/// Screens `password` as a new password for `user`, then hashes it.
pub async fn screen_and_hash(
    state: &AppState,
    user: &User,
    password: &Password,
) -> Result<String, ApiError> {
    let context = context_of(user);
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    screen(state, password, &words).await?;
    Ok(state.hasher.hash(password.expose()).await?)
}

/// The re-authentication of sensitive changes: 403 `wrong-password` when the
/// password is not the account's (or the account has none).
pub async fn confirm_current(
    state: &AppState,
    user: &User,
    password: &str,
) -> Result<(), ApiError> {
    let verdict = state
        .hasher
        .verify(password, user.password_hash.as_deref())
        .await?;
    if user.password_hash.is_some() && verdict.is_match() {
        Ok(())
    } else {
        Err(wrong_password())
    }
}

pub fn wrong_password() -> ApiError {
    ApiError::Forbidden("the current password is not correct")
}
