//! The signed-in user's own profile.

use crate::error::FlowError;
use crate::flows::context::Caller;
use crate::state::AppState;
use crate::store::{ProfileUpdate, User};

pub async fn update(
    state: &AppState,
    auth: &Caller,
    update: &ProfileUpdate,
) -> Result<User, FlowError> {
    let mut repo = state.store.connection().await?;
    repo.update_profile(auth.user.id, update, state.clock.now())
        .await
        .map_err(super::username_conflict)?
        .ok_or(FlowError::Unauthenticated("user no longer exists"))
}
