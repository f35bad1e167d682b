//! Sessions: opening, refresh-token rotation with reuse detection, listing
//! and revocation.

use super::{audit, SignedIn};
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{Assurance, AuthMethod};
use crate::error::FlowError;
use crate::flows::context::{Caller, Origin};
use crate::metrics::{Outcome, RefreshLabels, RefreshResult, SignInLabels, SignInMethod};
use crate::state::AppState;
use crate::store::{Repo, Session, StoreResult, Timestamp, User};
use crate::tokens::{IssuedAccessToken, Reach};
use serde_json::json;
use uuid::Uuid;

/// Creates a session with its first refresh token inside the caller's
/// transaction. Returns the session and the refresh token in clear, which
/// exists nowhere else from now on.
pub async fn open_session(
    state: &AppState,
    repo: &mut dyn Repo,
    user_id: Uuid,
    (client, assurance): (&Origin, Assurance),
    now: Timestamp,
) -> StoreResult<(Session, String)> {
    let session = Session {
        id: Uuid::now_v7(),
        user_id,
        ip: client.ip_text(),
        user_agent: client.user_agent.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: now.plus(state.settings.session_absolute_ttl()),
        revoked_at: None,
        auth_time: now,
        auth_method: assurance.first,
        second_factor: assurance.second,
    };
    let refresh_token = random_token();
    repo.insert_session_with_refresh_token(&session, &sha256_hex(&refresh_token))
        .await?;
    Ok((session, refresh_token))
}

/// How a sign-in's first step ended.
pub enum SignInOutcome {
    /// A session was opened.
    SignedIn(Box<SignedIn>),
    /// The user has a second factor: no session yet, only the `mfa_token`
    /// that `POST /v1/sessions/mfa` completes.
    SecondFactorRequired(super::mfa::PendingSecondStep),
}

/// The first factor of `user` was proven with `method` (in `tx`). A user
/// with an active second factor gets a pending second step instead of a
/// session; anyone else is signed in. Either way the event is recorded
/// (`kind`, with `details`) in the same transaction, which commits here.
pub async fn complete_sign_in(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    (user, method): (User, AuthMethod),
    client: &Origin,
    (kind, details): (audit::Kind, serde_json::Value),
    now: Timestamp,
) -> Result<SignInOutcome, FlowError> {
    let user = still_may_sign_in(tx.as_mut(), &user, method, now).await?;
    if method == AuthMethod::Password {
        // A correct password ends the password's failure count, with the
        // session's write. Second-factor failures have a count of their own
        // that only a right second factor ends (see `throttle`).
        tx.clear_login_attempts(user.email.as_str()).await?;
    }
    let factors = super::mfa::active_factors(tx.as_mut(), user.id).await?;
    if !factors.is_empty() {
        let pending =
            super::mfa::challenge::start(state, tx, (&user, method), factors, client, details, now)
                .await?;
        return Ok(SignInOutcome::SecondFactorRequired(pending));
    }
    let assurance = Assurance {
        first: method,
        second: None,
    };
    // The user was locked and read again above.
    let signed_in = open_and_commit(state, tx, (user, assurance), client, (kind, details), now);
    Ok(SignInOutcome::SignedIn(Box::new(signed_in.await?)))
}

/// The user, read again and locked in the transaction that is about to
/// open a session or a second step. A sign-in proves the user as it was
/// read before its checks (a password hash takes tens of milliseconds);
/// a ban, a password change or reset, or a role change that committed
/// meanwhile ended every session that existed then, and must not miss the
/// one this sign-in opens. With the row locked, such a change either
/// committed before (and is seen here) or waits for this transaction (and
/// then ends its session too). A password sign-in whose password is no
/// longer the one it checked fails like a wrong password.
async fn still_may_sign_in(
    tx: &mut dyn Repo,
    checked: &User,
    method: AuthMethod,
    now: Timestamp,
) -> Result<User, FlowError> {
    let current = tx.user_for_update(checked.id).await?;
    let refusal = match &current {
        None => Some("deleted"),
        Some(user) if user.is_banned(now) => Some("banned"),
        Some(user)
            if method == AuthMethod::Password
                && (user.password_hash != checked.password_hash
                    || user.email_verified_at.is_none()) =>
        {
            Some("password_changed")
        }
        Some(_) => None,
    };
    match (refusal, current) {
        (None, Some(user)) => Ok(user),
        (reason, _) => {
            tracing::info!(
                user_id = %checked.id,
                reason = reason.unwrap_or("deleted"),
                "sign-in refused: the account changed while it was being checked"
            );
            Err(FlowError::InvalidCredentials)
        }
    }
}

/// Opens a session for `user`, proven as `assurance` says, in `tx`; records
/// it (`kind`, with `details`; the session id is added), commits, and issues
/// the access token. The user is locked and read again first.
pub async fn finish_sign_in(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    (user, assurance): (User, Assurance),
    client: &Origin,
    kind: (audit::Kind, serde_json::Value),
    now: Timestamp,
) -> Result<SignedIn, FlowError> {
    let user = still_may_sign_in(tx.as_mut(), &user, assurance.first, now).await?;
    open_and_commit(state, tx, (user, assurance), client, kind, now).await
}

