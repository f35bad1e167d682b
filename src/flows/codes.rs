//! Emailed one-time codes and link tokens.

use crate::crypto::{random_code, random_token, sha256_hex};
use crate::domain::{CodeAction, Email, Locale, VerificationCode};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::mail::MailKind;
use crate::metrics::CodeResult;
use crate::state::AppState;
use crate::store::{ConsumedCode, NewCode, Repo, StoreError, Timestamp, User};
use crate::throttle;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// How long a notice (no code inside) is worth delivering.
const NOTICE_SHELF_LIFE: Duration = Duration::from_secs(24 * 3600);

/// The secrets that go into the mail (only their hashes are stored), and
/// when they expire.
pub struct IssuedCode {
    pub code: String,
    pub token: String,
    pub expires_at: Timestamp,
}

/// How a person proves they received the mail.
pub enum Proof {
    Code {
        email: Email,
        code: VerificationCode,
    },
    LinkToken(String),
}

/// Stores a new code for (email, action), which replaces any earlier one.
/// A `verify_email` code is also kept sealed, so that it can be mailed again
/// unchanged (see [`resend_code`]).
pub async fn issue(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &Email,
    action: CodeAction,
    user_id: Option<Uuid>,
    now: Timestamp,
) -> Result<IssuedCode, FlowError> {
    let code = random_code();
    let token = random_token();
    let expires_at = now.plus(state.settings.code_ttl(action));
    let sealed = match action {
        CodeAction::VerifyEmail => Some(
            state
                .code_cipher
                .encrypt(
                    format!("{code}.{token}").as_bytes(),
                    &sealed_context(email, action),
                )
                .map_err(FlowError::internal)?,
        ),
        _ => None,
    };
    repo.put_code(&NewCode {
        id: Uuid::now_v7(),
        email: email.clone(),
        action,
        user_id,
        code_hash: state
            .code_hasher
            .hash(action.as_str(), email.as_str(), &code),
        token_hash: sha256_hex(&token),
        sealed,
        created_at: now,
        expires_at,
    })
    .await?;
    state
        .metrics
        .count_code(action.as_str(), CodeResult::issued);
    Ok(IssuedCode {
        code,
        token,
        expires_at,
    })
}

/// Binds a sealed code to its row's address and action.
fn sealed_context(email: &Email, action: CodeAction) -> String {
    format!("code/{}/{}", action.as_str(), email.as_str())
}

/// The live code of (email, action) again, if it was kept sealed and still
/// has attempts left.
async fn live_code(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &Email,
    action: CodeAction,
    now: Timestamp,
) -> Result<Option<IssuedCode>, FlowError> {
    let max_attempts = state.settings.code_max_attempts;
    let Some((sealed, expires_at)) = repo
        .resendable_code(email, action, now, max_attempts)
        .await?
    else {
        return Ok(None);
    };
    let opened = state
        .code_cipher
        .decrypt(&sealed, &sealed_context(email, action))
        .map_err(FlowError::internal)?;
    let opened = String::from_utf8(opened).map_err(FlowError::internal)?;
    Ok(opened.split_once('.').map(|(code, token)| IssuedCode {
        code: code.to_string(),
        token: token.to_string(),
        expires_at,
    }))
}

/// The language of mail to `user` (when known) in answer to `client`'s
/// request: the user's stored choice, else the request's Accept-Language.
pub fn mail_locale(user: Option<&User>, client: &Origin) -> Locale {
    user.and_then(|u| u.locale.as_deref())
        .and_then(|l| Locale::parse(l).ok())
        .or(client.locale)
        .unwrap_or_default()
}

/// A code to issue and the mail that carries it.
pub struct CodeMail<'a> {
    pub to: &'a Email,
    pub action: CodeAction,
    /// The text to use (an invitation is a `sign_in` code in other words).
    pub kind: MailKind,
    /// The account the code acts on (none for a pending registration).
    pub user_id: Option<Uuid>,
    pub locale: Locale,
}

/// Issues the code and queues its mail, in the caller's transaction. The
/// mail is dropped from the outbox once the code has expired.
pub async fn send_code(
    state: &AppState,
    repo: &mut dyn Repo,
    mail: CodeMail<'_>,
    now: Timestamp,
) -> Result<(), FlowError> {
    let issued = issue(state, repo, mail.to, mail.action, mail.user_id, now).await?;
    queue_code_mail(state, repo, mail, issued, now).await
}

