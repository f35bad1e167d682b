//! Emailed one-time codes and link tokens.

use crate::crypto::{random_code, random_token, sha256_hex};
use crate::domain::{CodeAction, Email, VerificationCode};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ConsumedCode, NewCode, Repo, StoreResult, Timestamp};
use uuid::Uuid;

/// The secrets that go into the mail; only their hashes are stored.
pub struct IssuedCode {
    pub code: String,
    pub token: String,
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
pub async fn issue(
    state: &AppState,
    repo: &mut dyn Repo,
    email: &Email,
    action: CodeAction,
    user_id: Option<Uuid>,
    now: Timestamp,
) -> StoreResult<IssuedCode> {
    let code = random_code();
    let token = random_token();
    repo.put_code(&NewCode {
        id: Uuid::now_v7(),
        email: email.to_string(),
        action: action.as_str(),
        user_id,
        code_hash: state
            .code_hasher
            .hash(action.as_str(), email.as_str(), &code),
        token_hash: sha256_hex(&token),
        created_at: now,
        expires_at: now.plus(state.settings.verify_email_ttl()),
    })
    .await?;
    Ok(IssuedCode { code, token })
}

/// Consumes the code or link token inside the caller's transaction. A wrong
/// code counts against the code's attempts, and that count is committed even
/// though the caller fails.
pub async fn consume(
    state: &AppState,
    mut tx: Box<dyn Repo>,
    action: CodeAction,
    proof: &Proof,
    now: Timestamp,
) -> Result<(Box<dyn Repo>, ConsumedCode), ApiError> {
    let max_attempts = state.settings.code_max_attempts;
    let consumed = match proof {
        Proof::Code { email, code } => {
            let hash = state
                .code_hasher
                .hash(action.as_str(), email.as_str(), code.expose());
            let consumed = tx
                .consume_code(email.as_str(), action.as_str(), &hash, now, max_attempts)
                .await?;
            if consumed.is_none() {
                tx.count_failed_attempt(email.as_str(), action.as_str())
                    .await?;
                tx.commit().await?;
                return Err(ApiError::InvalidCode);
            }
            consumed
        }
        Proof::LinkToken(token) => {
            tx.consume_link_token(&sha256_hex(token), action.as_str(), now, max_attempts)
                .await?
        }
    };
    let consumed = consumed.ok_or(ApiError::InvalidCode)?;
    Ok((tx, consumed))
}
