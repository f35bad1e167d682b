//! User management by administrators. Every rule is checked here, against
//! the actor's current role from the database:
//! - nobody grants a role above their own;
//! - only a SUPER-ADMIN manages a SUPER-ADMIN;
//! - the last active SUPER-ADMIN cannot be demoted, banned or deleted (the
//!   check runs under a lock row, so two concurrent demotions cannot both
//!   pass);
//! - a role change or a ban ends the user's sessions.

use super::audit::{self, Entry, Kind};
use super::paging;
use crate::domain::Role;
use crate::error::FlowError;
use crate::flows::context::{Admin, Origin};
use crate::state::AppState;
use crate::store::{
    AuditEvent, AuditQuery, ProfileUpdate, Repo, Session, Timestamp, User, UserCursor, UserFilter,
    UserQuery, UserSort,
};
use serde_json::json;
use uuid::Uuid;

pub struct UserPage {
    pub users: Vec<User>,
    pub total: i64,
    pub next_cursor: Option<String>,
}

pub struct ListUsers {
    pub search: Option<String>,
    pub role: Option<Role>,
    pub verified: Option<bool>,
    pub banned: Option<bool>,
    pub sort: UserSort,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn sort_name(sort: UserSort) -> &'static str {
    match sort {
        UserSort::CreatedDesc => "-created_at",
        UserSort::CreatedAsc => "created_at",
        UserSort::EmailAsc => "email",
        UserSort::EmailDesc => "-email",
    }
}

fn user_cursor(sort: UserSort, user: &User) -> String {
    let key = match sort {
        UserSort::CreatedDesc | UserSort::CreatedAsc => paging::time_key(user.created_at),
        UserSort::EmailAsc | UserSort::EmailDesc => user.email.to_string(),
    };
    paging::encode(sort_name(sort), key, user.id)
}

fn parse_user_cursor(sort: UserSort, cursor: &str) -> Result<UserCursor, FlowError> {
    let (key, id) = paging::decode(sort_name(sort), cursor)?;
    Ok(match sort {
        UserSort::CreatedDesc | UserSort::CreatedAsc => {
            UserCursor::Created(paging::parse_time_key(&key)?, id)
        }
        UserSort::EmailAsc | UserSort::EmailDesc => UserCursor::Email(key, id),
    })
}

/// `LIKE` pattern for a search term, lower-cased, wildcards escaped.
fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

pub async fn list_users(state: &AppState, params: ListUsers) -> Result<UserPage, FlowError> {
    let limit = paging::page_size(params.limit)?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| parse_user_cursor(params.sort, c))
        .transpose()?;
    let filter = UserFilter {
        pattern: params
            .search
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| like_pattern(s.trim())),
        role: params.role,
        verified: params.verified,
        banned: params.banned,
    };
    let now = state.clock.now();
    let mut repo = state.store.connection().await?;
    let users = repo
        .list_users(&UserQuery {
            filter: filter.clone(),
            sort: params.sort,
            after,
            limit: limit + 1,
            now,
        })
        .await?;
    let total = repo.count_users(&filter, now).await?;
    let (users, next_cursor) = paging::split(users, limit, |u| user_cursor(params.sort, u));
    Ok(UserPage {
        users,
        total,
        next_cursor,
    })
}

pub async fn get_user(state: &AppState, id: Uuid) -> Result<User, FlowError> {
    let mut repo = state.store.connection().await?;
    repo.user_by_id(id).await?.ok_or(FlowError::NotFound)
}

/// Only a SUPER-ADMIN manages a SUPER-ADMIN.
fn check_may_manage(admin: &Admin, actor_role: Role, target: &User) -> Result<(), FlowError> {
    if target.role == Role::SuperAdmin && actor_role < Role::SuperAdmin {
        return Err(admin.refuse("only a SUPER-ADMIN can manage a SUPER-ADMIN"));
    }
    Ok(())
}

fn last_super_admin() -> FlowError {
    FlowError::Conflict {
        slug: "last-super-admin",
        detail: "this is the last active SUPER-ADMIN; make another one first".into(),
    }
}

/// Locks the SUPER-ADMIN set, then reads the actor's role again and loads
/// the target (404 if absent). The extractor read the role before the lock:
/// a demotion or ban committed in between must count, so the rules use the
/// role read here.
async fn lock_and_load(
    tx: &mut dyn Repo,
    admin: &Admin,
    id: Uuid,
    now: Timestamp,
) -> Result<(Role, User), FlowError> {
    tx.lock("super_admins").await?;
    let actor_role = current_role(tx, admin, now).await?;
    let target = tx.user_by_id(id).await?.ok_or(FlowError::NotFound)?;
    check_may_manage(admin, actor_role, &target)?;
    Ok((actor_role, target))
}

