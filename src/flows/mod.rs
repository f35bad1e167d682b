//! The use cases, written once over the storage traits. Route handlers parse
//! the request, call one of these and render the result.

pub mod account;
pub mod admin;
pub mod audit;
pub mod bootstrap;
pub mod code_sign_in;
pub mod codes;
pub mod confirm;
pub mod context;
pub mod invite;
pub mod mfa;
pub mod paging;
pub mod passkeys;
pub mod passwords;
pub mod profile;
pub mod reauth;
pub mod recovery;
pub mod registration;
pub mod service_clients;
pub mod sessions;
pub mod sign_in;
pub mod social;
pub mod webhooks;

use crate::error::FlowError;
use crate::store::{Session, StoreError, UniqueKey, User};
use crate::tokens::IssuedAccessToken;

/// The result of every successful sign-in: a new session and its tokens.
pub struct SignedIn {
    pub access: IssuedAccessToken,
    pub refresh_token: String,
    pub session: Session,
    pub user: User,
}

/// An address another account has. Only said where the caller proved the
/// address or is an administrator; anonymous sign-up never says it.
pub(crate) fn email_taken() -> FlowError {
    FlowError::Conflict {
        slug: "email-taken",
        detail: "an account with this email address already exists".into(),
    }
}

/// A write that gives a user an address: the unique index's refusal is
/// [`email_taken`].
pub(crate) fn email_conflict(error: StoreError) -> FlowError {
    if error.is_conflict_on(UniqueKey::UsersEmail) {
        email_taken()
    } else {
        error.into()
    }
}

/// A write that sets a username: the unique index's refusal is
/// [`username_taken`].
pub(crate) fn username_conflict(error: StoreError) -> FlowError {
    if error.is_conflict_on(UniqueKey::UsersUsername) {
        username_taken()
    } else {
        error.into()
    }
}

/// Usernames are public handles: saying one is taken reveals nothing private.
pub(crate) fn username_taken() -> FlowError {
    FlowError::Conflict {
        slug: "username-taken",
        detail: "this username is already taken".into(),
    }
}
