//! Confirming an emailed code or link: one command per action, parsed from
//! the request once, and one entry point that runs the action's flow.

use super::codes::Proof;
use super::recovery::ResetOptions;
use super::sessions::SignInOutcome;
use super::{account, code_sign_in, recovery, registration};
use crate::domain::Password;
use crate::error::FlowError;
use crate::flows::context::Origin;
use crate::state::AppState;
use crate::store::User;

/// A confirmation, by action.
pub enum Confirmation {
    /// The pending registration becomes a user, signed in.
    VerifyEmail(Proof),
    /// A session is opened.
    SignIn(Proof),
    /// The password is replaced; every session ends.
    ResetPassword {
        proof: Proof,
        new_password: Password,
        options: ResetOptions,
    },
    /// The account moves to the address the code went to.
    ChangeEmail(Proof),
}

/// What a confirmation did.
pub enum Confirmed {
    SignedIn(SignInOutcome),
    PasswordReset,
    EmailChanged(Box<User>),
}

pub async fn confirm(
    state: &AppState,
    confirmation: Confirmation,
    client: Origin,
) -> Result<Confirmed, FlowError> {
    Ok(match confirmation {
        Confirmation::VerifyEmail(proof) => {
            Confirmed::SignedIn(registration::confirm(state, proof, client).await?)
        }
        Confirmation::SignIn(proof) => {
            Confirmed::SignedIn(code_sign_in::confirm(state, proof, client).await?)
        }
        Confirmation::ResetPassword {
            proof,
            new_password,
            options,
        } => {
            recovery::confirm(state, proof, new_password, options, &client).await?;
            Confirmed::PasswordReset
        }
        Confirmation::ChangeEmail(proof) => Confirmed::EmailChanged(Box::new(
            account::confirm_email_change(state, proof, &client).await?,
        )),
    })
}