/// The actor's role as it is now; 403 once they are no longer an ADMIN.
pub(crate) async fn current_role(
    tx: &mut dyn Repo,
    admin: &Admin,
    now: Timestamp,
) -> Result<Role, FlowError> {
    match tx.user_by_id(admin.auth.user.id).await? {
        Some(actor) if !actor.is_banned(now) && actor.role >= Role::Admin => Ok(actor.role),
        _ => Err(admin.refuse("no longer an administrator")),
    }
}

/// Refuses a demotion, ban, deletion or loss of the verified address of a
/// SUPER-ADMIN unless another SUPER-ADMIN who can sign in remains (lock
/// held). Only one who can sign in counts (see `count_active_super_admins`);
/// the target never counts as the other one, whatever its state, so no
/// sequence of changes ends with nobody able to administer.
pub(super) async fn ensure_another_super_admin(
    tx: &mut dyn Repo,
    target: &User,
    now: Timestamp,
) -> Result<(), FlowError> {
    if target.role != Role::SuperAdmin {
        return Ok(());
    }
    let target_counts = !target.is_banned(now) && target.email_verified_at.is_some();
    let others = tx.count_active_super_admins(now).await? - i64::from(target_counts);
    if others < 1 {
        return Err(last_super_admin());
    }
    Ok(())
}

pub struct AdminUpdate {
    pub profile: ProfileUpdate,
    pub role: Option<Role>,
    pub email_verified: Option<bool>,
}

pub async fn update_user(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    update: AdminUpdate,
    client: &Origin,
) -> Result<User, FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let (actor_role, target) = lock_and_load(tx.as_mut(), admin, id, now).await?;
    let actor = admin.auth.user.id;
    tx.update_profile(id, &update.profile, now)
        .await
        .map_err(super::username_conflict)?;
    let entry = Entry::new(Kind::UserUpdated).user(id).actor(actor);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    if let Some(role) = update.role.filter(|r| *r != target.role) {
        if role > actor_role {
            return Err(admin.refuse("nobody grants a role above their own"));
        }
        ensure_another_super_admin(tx.as_mut(), &target, now).await?;
        tx.set_role(id, role, now).await?;
        // Tokens carry the role: the old ones must not outlive the change.
        tx.revoke_sessions_of_user(id, None, now, "role_changed")
            .await?;
        let entry = Entry::new(Kind::RoleChanged)
            .user(id)
            .actor(actor)
            .details(json!({ "from": target.role, "to": role }));
        audit::record_in(state, tx.as_mut(), client, entry).await?;
    }
    if let Some(verified) = update.email_verified {
        if verified != target.email_verified_at.is_some() {
            if !verified {
                // An unverified SUPER-ADMIN no longer counts as one who can
                // sign in: the same guard as a demotion.
                ensure_another_super_admin(tx.as_mut(), &target, now).await?;
            }
            tx.set_email_verified(id, verified.then_some(now), now)
                .await?;
            if verified {
                let entry = Entry::new(Kind::AddressVerified)
                    .user(id)
                    .actor(actor)
                    .details(json!({ "method": "admin" }));
                audit::record_in(state, tx.as_mut(), client, entry).await?;
            }
        }
    }
    let user = tx.user_by_id(id).await?.ok_or(FlowError::NotFound)?;
    tx.commit().await?;
    Ok(user)
}

