//! `admin/users`: search, inspect, update, ban, delete users; their sessions.

use crate::domain::{Email, Locale, ProfileText, Role};
use crate::error::Problem;
use crate::flows::admin::{self, AdminUpdate, ListUsers};
use crate::flows::invite::{self, Invitation};
use crate::http::ApiError;
use crate::http::{Admin, JsonBody, Origin};
use crate::http::{PathParams, QueryParams};
use crate::routes::problems::{AdminProblems, InputProblems, ParamProblems, ServerProblems};
use crate::routes::profile_patch::profile_patch;
use crate::routes::sessions::{Revoked, SessionList};
use crate::routes::views::{SessionView, UserView};
use crate::state::AppState;
use crate::store::{Timestamp, User, UserSort};
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A user as administrators see it: the profile plus the ban.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::admin_user()))]
pub struct AdminUserView {
    /// Every field of the user as they see it themselves.
    #[serde(flatten)]
    pub user: UserView,
    /// Whether a ban is in force now.
    pub banned: bool,
    /// When the latest ban began; `null` when the user was never banned or
    /// has been unbanned. It stays after a temporary ban has ended (with
    /// `banned` false).
    pub banned_at: Option<Timestamp>,
    /// End of the ban; `null` with `banned_at` set: until unbanned.
    pub banned_until: Option<Timestamp>,
    /// The reason the administrator gave, never shown to the user; `null`
    /// when none was given or there is no ban.
    pub ban_reason: Option<String>,
}

impl From<User> for AdminUserView {
    fn from(user: User) -> Self {
        Self {
            banned: user.is_banned(Timestamp::now()),
            banned_at: user.banned_at,
            banned_until: user.banned_until,
            ban_reason: user.ban_reason.clone(),
            user: user.into(),
        }
    }
}

/// An invitation: the address, and optionally the role, names and language.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "grace@example.com",
    "role": "EDITOR",
    "first_name": "Grace",
    "last_name": "Hopper",
    "locale": "en"
}))]
pub struct InviteRequest {
    /// The invitee's address, where the invitation goes; 409 when it
    /// already has an account.
    email: Email,
    /// VIEWER unless given; never above the caller's own.
    role: Option<Role>,
    /// Given name; absent or `null`: not set.
    #[schema(value_type = Option<ProfileText>)]
    first_name: Option<ProfileText>,
    /// Family name; absent or `null`: not set.
    #[schema(value_type = Option<ProfileText>)]
    last_name: Option<ProfileText>,
    /// The language of the invitation and later mail.
    locale: Option<Locale>,
}

/// Invite a user.
///
/// Creates an account without a password and mails the person a `sign_in`
/// code and link (valid `sign_in_code_ttl_secs`); they can set a password
/// later with a `reset_password` code. No administrator sees or sets a
/// password. 409 when the address already has an account.
#[utoipa::path(
    operation_id = "inviteUser",
    tag = "admin",
    security(("bearer" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invited", body = AdminUserView),
        (status = 409, description = "The address already has an account", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AdminProblems,
        ServerProblems,
    )
)]
#[post("/v1/admin/users")]
pub async fn invite_user(
    state: web::Data<AppState>,
    client: Origin,
    admin: Admin,
    body: JsonBody<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let invitation = Invitation {
        email: body.email,
        role: body.role.unwrap_or(Role::Viewer),
        first_name: body.first_name.map(String::from),
        last_name: body.last_name.map(String::from),
        locale: body.locale,
    };
    let user = invite::invite(&state, &admin, invitation, &client).await?;
    Ok(HttpResponse::Created().json(AdminUserView::from(user)))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
pub enum SortOrder {
    #[serde(rename = "-created_at")]
    NewestFirst,
    #[serde(rename = "created_at")]
    OldestFirst,
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "-email")]
    EmailDescending,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Searches address, username and names (case-insensitive substring).
    q: Option<String>,
    /// Only users with this role.
    #[param(inline)]
    role: Option<Role>,
    /// `true`: only users whose address is verified; `false`: only those
    /// whose address is not.
    verified: Option<bool>,
    /// `true`: only users with a ban in force now; `false`: only those
    /// without.
    banned: Option<bool>,
    /// `-created_at` (default), `created_at`, `email` or `-email`.
    #[param(inline)]
    sort: Option<SortOrder>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// One page of a user search.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "users": [crate::routes::examples::admin_user()],
    "total": 137,
    "next_cursor": "eyJzIjoiLWNyZWF0ZWRfYXQiLCJrIjoiMTc5NTEwODUwMDAwMCIsImlkIjoiMDFhMjEzNzQtMDNlMC03MTFlLTg5MGQtNTQ5YjZmMDM2NzVhIn0"
}))]
pub struct UserPageView {
    /// The users of this page, in the requested order (at most `limit`).
    pub users: Vec<AdminUserView>,
    /// Users matching the filters, over all pages.
    pub total: i64,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Search and page through users.
#[utoipa::path(
    operation_id = "listAdminUsers",
    tag = "admin",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of users", body = UserPageView), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: Admin,
    query: QueryParams<ListQuery>,
) -> Result<web::Json<UserPageView>, ApiError> {
    let query = query.into_inner();
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::bad_request("q", "must be at most 200 characters"));
    }
    let sort = match query.sort.unwrap_or(SortOrder::NewestFirst) {
        SortOrder::NewestFirst => UserSort::CreatedDesc,
        SortOrder::OldestFirst => UserSort::CreatedAsc,
        SortOrder::Email => UserSort::EmailAsc,
        SortOrder::EmailDescending => UserSort::EmailDesc,
    };
    let page = admin::list_users(
        &state,
        ListUsers {
            search: query.q,
            role: query.role,
            verified: query.verified,
            banned: query.banned,
            sort,
            limit: query.limit,
            cursor: query.cursor,
        },
    )
    .await?;
    Ok(web::Json(UserPageView {
        users: page.users.into_iter().map(AdminUserView::from).collect(),
        total: page.total,
        next_cursor: page.next_cursor,
    }))
}