/// [`finish_sign_in`] for a `user` already locked and read in `tx`.
async fn open_and_commit(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    (user, assurance): (User, Assurance),
    client: &Origin,
    (kind, mut details): (audit::Kind, serde_json::Value),
    now: Timestamp,
) -> Result<SignedIn, FlowError> {
    let opened = open_session(state, tx.as_mut(), user.id, (client, assurance), now).await?;
    let (session, refresh_token) = opened;
    count_sign_in(state, assurance.first, Outcome::success);
    if let Some(details) = details.as_object_mut() {
        details.insert("session_id".into(), json!(session.id));
    }
    let entry = audit::Entry::by_user(kind, user.id).details(details);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    let access = issue_access(state, &user, &session, now)?;
    Ok(SignedIn {
        access,
        refresh_token,
        session,
        user,
    })
}

/// The access token of a session: enrolment-only while the user's role must
/// use a second factor and the session has none (see `Reach`).
pub fn issue_access(
    state: &AppState,
    user: &User,
    session: &Session,
    now: Timestamp,
) -> Result<IssuedAccessToken, FlowError> {
    let reach = if state.settings.mfa.required_for(user.role) && !session.assurance().is_aal2() {
        Reach::EnrolmentOnly
    } else {
        Reach::Full
    };
    Ok(state.tokens.issue(user.role, session, reach, now)?)
}

/// Counts a sign-in by its first-factor method and result (a metric).
pub fn count_sign_in(state: &AppState, method: AuthMethod, result: Outcome) {
    let method = match method {
        AuthMethod::Password | AuthMethod::Unknown => SignInMethod::password,
        AuthMethod::EmailCode => SignInMethod::email_code,
        AuthMethod::Provider => SignInMethod::provider,
        AuthMethod::Passkey | AuthMethod::SyncedPasskey => SignInMethod::passkey,
    };
    let labels = SignInLabels { method, result };
    state.metrics.sign_ins.get_or_create(&labels).inc();
}

/// How a refresh was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The token was current and has been rotated.
    Rotated,
    /// The token had just been rotated (two tabs, a retry): the same
    /// successor again, with a fresh access token.
    Replayed,
}

/// Exchanges a refresh token for a new pair. The old token stops working; if
/// a token that was already rotated comes back, somebody holds a copy, and the
/// whole session is revoked, unless it comes back within the reuse window of
/// its own rotation while its successor is still current (concurrent clients
/// of one session): then it gets that same successor again.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    client: &Origin,
) -> Result<(SignedIn, Refreshed), FlowError> {
    let result = exchange(state, refresh_token, client).await;
    let counted = match &result {
        Ok((_, Refreshed::Rotated)) => Some(RefreshResult::rotated),
        Ok((_, Refreshed::Replayed)) => Some(RefreshResult::reuse_window),
        // Counted as `reuse_revoked` where the session is revoked.
        Err(FlowError::InvalidRefreshToken) => Some(RefreshResult::refused),
        Err(_) => None,
    };
    if let Some(result) = counted {
        let labels = RefreshLabels { result };
        state.metrics.refreshes.get_or_create(&labels).inc();
    }
    result
}

async fn exchange(
    state: &AppState,
    refresh_token: &str,
    client: &Origin,
) -> Result<(SignedIn, Refreshed), FlowError> {
    let hash = sha256_hex(refresh_token);
    let now = state.clock.now();
    let successor = state.refresh_chain.successor(refresh_token);
    let idle_cutoff = now.minus(state.settings.session_idle_ttl());
    // The common case, a current token of a live session, in one unit of
    // work (one statement on PostgreSQL); anything else writes nothing there
    // and is looked into below.
    let rotated = state
        .store
        .rotate_refresh(&hash, &sha256_hex(&successor), now, idle_cutoff)
        .await?;
    let (touched, outcome) = match rotated {
        Some(touched) => (touched, Refreshed::Rotated),
        None => {
            let touched = replay(state, &hash, &successor, client, now, idle_cutoff).await?;
            (touched, Refreshed::Replayed)
        }
    };
    // The user is read after the commit, with the session, in the statement
    // every validation uses: the write (on SQLite, the one writer's turn)
    // stays as short as the rotation itself, and a ban or a
    // role change (both end the session) that committed meanwhile refuses
    // this answer instead of carrying the old role into a new token. The
    // successor it wrote then dies with its session. The user may come from
    // memory (`store::liveness`): a ban on another instance is then seen
    // here from the moment that ban's call returns, as everywhere; a refresh
    // running while it is in flight may still answer. The session answered
    // is the one just touched (a remembered one predates this use).
    let user = state
        .store
        .live_session_with_user(touched.id, touched.user_id, now)
        .await?
        .map(|(_, user)| user)
        .filter(|user| !user.is_banned(now))
        .ok_or(FlowError::InvalidRefreshToken)?;
    let session = touched;
    let access = issue_access(state, &user, &session, now)?;
    let signed_in = SignedIn {
        access,
        refresh_token: successor,
        session,
        user,
    };
    Ok((signed_in, outcome))
}

