//! Abuse protection that every instance shares through the database:
//! per-client request limits on the sensitive endpoints, and a per-account
//! sign-in lockout with a growing delay and a hard cap.

use crate::config::{RateLimit, RateLimits};
use crate::domain::{CodeAction, Email};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::metrics::LimitLabels;
use crate::state::AppState;
use crate::store::{Repo, Timestamp};
use std::time::Duration;

mod refused;
pub use refused::RefusedClients;

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
    Reauthentication,
    OAuthAuthorize,
    /// Wrong codes per address and action.
    CodeFailures,
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
            Limited::Reauthentication => "reauthentication",
            Limited::OAuthAuthorize => "oauth_authorize",
            Limited::CodeFailures => "code_failures",
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
            Limited::Reauthentication => limits.reauthentication,
            Limited::OAuthAuthorize => limits.oauth_authorize,
            Limited::CodeFailures => limits.code_failures_per_address,
        }
    }
}

/// Counts the request against its client's limit: 429 with `Retry-After`
/// once the window's allowance is used up.
pub async fn check_rate(state: &AppState, what: Limited, client: &Origin) -> Result<(), FlowError> {
    match client.limit_key() {
        Some(client_key) => hit(state, what, &client_key).await,
        None => Ok(()),
    }
}

/// Counts a request that would mail `email` about `action`, whether or not
/// the address has an account (so the answer reveals nothing): 429 with
/// `Retry-After` past either limit. `rate_limits.mail_per_address` counts per
/// address and client, so a stranger who keeps asking uses up their own
/// allowance, not the owner's; `rate_limits.mail_per_address_total` counts
/// per address and action whoever asks, the ceiling against mail-bombing
/// from many addresses (which still leaves the other actions, the owner's
/// reset among them, their own budget).
pub async fn check_mail_rate(
    state: &AppState,
    email: &Email,
    action: CodeAction,
    client: &Origin,
) -> Result<(), FlowError> {
    let mut repo = state.store.connection().await?;
    check_mail_rate_in(state, repo.as_mut(), email, action, client).await
}

/// [`check_mail_rate`] in the caller's unit of work.
pub async fn check_mail_rate_in(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &Email,
    action: CodeAction,
    client: &Origin,
) -> Result<(), FlowError> {
    let limits = &state.settings.rate_limits;
    let client_key = client.limit_key().unwrap_or_default();
    let per_client = format!(
        "{}:{}|{client_key}",
        Limited::MailPerAddress.name(),
        email.as_str()
    );
    hit_key_in(state, repo, &per_client, limits.mail_per_address)
        .await
        .inspect_err(|e| count_limited(state, Limited::MailPerAddress.name(), e))?;
    let total = format!("mail_total:{}:{}", action.as_str(), email.as_str());
    hit_key_in(state, repo, &total, limits.mail_per_address_total)
        .await
        .inspect_err(|e| count_limited(state, "mail_per_address_total", e))
}

/// The counters a wrong code for (email, action) goes into: one per client
/// with `rate_limits.code_failures_per_address`, and one for the address
/// with ten times that, so that strangers cannot block the owner's own code
/// from one address, and guessing from many stays negligible against 10^8
/// codes.
fn code_failure_counters(
    state: &AppState,
    email: &str,
    action: &str,
    client: &Origin,
) -> [(String, RateLimit); 2] {
    let limit = Limited::CodeFailures.limit(&state.settings.rate_limits);
    let client_key = client.limit_key().unwrap_or_default();
    let name = Limited::CodeFailures.name();
    [
        (format!("{name}:{action}:{email}|{client_key}"), limit),
        (
            format!("{name}:{action}:{email}"),
            RateLimit::new(limit.limit.saturating_mul(10), limit.window_secs),
        ),
    ]
}