pub async fn ban(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    until: Option<Timestamp>,
    reason: Option<String>,
    client: &Origin,
) -> Result<User, FlowError> {
    let now = state.clock.now();
    if until.is_some_and(|u| u <= now) {
        return Err(FlowError::bad_request("until", "must be in the future"));
    }
    let mut tx = state.store.transaction().await?;
    let (_, target) = lock_and_load(tx.as_mut(), admin, id, now).await?;
    ensure_another_super_admin(tx.as_mut(), &target, now).await?;
    tx.ban_user(id, until, reason.as_deref(), now).await?;
    tx.revoke_sessions_of_user(id, None, now, "banned").await?;
    tx.delete_mfa_challenges_of_user(id).await?;
    let entry = Entry::new(Kind::UserBanned)
        .user(id)
        .actor(admin.auth.user.id)
        .details(json!({ "until": until, "reason": reason }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let user = tx.user_by_id(id).await?.ok_or(FlowError::NotFound)?;
    tx.commit().await?;
    Ok(user)
}

pub async fn unban(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    client: &Origin,
) -> Result<User, FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_and_load(tx.as_mut(), admin, id, now).await?;
    tx.unban_user(id, now).await?;
    let entry = Entry::new(Kind::UserUnbanned)
        .user(id)
        .actor(admin.auth.user.id);
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    let user = tx.user_by_id(id).await?.ok_or(FlowError::NotFound)?;
    tx.commit().await?;
    Ok(user)
}

pub async fn delete_user(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    client: &Origin,
) -> Result<(), FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    let (_, target) = lock_and_load(tx.as_mut(), admin, id, now).await?;
    ensure_another_super_admin(tx.as_mut(), &target, now).await?;
    tx.delete_user(id).await?;
    let entry = Entry::new(Kind::UserDeleted)
        .user(id)
        .actor(admin.auth.user.id)
        .details(json!({ "email": target.email, "role": target.role }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn sessions_of(state: &AppState, id: Uuid) -> Result<Vec<Session>, FlowError> {
    let now = state.clock.now();
    let idle_cutoff = now.minus(state.settings.session_idle_ttl());
    let mut repo = state.store.connection().await?;
    repo.user_by_id(id).await?.ok_or(FlowError::NotFound)?;
    Ok(repo.live_sessions_of_user(id, now, idle_cutoff).await?)
}

/// Ends one session of a user, or all of them (`session = None`).
pub async fn revoke_sessions_of(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    session: Option<Uuid>,
    client: &Origin,
) -> Result<u64, FlowError> {
    let now = state.clock.now();
    let mut tx = state.store.transaction().await?;
    lock_and_load(tx.as_mut(), admin, id, now).await?;
    let revoked = match session {
        Some(session) => {
            if !tx
                .revoke_session(session, Some(id), now, "revoked_by_admin")
                .await?
            {
                return Err(FlowError::NotFound);
            }
            1
        }
        None => {
            tx.revoke_sessions_of_user(id, None, now, "revoked_by_admin")
                .await?
        }
    };
    let entry = Entry::new(Kind::SessionsRevoked)
        .user(id)
        .actor(admin.auth.user.id)
        .details(json!({ "session_id": session, "sessions": revoked }));
    audit::record_in(state, tx.as_mut(), client, entry).await?;
    tx.commit().await?;
    Ok(revoked)
}

pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// The order tag of audit cursors: newest first is the only order.
const AUDIT_ORDER: &str = "-occurred_at";

pub async fn audit_events(
    state: &AppState,
    mut query: AuditQuery,
    cursor: Option<&str>,
) -> Result<AuditPage, FlowError> {
    if let Some(cursor) = cursor {
        let (key, id) = paging::decode(AUDIT_ORDER, cursor)?;
        query.before = Some((paging::parse_time_key(&key)?, id));
    }
    let limit = query.limit;
    query.limit = limit + 1;
    let mut repo = state.store.connection().await?;
    let events = repo.audit_events(&query).await?;
    let (events, next_cursor) = paging::split(events, limit, |e| {
        paging::encode(AUDIT_ORDER, paging::time_key(e.occurred_at), e.id)
    });
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_cannot_inject_wildcards() {
        assert_eq!(like_pattern("Ada_100%"), "%ada\\_100\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }

    #[test]
    fn cursors_belong_to_their_sort() {
        let user = User {
            id: Uuid::now_v7(),
            email: crate::domain::Email::parse("a@b.co").unwrap(),
            email_verified_at: None,
            username: None,
            display_name: None,
            first_name: None,
            last_name: None,
            phone: None,
            city: None,
            info: None,
            avatar_url: None,
            role: Role::Viewer,
            auth_provider: "email".into(),
            password_hash: None,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            banned_at: None,
            banned_until: None,
            ban_reason: None,
            locale: None,
        };
        let cursor = user_cursor(UserSort::EmailAsc, &user);
        assert!(
            matches!(parse_user_cursor(UserSort::EmailAsc, &cursor), Ok(UserCursor::Email(e, _)) if e == "a@b.co")
        );
        assert!(parse_user_cursor(UserSort::CreatedDesc, &cursor).is_err());
        assert!(parse_user_cursor(UserSort::EmailAsc, "garbage!").is_err());
    }
}
