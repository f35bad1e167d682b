//! Sign-up with a password: a pending registration until the address is
//! verified, then a user with a session.

use super::codes::{self, Proof};
use super::sessions::complete_sign_in;
use super::sessions::SignInOutcome;
use super::{audit, username_taken};
use crate::domain::{AuthMethod, CodeAction, Email, Locale, Password, ProfileText, Username};
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::mail::MailKind;
use crate::state::AppState;
use crate::store::{NewUser, PendingRegistration, UniqueKey};
use serde_json::json;
use uuid::Uuid;

pub struct SignUp {
    pub email: Email,
    pub password: Password,
    pub username: Option<Username>,
    pub first_name: Option<ProfileText>,
    pub last_name: Option<ProfileText>,
}

/// Words that identify an account; a password must not be built from them.
pub fn context_words<'a>(email: &'a Email, username: Option<&'a Username>) -> Vec<&'a str> {
    let mut words = vec![email.as_str(), email.local_part()];
    words.extend(username.map(Username::as_str));
    words
}

/// Answers the same way whether or not the address is taken: a new address
/// gets a pending registration and a verification mail, a taken one a notice
/// to its owner. The password is hashed first in both cases, so that timing
/// tells nothing either. A sign-up for an address with a live pending
/// registration changes nothing: it re-sends that registration's code, so
/// whoever signs up second never decides the password of the account the
/// owner confirms.
pub async fn sign_up(state: &AppState, input: SignUp, client: &Origin) -> Result<(), FlowError> {
    let context = context_words(&input.email, input.username.as_ref());
    super::passwords::screen(state, &input.password, &context).await?;
    if let Some(username) = &input.username {
        let mut repo = state.store.connection().await?;
        if repo.user_by_username(username.as_str()).await?.is_some() {
            return Err(username_taken());
        }
    }
    // The hashing slot before the mail's admission: a sign-up turned away
    // by a busy hasher (503) must not have spent the address's mail
    // cool-down, or its retry would get 202 and no mail.
    let slot = state.hasher.slot(client.limit_key().as_deref()).await?;
    // Only a valid sign-up claims the mail slot (one refused for its
    // password can be corrected and sent again at once).
    if !codes::admit_mail(state, &input.email, CodeAction::VerifyEmail, client).await? {
        return Ok(());
    }
    let password_hash = slot.hash(input.password.expose()).await?;

    let now = state.clock.now();
    let email = &input.email;
    let mut tx = state.store.transaction().await?;
    let existing = tx.user_by_email(email).await?;
    let entry = audit::Entry::new(audit::Kind::SignUpRequested)
        .details(json!({ "email": email.as_str(), "existing_account": existing.is_some() }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let locale = codes::mail_locale(existing.as_ref(), client);
    match existing {
        Some(_) => {
            let kind = MailKind::AlreadyRegistered;
            codes::send_notice(
                state,
                tx.as_mut(),
                email.as_str(),
                kind,
                locale,
                json!({}),
                now,
            )
            .await?;
        }
        None => {
            let created = tx
                .put_pending_registration(&PendingRegistration {
                    id: Uuid::now_v7(),
                    email: email.clone(),
                    password_hash,
                    username: input.username.map(String::from),
                    first_name: input.first_name.map(String::from),
                    last_name: input.last_name.map(String::from),
                    created_at: now,
                    expires_at: now.plus(state.settings.pending_registration_ttl()),
                })
                .await?;
            if created {
                codes::send_code(state, tx.as_mut(), verification(email, locale), now).await?;
            } else {
                // The code the registration already has, again: asking again
                // never kills the code in the owner's mailbox.
                codes::resend_code(state, tx.as_mut(), verification(email, locale), now).await?;
            }
        }
    }
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Sends a new code to a pending registration. Unknown and already verified
/// addresses get nothing, with the same answer. The caller has been admitted
/// by [`codes::admit_mail`].
pub async fn resend_verification(
    state: &AppState,
    email: &Email,
    client: &Origin,
) -> Result<(), FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    if tx.pending_registration(email, now).await?.is_none() {
        return Ok(());
    }
    let locale = codes::mail_locale(None, client);
    codes::resend_code(state, tx.as_mut(), verification(email, locale), now).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// Turns the pending registration into a verified user and signs it in, all
/// in one transaction.
pub async fn confirm(
    state: &AppState,
    proof: Proof,
    client: Origin,
) -> Result<SignInOutcome, FlowError> {
    let now = state.clock.now();
    let tx = state.store.transaction().await?;
    let (mut tx, consumed) =
        codes::consume(state, tx, CodeAction::VerifyEmail, &proof, now, &client).await?;
    let pending = tx
        .take_pending_registration(&consumed.email, now)
        .await?
        .ok_or(FlowError::InvalidCode)?;
    let user = tx
        .insert_user(&NewUser {
            username: pending.username,
            first_name: pending.first_name,
            last_name: pending.last_name,
            password_hash: Some(pending.password_hash),
            ..NewUser::verified(pending.email, "email", now)
        })
        .await
        .map_err(|e| match e {
            e if e.is_conflict_on(UniqueKey::UsersEmail) => super::email_taken(),
            e => super::username_conflict(e),
        })?;
    let method = match proof {
        Proof::Code { .. } => "code",
        Proof::LinkToken(_) => "link",
    };
    let user_id = user.id;
    let signed_in = complete_sign_in(
        state,
        tx,
        (user, AuthMethod::EmailCode),
        &client,
        (audit::Kind::EmailVerified, json!({ "method": method })),
        now,
    )
    .await?;
    tracing::info!(user_id = %user_id, "email verified, user created");
    Ok(signed_in)
}

fn verification(email: &Email, locale: Locale) -> codes::CodeMail<'_> {
    codes::CodeMail {
        to: email,
        action: CodeAction::VerifyEmail,
        kind: MailKind::VerifyEmail,
        user_id: None,
        locale,
    }
}
