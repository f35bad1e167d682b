//! Who a provider identity is here: link it to the signed-in user, or find
//! or create the user it signs in as.

use crate::domain::{AvatarUrl, Email, ProfileText};
use crate::error::FlowError;
use crate::oauth::{Identity, Provider, ProviderTokens};
use crate::state::AppState;
use crate::store::{Account, NewUser, Repo, Timestamp, UniqueKey};
use uuid::Uuid;

fn already_linked() -> FlowError {
    FlowError::Conflict {
        slug: "identity-linked-elsewhere",
        detail: "this identity is already linked to another account".into(),
    }
}

pub(super) async fn link(
    state: &AppState,
    tx: &mut dyn Repo,
    user_id: Uuid,
    provider: &Provider,
    identity: &Identity,
    tokens: &ProviderTokens,
    now: Timestamp,
) -> Result<Account, FlowError> {
    match tx
        .account_by_identity(&provider.id, &identity.subject)
        .await?
    {
        Some(existing) if existing.user_id != user_id => Err(already_linked()),
        Some(existing) => {
            let record = account_record(
                state,
                existing.id,
                user_id,
                provider,
                identity,
                tokens,
                existing.created_at,
            )?;
            let record = Account {
                updated_at: now,
                ..record
            };
            tx.refresh_account(&record).await?;
            Ok(record)
        }
        None => {
            let record = account_record(
                state,
                Uuid::now_v7(),
                user_id,
                provider,
                identity,
                tokens,
                now,
            )?;
            tx.insert_account(&record).await.map_err(|e| {
                if e.is_conflict_on(UniqueKey::AccountsIdentity) {
                    already_linked()
                } else {
                    e.into()
                }
            })?;
            Ok(record)
        }
    }
}

/// The user this identity signs in as: the linked one, or an existing user
/// whose verified address the provider also verified, or a new user.
pub(super) async fn sign_in_or_up(
    state: &AppState,
    tx: &mut dyn Repo,
    provider: &Provider,
    identity: &Identity,
    tokens: &ProviderTokens,
    now: Timestamp,
) -> Result<Uuid, FlowError> {
    if let Some(account) = tx
        .account_by_identity(&provider.id, &identity.subject)
        .await?
    {
        let record = account_record(
            state,
            account.id,
            account.user_id,
            provider,
            identity,
            tokens,
            now,
        )?;
        tx.refresh_account(&record).await?;
        return Ok(account.user_id);
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or(FlowError::ProviderRejected(
            "the provider did not share an email address",
        ))?;
    let account_exists = || FlowError::Conflict {
        slug: "account-exists",
        detail: format!(
            "an account with this email address exists: sign in to it, then link {} from there",
            provider.name
        ),
    };
    // An address the provider has not verified proves nothing, and the
    // answer is the same whether or not a local account has it.
    if !identity.email_verified {
        return Err(FlowError::ProviderRejected(
            "the provider has not verified this email address",
        ));
    }
    let user_id = match tx.user_by_email(&email).await? {
        Some(user) if user.email_verified_at.is_some() => user.id,
        Some(_) => return Err(account_exists()),
        None => {
            // A sign-up with a password that nobody verified yet must not
            // survive: whoever chose that password never proved the address.
            tx.take_pending_registration(&email, now).await?;
            let text = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|s| ProfileText::parse(s).ok())
                    .map(String::from)
            };
            let user = tx
                .insert_user(&NewUser {
                    display_name: text(&identity.name),
                    first_name: text(&identity.given_name),
                    last_name: text(&identity.family_name),
                    avatar_url: identity
                        .picture
                        .as_deref()
                        .and_then(|p| AvatarUrl::parse(p).ok())
                        .map(String::from),
                    ..NewUser::verified(email.clone(), &provider.id, now)
                })
                .await
                .map_err(|e| {
                    if e.is_conflict_on(UniqueKey::UsersEmail) {
                        account_exists()
                    } else {
                        e.into()
                    }
                })?;
            tracing::info!(user_id = %user.id, provider = %provider.id, "user created by social sign-in");
            // The sign-in that follows is recorded with the request; this
            // records (and publishes) the creation itself.
            let entry = crate::flows::audit::Entry::by_user(
                crate::flows::audit::Kind::UserCreated,
                user.id,
            )
            .details(serde_json::json!({ "provider": provider.id }));
            let origin = crate::flows::context::Origin::default();
            crate::flows::audit::record_in(state, tx, &origin, entry).await?;
            user.id
        }
    };
    let record = account_record(
        state,
        Uuid::now_v7(),
        user_id,
        provider,
        identity,
        tokens,
        now,
    )?;
    tx.insert_account(&record).await?;
    Ok(user_id)
}

/// The account row, with every provider token encrypted and bound to the
/// account and the token's role.
fn account_record(
    state: &AppState,
    id: Uuid,
    user_id: Uuid,
    provider: &Provider,
    identity: &Identity,
    tokens: &ProviderTokens,
    now: Timestamp,
) -> Result<Account, FlowError> {
    let cipher = &state.provider_cipher;
    let seal = |value: &str, role: &str| cipher.encrypt(value.as_bytes(), &format!("{id}/{role}"));
    Ok(Account {
        id,
        user_id,
        provider_id: provider.id.clone(),
        account_id: identity.subject.clone(),
        email: identity.email.clone(),
        scope: tokens.scope.clone(),
        access_token_enc: Some(seal(&tokens.access_token, "access")?),
        access_token_expires_at: tokens.access_expires_at,
        refresh_token_enc: tokens
            .refresh_token
            .as_deref()
            .map(|t| seal(t, "refresh"))
            .transpose()?,
        refresh_token_expires_at: None,
        id_token_enc: tokens
            .id_token
            .as_deref()
            .map(|t| seal(t, "id"))
            .transpose()?,
        raw: Some(identity.raw.to_string()),
        created_at: now,
        updated_at: now,
    })
}