/// One user.
#[utoipa::path(
    operation_id = "getAdminUser",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = AdminUserView), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: Admin,
    id: PathParams<Uuid>,
) -> Result<web::Json<AdminUserView>, ApiError> {
    Ok(web::Json(
        admin::get_user(&state, id.into_inner()).await?.into(),
    ))
}

profile_patch! {
    /// Profile fields as in `PATCH /v1/users/me`, plus `role` and `email_verified`.
    #[schema(example = json!({"role": "EDITOR", "email_verified": true, "city": "London"}))]
    pub struct AdminUpdateRequest {
        /// Never above the caller's own; a change ends the user's sessions.
        /// Absent or `null` keeps the role.
        role: Option<Role>,
        /// `true` marks the address verified (now), `false` unverified;
        /// absent or `null` keeps it.
        email_verified: Option<bool>,
    }
}

/// Update a user's profile, role or verified flag.
#[utoipa::path(
    operation_id = "updateAdminUser",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = AdminUpdateRequest,
    responses(
        (status = 200, description = "The updated user", body = AdminUserView),
        (status = 409, description = "Username taken, or the last SUPER-ADMIN would be demoted", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AdminProblems,
        ServerProblems,
    )
)]
#[patch("/v1/admin/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    client: Origin,
    id: PathParams<Uuid>,
    admin: Admin,
    body: JsonBody<AdminUpdateRequest>,
) -> Result<web::Json<AdminUserView>, ApiError> {
    let mut body = body.0;
    let update = AdminUpdate {
        profile: body.take_profile(),
        role: body.role,
        email_verified: body.email_verified,
    };
    let user = admin::update_user(&state, &admin, id.into_inner(), update, &client).await?;
    Ok(web::Json(user.into()))
}

/// How long a ban lasts, and why; `{}` bans until unbanned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"until": "2027-06-01T00:00:00Z", "reason": "Repeated spam in comments"}))]
pub struct BanRequest {
    /// When the ban ends (RFC 3339), which must be in the future (400
    /// otherwise); absent or `null`: until unbanned.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<OffsetDateTime>,
    /// Shown to administrators, not to the user.
    #[schema(value_type = Option<ProfileText>)]
    reason: Option<ProfileText>,
}

/// Ban a user: their sessions end, and they cannot sign in or refresh until
/// the ban ends or is lifted.
#[utoipa::path(
    operation_id = "banUser",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = BanRequest,
    responses(
        (status = 200, description = "The banned user", body = AdminUserView),
        (status = 409, description = "The last SUPER-ADMIN cannot be banned", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AdminProblems,
        ServerProblems,
    )
)]
#[post("/v1/admin/users/{id}/ban")]
pub async fn ban(
    state: web::Data<AppState>,
    client: Origin,
    id: PathParams<Uuid>,
    admin: Admin,
    body: JsonBody<BanRequest>,
) -> Result<web::Json<AdminUserView>, ApiError> {
    let body = body.0;
    let BanRequest { until, reason } = body;
    let until = until.map(Timestamp::from_datetime);
    let reason = reason.map(String::from);
    let user = admin::ban(&state, &admin, id.into_inner(), until, reason, &client).await?;
    Ok(web::Json(user.into()))
}

/// Lift a ban.
#[utoipa::path(
    operation_id = "unbanUser",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = AdminUserView), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/users/{id}/ban")]
pub async fn unban(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<web::Json<AdminUserView>, ApiError> {
    let user = admin::unban(&state, &admin, id.into_inner(), &client).await?;
    Ok(web::Json(user.into()))
}

/// Delete a user and everything of theirs.
#[utoipa::path(
    operation_id = "deleteUser",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The last SUPER-ADMIN cannot be deleted", body = Problem, content_type = "application/problem+json"),
        AdminProblems,
        ParamProblems, ServerProblems,
    )
)]
#[delete("/v1/admin/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    admin::delete_user(&state, &admin, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's live sessions.
#[utoipa::path(
    operation_id = "listUserSessions",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The sessions", body = SessionList), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/users/{id}/sessions")]
pub async fn user_sessions(
    state: web::Data<AppState>,
    _admin: Admin,
    id: PathParams<Uuid>,
) -> Result<web::Json<SessionList>, ApiError> {
    let idle = state.settings.session_idle_ttl();
    let sessions = admin::sessions_of(&state, id.into_inner())
        .await?
        .into_iter()
        .map(|s| SessionView::new(s, None, idle))
        .collect();
    Ok(web::Json(SessionList { sessions }))
}

/// End one session of a user.
#[utoipa::path(
    operation_id = "revokeUserSession",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("session_id" = Uuid, Path, description = "Session id"),
    ),
    responses((status = 204, description = "Revoked"), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/users/{id}/sessions/{session_id}")]
pub async fn revoke_user_session(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    path: PathParams<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, session) = path.into_inner();
    admin::revoke_sessions_of(&state, &admin, id, Some(session), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of a user.
#[utoipa::path(
    operation_id = "revokeUserSessions",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "Sessions ended", body = Revoked), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/users/{id}/sessions")]
pub async fn revoke_user_sessions(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<web::Json<Revoked>, ApiError> {
    let revoked = admin::revoke_sessions_of(&state, &admin, id.into_inner(), None, &client).await?;
    Ok(web::Json(Revoked { revoked }))
}