/// Mails the live code of (email, action) again, unchanged, so that whoever
/// asks again (the owner, or a stranger) does not kill the code the owner
/// already has; issues a new one only when there is none left to re-send.
pub async fn resend_code(
    state: &AppState,
    repo: &mut dyn Repo,
    mail: CodeMail<'_>,
    now: Timestamp,
) -> Result<(), FlowError> {
    match live_code(state, repo, mail.to, mail.action, now).await? {
        Some(issued) => queue_code_mail(state, repo, mail, issued, now).await,
        None => send_code(state, repo, mail, now).await,
    }
}

async fn queue_code_mail(
    state: &AppState,
    repo: &mut dyn Repo,
    mail: CodeMail<'_>,
    issued: IssuedCode,
    now: Timestamp,
) -> Result<(), FlowError> {
    let CodeMail {
        to: email,
        action,
        kind,
        locale,
        ..
    } = mail;
    // A re-sent code keeps its expiry: the mail says how long it has left.
    let left_ms = issued.expires_at.unix_millis() - now.unix_millis();
    let values = json!({
        "code": issued.code,
        "link": state.settings.code_link(action, &issued.token),
        "minutes": u64::try_from(left_ms).unwrap_or(0).div_ceil(60_000),
    });
    let mail = state
        .templates
        .render(kind, locale, email.as_str(), &values)
        .map_err(|e| FlowError::Internal(e.into()))?;
    state
        .outbox
        .put(repo, &mail, now, issued.expires_at)
        .await?;
    Ok(())
}

