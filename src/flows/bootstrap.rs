//! The first SUPER-ADMIN: `portcullis create-admin` and the
//! `bootstrap_admin_email` setting. There is never a default account.

use super::audit::{self, Entry, Kind};
use crate::domain::{Email, Role};
use crate::flows::context::Origin;
use crate::store::{NewUser, Store, StoreError, Timestamp};
use serde_json::json;
use uuid::Uuid;

/// What `create-admin` (or the bootstrap address) did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    Promoted(Uuid),
    Created(Uuid),
    AlreadySuperAdmin(Uuid),
    /// A SUPER-ADMIN who could not sign in (banned, or the address no
    /// longer verified) can again: the operator's way back in.
    Restored(Uuid),
}

/// Makes the user with `email` a SUPER-ADMIN who can sign in (the address
/// marked verified, since the operator vouches for it, and any ban lifted),
/// or creates one with the given password hash. There is never a default
/// account.
pub async fn bootstrap_super_admin(
    store: &dyn Store,
    email: &Email,
    password_hash: Option<String>,
    now: Timestamp,
) -> Result<Bootstrap, BootstrapError> {
    let mut tx = store.transaction().await?;
    tx.lock("super_admins").await?;
    let outcome = match tx.user_by_email(email).await? {
        Some(user) if user.role == Role::SuperAdmin => {
            let banned = user.is_banned(now);
            if banned {
                tx.unban_user(user.id, now).await?;
            }
            if user.email_verified_at.is_none() {
                tx.set_email_verified(user.id, Some(now), now).await?;
            }
            if banned || user.email_verified_at.is_none() {
                Bootstrap::Restored(user.id)
            } else {
                Bootstrap::AlreadySuperAdmin(user.id)
            }
        }
        Some(user) => {
            tx.set_role(user.id, Role::SuperAdmin, now).await?;
            if user.email_verified_at.is_none() {
                tx.set_email_verified(user.id, Some(now), now).await?;
            }
            tx.revoke_sessions_of_user(user.id, None, now, "role_changed")
                .await?;
            Bootstrap::Promoted(user.id)
        }
        None => {
            let hash = password_hash.ok_or(BootstrapError::NoSuchUser)?;
            let user = tx
                .insert_user(&NewUser {
                    role: Role::SuperAdmin,
                    password_hash: Some(hash),
                    ..NewUser::verified(email.clone(), "email", now)
                })
                .await?;
            Bootstrap::Created(user.id)
        }
    };
    let changed = match &outcome {
        Bootstrap::Promoted(id) | Bootstrap::Created(id) | Bootstrap::Restored(id) => Some(*id),
        Bootstrap::AlreadySuperAdmin(_) => None,
    };
    if let Some(user_id) = changed {
        let entry = Entry::new(Kind::RoleChanged)
            .user(user_id)
            .details(json!({ "to": Role::SuperAdmin, "by": "bootstrap" }));
        audit::record_at(tx.as_mut(), &Origin::operator(), entry, now).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("there is no user with this address; give a password to create one")]
    NoSuchUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}