/// A token that is not current: unknown (refused), current but of a session
/// no longer live (refused), or already rotated. A rotated one gets its
/// successor again when it comes back within the reuse window while that
/// successor is still current (concurrent clients of one session); otherwise
/// somebody holds a copy, and the session ends.
async fn replay(
    state: &AppState,
    hash: &str,
    successor: &str,
    client: &Origin,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<Session, FlowError> {
    let mut tx = state.store.transaction().await?;
    let Some(used) = tx.refresh_token_record(hash).await? else {
        return Err(FlowError::InvalidRefreshToken);
    };
    // Not rotated: `rotate_refresh` found its session ended, idle or expired.
    let Some(rotated_at) = used.rotated_at else {
        return Err(FlowError::InvalidRefreshToken);
    };
    let window = state.settings.refresh_reuse_window();
    let recent = !window.is_zero() && rotated_at > now.minus(window);
    let successor_current = recent
        && tx
            .is_current_refresh_token(&sha256_hex(successor), used.session_id)
            .await?;
    if !successor_current {
        // Counted as reuse only when it ended a live session: a token of a
        // session ended meanwhile (a sign-out racing this refresh) is not.
        if revoke_on_reuse(state, tx, used.session_id, used.user_id, client, now).await? {
            let labels = RefreshLabels {
                result: RefreshResult::reuse_revoked,
            };
            state.metrics.refreshes.get_or_create(&labels).inc();
        }
        return Err(FlowError::InvalidRefreshToken);
    }
    // Dropping the transaction on the error paths below rolls back.
    let touched = tx
        .touch_session(used.session_id, now, idle_cutoff)
        .await?
        .ok_or(FlowError::InvalidRefreshToken)?;
    let entry = audit::Entry::by_user(audit::Kind::RefreshTokenReplayed, touched.user_id)
        .details(json!({ "session_id": touched.id }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(touched)
}

/// A rotated token came back outside the window, or an older ancestor did:
/// somebody holds a copy, and the session ends.
async fn revoke_on_reuse(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    session_id: Uuid,
    user_id: Uuid,
    client: &Origin,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let revoked = tx
        .revoke_session(session_id, None, now, "refresh_token_reuse")
        .await?;
    if revoked {
        let entry = audit::Entry::new(audit::Kind::RefreshTokenReused)
            .user(user_id)
            .details(json!({ "session_id": session_id }));
        audit::record_in(state, tx.as_mut(), client, entry).await?;
        tracing::warn!(session_id = %session_id, "refresh token reuse detected; session revoked");
    }
    tx.commit().await?;
    Ok(revoked)
}

/// The caller's live sessions, newest first.
pub async fn list(state: &AppState, auth: &Caller) -> Result<Vec<Session>, FlowError> {
    let now = state.clock.now();
    let idle_cutoff = now.minus(state.settings.session_idle_ttl());
    let mut repo = state.store.connection().await?;
    Ok(repo
        .live_sessions_of_user(auth.user.id, now, idle_cutoff)
        .await?)
}

/// Revokes one of the caller's own sessions; someone else's is "not found".
pub async fn revoke(
    state: &AppState,
    auth: &Caller,
    id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    let mut tx = state.store.transaction().await?;
    let reason = if id == auth.session.id {
        "sign_out"
    } else {
        "revoked_by_user"
    };
    if !tx
        .revoke_session(id, Some(auth.user.id), state.clock.now(), reason)
        .await?
    {
        return Err(FlowError::NotFound);
    }
    let entry = audit::Entry::by_user(audit::Kind::SignedOut, auth.user.id)
        .details(json!({ "session_id": id, "reason": reason }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes all of the caller's sessions, or all but the current one, and
/// ends pending email changes and link flows.
pub async fn revoke_all(
    state: &AppState,
    auth: &Caller,
    keep_current: bool,
    client: &Origin,
) -> Result<u64, FlowError> {
    let keep = keep_current.then_some(auth.session.id);
    let mut tx = state.store.transaction().await?;
    let revoked = tx
        .revoke_sessions_of_user(auth.user.id, keep, state.clock.now(), "revoked_by_user")
        .await?;
    // Whoever else was signed in may have started an email change or a link.
    let grants_ended = super::account::end_pending_grants(tx.as_mut(), auth.user.id).await?;
    let scope = if keep_current { "others" } else { "all" };
    let entry = audit::Entry::by_user(audit::Kind::SignedOut, auth.user.id).details(json!({
        "scope": scope,
        "sessions": revoked,
        "pending_changes_ended": grants_ended,
    }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(revoked)
}
