//! Abuse protection that every instance shares through the database:
//! per-client request limits on the sensitive endpoints, and a per-account
//! sign-in lockout with a growing delay and a hard cap.

use crate::config::{LockoutSettings, RateLimit, RateLimits};
use crate::domain::Email;
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::state::AppState;
use crate::store::Timestamp;
use std::time::Duration;

/// The endpoints with a per-client limit.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    SignIn,
    SignUp,
    CodeRequest,
    CodeConfirm,
    Refresh,
    OAuthToken,
    Introspect,
    /// Code mails per recipient address.
    MailPerAddress,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Limited::SignIn => "sign_in",
            Limited::SignUp => "sign_up",
            Limited::CodeRequest => "code_request",
            Limited::CodeConfirm => "code_confirm",
            Limited::Refresh => "refresh",
            Limited::OAuthToken => "oauth_token",
            Limited::Introspect => "introspect",
            Limited::MailPerAddress => "mail_per_address",
        }
    }

    fn limit(self, limits: &RateLimits) -> RateLimit {
        match self {
            Limited::SignIn => limits.sign_in,
            Limited::SignUp => limits.sign_up,
            Limited::CodeRequest => limits.code_request,
            Limited::CodeConfirm => limits.code_confirm,
            Limited::Refresh => limits.refresh,
            Limited::OAuthToken => limits.oauth_token,
            Limited::Introspect => limits.introspect,
            Limited::MailPerAddress => limits.mail_per_address,
        }
    }
}

/// Counts the request against its client's limit: 429 with `Retry-After`
/// once the window's allowance is used up.
pub async fn check_rate(
    state: &AppState,
    what: Limited,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    match client.limit_key() {
        Some(client_key) => hit(state, what, &client_key).await,
        None => Ok(()),
    }
}

/// Counts a request that would mail `email`, whoever asks and whether or not
/// the address has an account (so the answer reveals nothing): 429 with
/// `Retry-After` past `rate_limits.mail_per_address`.
pub async fn check_mail_rate(state: &AppState, email: &Email) -> Result<(), ApiError> {
    hit(state, Limited::MailPerAddress, email.as_str()).await
}

async fn hit(state: &AppState, what: Limited, client_key: &str) -> Result<(), ApiError> {
    let limit = what.limit(&state.settings.rate_limits);
    if limit.limit == 0 {
        return Ok(());
    }
    let window = Duration::from_secs(limit.window_secs);
    let now = Timestamp::now();
    let key = format!("{}:{client_key}", what.name());
    let mut repo = state.store.connection().await?;
    let (hits, started) = repo.hit_rate_limit(&key, now, now.minus(window)).await?;
    if hits <= i64::from(limit.limit) {
        return Ok(());
    }
    let reopens = started.plus(window);
    let wait_ms = reopens
        .unix_millis()
        .saturating_sub(now.unix_millis())
        .max(0) as u64;
    tracing::info!(limit = what.name(), client = %client_key, "rate limit reached");
    Err(ApiError::TooManyRequests {
        retry_after_secs: wait_ms.div_ceil(1000).max(1),
    })
}

/// How long an account stays locked after its `failures`-th attempt without
/// a success: nothing for the free attempts, then a delay that doubles with
/// every further failure up to the maximum, and a long lock at the hard cap.
pub fn lock_after(failures: i64, settings: &LockoutSettings) -> Option<Duration> {
    let failures = u32::try_from(failures).unwrap_or(u32::MAX);
    if failures >= settings.hard_cap {
        return Some(Duration::from_secs(settings.hard_lock_secs));
    }
    let beyond = failures.checked_sub(settings.free_attempts)?;
    let factor = 2u64.saturating_pow(beyond.min(63));
    let secs = settings
        .base_delay_secs
        .saturating_mul(factor)
        .min(settings.max_delay_secs);
    Some(Duration::from_secs(secs))
}

/// Claims a sign-in attempt for an account (`key`: its normalised address).
/// Counting happens before the password is checked, in the same statement
/// that checks the lock, so that concurrent guesses cannot get past the
/// limit. Returns false when the account is locked.
pub async fn claim_sign_in(state: &AppState, key: &str) -> Result<bool, ApiError> {
    let settings = &state.settings.lockout;
    let now = Timestamp::now();
    let window_cutoff = now.minus(Duration::from_secs(settings.window_secs));
    let mut tx = state.store.transaction().await?;
    let Some(failures) = tx.claim_login_attempt(key, now, window_cutoff).await? else {
        return Ok(false);
    };
    if let Some(lock) = lock_after(failures, settings) {
        tx.lock_login(key, now.plus(lock)).await?;
        tracing::info!(
            failures,
            lock_secs = lock.as_secs(),
            "sign-in attempts locked for a while"
        );
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_then_caps() {
        let settings = LockoutSettings::default();
        assert_eq!(lock_after(4, &settings), None);
        assert_eq!(lock_after(5, &settings), Some(Duration::from_secs(2)));
        assert_eq!(lock_after(6, &settings), Some(Duration::from_secs(4)));
        assert_eq!(lock_after(10, &settings), Some(Duration::from_secs(64)));
        assert_eq!(lock_after(30, &settings), Some(Duration::from_secs(900)));
        assert_eq!(
            lock_after(100, &settings),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            lock_after(i64::MAX, &settings),
            Some(Duration::from_secs(86_400))
        );
    }
}
