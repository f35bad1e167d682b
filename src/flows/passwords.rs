//! What every new password goes through (sign-up, change, reset).

use crate::domain::Password;
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::state::AppState;
use crate::store::User;

/// The policy (length, common passwords, the account's own words) and,
/// when configured, the breached-password check.
pub async fn screen(
    state: &AppState,
    password: &Password,
    context: &[&str],
) -> Result<(), FlowError> {
    state
        .password_policy
        .check(password, context)
        .map_err(|e| FlowError::bad_request("password", e.0))?;
    if state.pwned.is_pwned(password.expose()).await == Some(true) {
        return Err(FlowError::bad_request(
            "password",
            "this password appears in known data breaches; choose another one",
        ));
    }
    Ok(())
}

/// Words that identify an existing account.
pub fn context_of(user: &User) -> Vec<String> {
    let mut words = vec![user.email.to_string(), user.email.local_part().to_string()];
    words.extend(user.username.clone());
    words
}

/// Screens `password` as a new password for `user`, then hashes it within
/// the client's share of the hashing queue.
pub async fn screen_and_hash(
    state: &AppState,
    user: &User,
    password: &Password,
    client: &Origin,
) -> Result<String, FlowError> {
    let context = context_of(user);
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    screen(state, password, &words).await?;
    let client_key = client.limit_key();
    Ok(state
        .hasher
        .hash(client_key.as_deref(), password.expose())
        .await?)
}