/// Counts one wrong code for (email, action). Codes come and go (a new one
/// has fresh attempts), so these counts span them: past either limit in its
/// window, every code for the address and action is refused until the
/// window ends (a link token still works).
pub async fn count_code_failure(state: &AppState, email: &str, action: &str, client: &Origin) {
    for (key, limit) in code_failure_counters(state, email, action, client) {
        // The refusal comes from `check_code_failures`; here only the count matters.
        match hit_key(state, &key, limit).await {
            Ok(()) | Err(FlowError::TooManyRequests { .. }) => {}
            Err(error) => tracing::warn!(error = ?error, "a wrong code could not be counted"),
        }
    }
}

/// 429 when (email, action) has had too many wrong codes lately. Reads
/// through the caller's connection or transaction.
pub async fn check_code_failures(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &str,
    action: &str,
    client: &Origin,
) -> Result<(), FlowError> {
    let now = state.clock.now();
    for (key, limit) in code_failure_counters(state, email, action, client) {
        if limit.limit == 0 {
            continue;
        }
        let window = Duration::from_secs(limit.window_secs);
        if let Some((hits, started)) = repo.rate_limit_window(&key, now.minus(window)).await? {
            if hits >= i64::from(limit.limit) {
                tracing::info!(action, "too many wrong codes for an address");
                let refused = retry_at(started.plus(window), now);
                count_limited(state, Limited::CodeFailures.name(), &refused);
                return Err(refused);
            }
        }
    }
    Ok(())
}

async fn hit(state: &AppState, what: Limited, client_key: &str) -> Result<(), FlowError> {
    let key = format!("{}:{client_key}", what.name());
    hit_key(state, &key, what.limit(&state.settings.rate_limits))
        .await
        .inspect_err(|e| count_limited(state, what.name(), e))
}

/// Counts a 429 that reaches the client, by the limit's name (a metric).
fn count_limited(state: &AppState, limit: &'static str, error: &FlowError) {
    if let FlowError::TooManyRequests { .. } = error {
        let labels = LimitLabels { limit };
        state.metrics.rate_limited.get_or_create(&labels).inc();
    }
}

/// Counts a hit on `key`: 429 with `Retry-After` past `limit` in its window.
/// A key this instance has seen refused is refused again without a write
/// until its window reopens (see [`RefusedClients`]).
async fn hit_key(state: &AppState, key: &str, limit: RateLimit) -> Result<(), FlowError> {
    if limit.limit == 0 {
        return Ok(());
    }
    let now = state.clock.now();
    if let Some(reopens) = state.refused_clients.reopens(key, now) {
        return Err(retry_at(reopens, now));
    }
    let mut repo = state.store.connection().await?;
    let refused = count_hit(repo.as_mut(), key, limit, now).await?;
    refused.map_or(Ok(()), |reopens| {
        state.refused_clients.remember(key, reopens, now);
        Err(retry_at(reopens, now))
    })
}

/// [`hit_key`] in the caller's unit of work.
async fn hit_key_in(
    state: &AppState,
    repo: &mut dyn Repo,
    key: &str,
    limit: RateLimit,
) -> Result<(), FlowError> {
    if limit.limit == 0 {
        return Ok(());
    }
    let now = state.clock.now();
    let refused = count_hit(repo, key, limit, now).await?;
    refused.map_or(Ok(()), |reopens| Err(retry_at(reopens, now)))
}

/// Counts the hit; when it is past the limit, the time its window reopens.
async fn count_hit(
    repo: &mut dyn Repo,
    key: &str,
    limit: RateLimit,
    now: Timestamp,
) -> Result<Option<Timestamp>, FlowError> {
    let window = Duration::from_secs(limit.window_secs);
    let (hits, started) = repo.hit_rate_limit(key, now, now.minus(window)).await?;
    if hits <= i64::from(limit.limit) {
        return Ok(None);
    }
    tracing::info!(limit = %loggable(key), "rate limit reached");
    Ok(Some(started.plus(window)))
}

/// A limit's key as the log may show it: addresses are personal data, so a
/// key that holds one is shown as its name and a short digest.
fn loggable(key: &str) -> String {
    if !key.contains('@') {
        return key.to_string();
    }
    let name = key.split(':').next().unwrap_or_default();
    format!("{name}:{}", &crate::crypto::sha256_hex(key)[..12])
}

