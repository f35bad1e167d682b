//! `accounts`: the signed-in user's links to social providers.

use super::problems::{AuthProblems, InputProblems, ServerProblems};
use crate::error::{ApiError, Problem};
use crate::flows::social::{self, Purpose};
use crate::http::{Authenticated, ClientInfo, JsonBody};
use crate::state::AppState;
use crate::store::{Account, Timestamp};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A linked identity. Provider tokens are never part of it.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub provider: String,
    /// The provider's subject identifier.
    pub subject: String,
    pub email: Option<String>,
    pub scope: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        Self {
            id: account.id,
            provider: account.provider_id,
            subject: account.account_id,
            email: account.email,
            scope: account.scope,
            created_at: account.created_at,
            updated_at: account.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

/// My linked provider accounts.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "The linked accounts", body = AccountList), AuthProblems, ServerProblems)
)]
#[get("/v1/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<web::Json<AccountList>, ApiError> {
    let accounts = social::accounts(&state, &auth).await?;
    Ok(web::Json(AccountList {
        accounts: accounts.into_iter().map(AccountView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Where the browser returns with `?linked={provider}`: one of
    /// `oauth.redirect_allowlist`.
    redirect_to: String,
}

#[derive(Serialize, ToSchema)]
pub struct LinkStarted {
    /// Send the browser here; the provider's callback links the identity.
    pub authorize_url: String,
}

/// Start linking a provider identity to the signed-in user.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "Provider id")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The provider's authorization URL", body = LinkStarted),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider is unreachable", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        ServerProblems,
    )
)]
#[post("/v1/accounts/{provider}/link")]
pub async fn link(
    state: web::Data<AppState>,
    auth: Authenticated,
    provider: web::Path<String>,
    body: JsonBody<LinkRequest>,
) -> Result<web::Json<LinkStarted>, ApiError> {
    let flow = social::start(
        &state,
        &provider,
        &body.0.redirect_to,
        None,
        Purpose::Link(auth.user_id),
    )
    .await?;
    Ok(web::Json(LinkStarted {
        authorize_url: flow.provider_url,
    }))
}

/// Unlink a provider account. Refused for the last one of a user without a
/// password: they would be left with no sign-in of their own choosing.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "No such account of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is your last way to sign in", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ServerProblems,
    )
)]
#[delete("/v1/accounts/{id}")]
pub async fn unlink(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    social::unlink(&state, &auth, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