/// Mails a code for `action` to an existing, unbanned account; anyone else
/// gets nothing, and the caller answers the same way. The caller has been
/// admitted by [`admit_mail`].
pub async fn mail_to_account(
    state: &AppState,
    email: &Email,
    (action, kind): (CodeAction, MailKind),
    client: &Origin,
) -> Result<(), FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let Some(user) = tx.user_by_email(email).await? else {
        return Ok(());
    };
    if user.is_banned(now) {
        return Ok(());
    }
    let mail = CodeMail {
        to: email,
        action,
        kind,
        user_id: Some(user.id),
        locale: mail_locale(Some(&user), client),
    };
    send_code(state, tx.as_mut(), mail, now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Queues a notice to `user` (no code inside), in the language of their
/// mail, in the caller's transaction.
pub async fn notify_user(
    state: &AppState,
    repo: &mut dyn Repo,
    user: &User,
    (kind, values): (MailKind, Value),
    client: &Origin,
    now: Timestamp,
) -> Result<(), FlowError> {
    let locale = mail_locale(Some(user), client);
    send_notice(state, repo, user.email.as_str(), kind, locale, values, now).await
}

/// Queues a notice (no code inside) in the caller's transaction.
pub async fn send_notice(
    state: &AppState,
    repo: &mut dyn Repo,
    to: &str,
    kind: MailKind,
    locale: Locale,
    values: Value,
    now: Timestamp,
) -> Result<(), FlowError> {
    let mail = state
        .templates
        .render(kind, locale, to, &values)
        .map_err(|e| FlowError::Internal(e.into()))?;
    state
        .outbox
        .put(repo, &mail, now, now.plus(NOTICE_SHELF_LIFE))
        .await?;
    Ok(())
}

/// Decides, before a code request or a sign-up is answered, whether a mail
/// for `action` may go to `email`: false when one went out less than
/// `mail_cooldown_secs` ago (the request is answered as usual and held
/// back, and does not count against any limit), an error when the hourly
/// limits per address are spent. The slot is claimed for every address,
/// known or not, so neither the answer nor its timing tells them apart; the
/// flow that sends the mail must not claim it again.
pub async fn admit_mail(
    state: &AppState,
    email: &Email,
    action: CodeAction,
    client: &Origin,
) -> Result<bool, FlowError> {
    if state.settings.mail_cooldown().is_zero() {
        // No slot to claim: only the hourly limits count.
        throttle::check_mail_rate(state, email, action, client).await?;
        return Ok(true);
    }
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    if !claim_mail_slot(state, tx.as_mut(), email, action, now).await? {
        tracing::info!(
            address = %state.code_hasher.pseudonym(email.as_str()),
            action = action.as_str(),
            "mail held back: one went out within the cool-down"
        );
        return Ok(false);
    }
    // Counted in the same transaction: a request refused with 429 rolls
    // its claim back too, so it never holds back the next one (the owner's).
    throttle::check_mail_rate_in(state, tx.as_mut(), email, action, client).await?;
    tx.commit().await?;
    Ok(true)
}

/// Records a mail for `action` to `email` unless one went out less than
/// `mail_cooldown_secs` ago; true when the caller may send. The cool-down
/// counts per action: mail about one action never holds back another.
pub async fn claim_mail_slot(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &Email,
    action: CodeAction,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let cooldown = state.settings.mail_cooldown();
    if cooldown.is_zero() {
        // Disabled (tests, or a deployment that throttles elsewhere).
        return Ok(true);
    }
    repo.claim_mail_slot(email, action, now, now.minus(cooldown))
        .await
}

/// Checks a code or link token without using it and returns its address,
/// for actions that do slow work (hashing a new password) before consuming
/// it. A wrong code counts against the code's attempts, as in [`consume`],
/// and is refused before any slow work, so the answer's timing does not
/// depend on whether the address has an account.
pub async fn check(
    state: &AppState,
    action: CodeAction,
    proof: &Proof,
    now: Timestamp,
    client: &Origin,
) -> Result<Email, FlowError> {
    let mut repo = state.store.connection().await?;
    if let Proof::Code { email, .. } = proof {
        throttle::check_code_failures(
            state,
            repo.as_mut(),
            email.as_str(),
            action.as_str(),
            client,
        )
        .await?;
    }
    match proof {
        Proof::Code { email, code } => {
            let hash = state
                .code_hasher
                .hash(action.as_str(), email.as_str(), code.expose());
            let max_attempts = state.settings.code_max_attempts;
            if repo
                .code_is_live(email, action, &hash, now, max_attempts)
                .await?
            {
                Ok(email.clone())
            } else {
                drop(repo);
                count_wrong_code(state, email, action, client).await?;
                Err(FlowError::InvalidCode)
            }
        }
        Proof::LinkToken(token) => {
            let email = repo
                .live_code_email(&sha256_hex(token), action, now)
                .await?;
            if email.is_none() {
                state
                    .metrics
                    .count_code(action.as_str(), CodeResult::refused);
            }
            email.ok_or(FlowError::InvalidCode)
        }
    }
}

/// Consumes the code or link token inside the caller's transaction. A wrong
/// code ends that transaction unwritten (rolled back, never committed) and
/// is counted against the code's attempts on a connection of its own, so the
/// count sticks although the request fails.
pub async fn consume(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    action: CodeAction,
    proof: &Proof,
    now: Timestamp,
    client: &Origin,
) -> Result<(Box<dyn Repo>, ConsumedCode), FlowError> {
    let max_attempts = state.settings.code_max_attempts;
    if let Proof::Code { email, .. } = proof {
        throttle::check_code_failures(state, tx.as_mut(), email.as_str(), action.as_str(), client)
            .await?;
    }
    let consumed = match proof {
        Proof::Code { email, code } => {
            let hash = state
                .code_hasher
                .hash(action.as_str(), email.as_str(), code.expose());
            let consumed = tx
                .consume_code(email, action, &hash, now, max_attempts)
                .await?;
            if consumed.is_none() {
                // Rolled back: the caller's transaction is never committed here.
                drop(tx);
                count_wrong_code(state, email, action, client).await?;
                return Err(FlowError::InvalidCode);
            }
            consumed
        }
        Proof::LinkToken(token) => {
            tx.consume_link_token(&sha256_hex(token), action, now, max_attempts)
                .await?
        }
    };
    let result = match consumed {
        Some(_) => CodeResult::confirmed,
        None => CodeResult::refused,
    };
    state.metrics.count_code(action.as_str(), result);
    let consumed = consumed.ok_or(FlowError::InvalidCode)?;
    Ok((tx, consumed))
}

/// Counts a wrong code against the live code of (email, action), in
/// autocommit on a connection of its own (the caller holds no transaction
/// by now), then against the wrong-code limits.
async fn count_wrong_code(
    state: &AppState,
    email: &Email,
    action: CodeAction,
    client: &Origin,
) -> Result<(), FlowError> {
    state
        .metrics
        .count_code(action.as_str(), CodeResult::refused);
    let mut repo = state.store.connection().await?;
    repo.count_failed_attempt(email, action).await?;
    drop(repo);
    throttle::count_code_failure(state, email.as_str(), action.as_str(), client).await;
    Ok(())
}