fn retry_at(reopens: Timestamp, now: Timestamp) -> FlowError {
    let wait_ms = reopens
        .unix_millis()
        .saturating_sub(now.unix_millis())
        .max(0) as u64;
    FlowError::TooManyRequests {
        retry_after_secs: wait_ms.div_ceil(1000).max(1),
    }
}

/// Claims a sign-in attempt for an account (`key`: its normalised address).
/// Counting happens before the password is checked, in the same statement
/// that checks the lock, so that concurrent guesses cannot get past the
/// limit. Returns false when the account is locked.
pub async fn claim_sign_in(state: &AppState, key: &str) -> Result<bool, FlowError> {
    let settings = &state.settings.lockout;
    let now = state.clock.now();
    let window_cutoff = now.minus(Duration::from_secs(settings.window_secs));
    let claimed = state
        .store
        .claim_login_attempt(key, now, window_cutoff, settings)
        .await?;
    let Some(failures) = claimed else {
        return Ok(false);
    };
    // The store set the lock that this attempt earned, if any, with the count.
    if let Some(lock) = settings.lock_after(failures) {
        state.metrics.lockouts.inc();
        tracing::info!(
            failures,
            lock_secs = lock.as_secs(),
            "sign-in attempts locked for a while"
        );
    }
    Ok(true)
}

/// Claims an attempt at a second factor of an account. It counts twice:
/// under a key of its own, which a correct password does not clear (or
/// whoever knows the password could guess codes without end, a few per
/// sign-in), and in the account's sign-in lockout, so that wrong codes lock
/// password sign-in as wrong passwords do. False while either is locked.
pub async fn claim_second_factor(state: &AppState, email: &str) -> Result<bool, FlowError> {
    Ok(claim_sign_in(state, &second_factor_key(email)).await?
        && claim_sign_in(state, email).await?)
}

/// A right second factor ends both counts.
pub async fn clear_second_factor(repo: &mut dyn Repo, email: &str) -> Result<(), FlowError> {
    repo.clear_login_attempts(&second_factor_key(email)).await?;
    repo.clear_login_attempts(email).await?;
    Ok(())
}

fn second_factor_key(email: &str) -> String {
    format!("mfa:{email}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LockoutSettings;

    #[test]
    fn the_delay_grows_then_caps() {
        let settings = LockoutSettings::default();
        let lock_after = |failures| settings.lock_after(failures);
        assert_eq!(lock_after(4), None);
        assert_eq!(lock_after(5), Some(Duration::from_secs(2)));
        assert_eq!(lock_after(6), Some(Duration::from_secs(4)));
        assert_eq!(lock_after(10), Some(Duration::from_secs(64)));
        assert_eq!(lock_after(30), Some(Duration::from_secs(900)));
        assert_eq!(lock_after(100), Some(Duration::from_secs(86_400)));
        assert_eq!(lock_after(i64::MAX), Some(Duration::from_secs(86_400)));
        // 2 s doubled 9 times is 1024 s, past the 900 s maximum.
        assert_eq!(settings.doublings_to_max(), 9);
    }

    #[test]
    fn absurd_settings_give_a_century_at_most() {
        let settings = LockoutSettings {
            base_delay_secs: u64::MAX,
            max_delay_secs: u64::MAX,
            hard_lock_secs: u64::MAX,
            ..LockoutSettings::default()
        };
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(settings.lock_after(5), Some(century));
        assert_eq!(settings.lock_after(100), Some(century));
        assert_eq!(settings.doublings_to_max(), 0);
        let widest = LockoutSettings {
            base_delay_secs: 1,
            max_delay_secs: u64::MAX,
            ..LockoutSettings::default()
        };
        assert_eq!(widest.doublings_to_max(), 32);
        let zero = LockoutSettings {
            base_delay_secs: 0,
            ..LockoutSettings::default()
        };
        assert_eq!(zero.lock_after(7), Some(Duration::ZERO));
        assert_eq!(zero.doublings_to_max(), 0);
    }
}
