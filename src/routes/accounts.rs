//! `accounts`: the signed-in user's links to social providers.

use super::problems::{AuthProblems, InputProblems, ParamProblems, RateProblems, ServerProblems};
use crate::domain::{OpaqueToken, VerificationCode};
use crate::error::Problem;
use crate::flows::reauth::Reauthentication;
use crate::flows::social;
use crate::http::ApiError;
use crate::http::PathParams;
use crate::http::{Caller, JsonBody, Origin};
use crate::state::AppState;
use crate::store::{Account, Timestamp};
use crate::throttle::{self, Limited};
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A linked identity. Provider tokens are never part of it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::account()))]
pub struct AccountView {
    /// The link's id (a UUID), for `DELETE /v1/accounts/{id}`.
    pub id: Uuid,
    /// The provider's id, as in `GET /v1/oauth/providers`.
    pub provider: String,
    /// The provider's subject identifier.
    pub subject: String,
    /// The address the provider reported for the identity; `null` when it
    /// reported none.
    pub email: Option<String>,
    /// The scopes the provider granted, space-separated; `null` when it did
    /// not say.
    pub scope: Option<String>,
    /// When the identity was linked.
    pub created_at: Timestamp,
    /// When the provider's data (address, scopes) was last refreshed: at
    /// each sign-in with the identity, or when it is linked again.
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

/// The signed-in user's linked provider identities.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"accounts": [crate::routes::examples::account()]}))]
pub struct AccountList {
    /// The linked identities; empty when there are none.
    pub accounts: Vec<AccountView>,
}

/// My linked provider accounts.
#[utoipa::path(
    operation_id = "listAccounts",
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "The linked accounts", body = AccountList), AuthProblems, ServerProblems)
)]
#[get("/v1/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    auth: Caller,
) -> Result<web::Json<AccountList>, ApiError> {
    let accounts = social::accounts(&state, &auth).await?;
    Ok(web::Json(AccountList {
        accounts: accounts.into_iter().map(AccountView::from).collect(),
    }))
}

/// Proof of the owner comes with the request: the password, or for an
/// account without one a fresh `sign_in` code (`POST
/// /v1/email-verification-codes` with `"action": "sign_in"`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "redirect_to": "https://app.example.com/settings/accounts",
    "password": "correct horse battery staple"
}))]
pub struct LinkRequest {
    /// Where the browser returns with `?link_code=…`: one of
    /// `oauth.redirect_allowlist`.
    redirect_to: String,
    /// The current password.
    #[schema(example = "correct horse battery staple")]
    password: Option<String>,
    /// A fresh `sign_in` code, for accounts without a password.
    code: Option<VerificationCode>,
}

/// Where to send the browser to continue linking.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=1234567890-abc.apps.googleusercontent.com&state=Xq1vR8dKpL3sT6wY9zB2nF5hJ0mC4gA7eU-iO_kPqWs&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fauth.example.com%2Fv1%2Foauth%2Fgoogle%2Fcallback&scope=openid+email+profile&nonce=b5T2kLm9Qx4Wv7Rz1Yc8Np3Hd6Fg0Sj-Ae_UoIiEwK"
}))]
pub struct LinkStarted {
    /// Send the browser here. The provider's callback returns it to
    /// `redirect_to?link_code=…`; post that code to `POST /v1/accounts/link`.
    pub authorize_url: String,
}

/// Start linking a provider identity to the signed-in user.
///
/// Needs proof of the owner (`password`, or `code` for an account without a
/// password): a stolen access token alone cannot add a way into the account.
/// Password checks count in the account's sign-in lockout and in
/// `rate_limits.reauthentication`. A password reset, a password change and
/// signing out other sessions end a started flow.
#[utoipa::path(
    operation_id = "startLink",
    tag = "accounts",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "Provider id")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The provider's authorization URL", body = LinkStarted),
        (status = 403, description = "The password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider is unreachable", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/accounts/{provider}/link")]
pub async fn link(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    provider: PathParams<String>,
    body: JsonBody<LinkRequest>,
) -> Result<web::Json<LinkStarted>, ApiError> {
    throttle::check_rate(&state, Limited::OAuthAuthorize, &client).await?;
    let LinkRequest {
        redirect_to,
        password,
        code,
    } = body.0;
    let proof = Reauthentication::from_fields(password, code)?;
    let flow = social::start_link(&state, &auth, &provider, &redirect_to, proof, &client).await?;
    Ok(web::Json(LinkStarted {
        authorize_url: flow.provider_url,
    }))
}

/// The one-time `link_code` that finishes a link flow.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"link_code": "Vb7nQ2xK9pLm4RtY6wZc1HsD8fJg3EaU5iOq0TkPyWo"}))]
pub struct CompleteLinkRequest {
    /// The `link_code` from the redirect (one-time, 60 s by default).
    link_code: OpaqueToken,
}

/// Finish a link: the identity the provider returned becomes one of the
/// caller's accounts.
///
/// Only the user who started the flow can claim its `link_code` (one-time,
/// 60 s); any other user's attempt spends it and links nothing. The owner
/// gets a mail naming the provider.
#[utoipa::path(
    operation_id = "completeLink",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = CompleteLinkRequest,
    responses(
        (status = 201, description = "Linked", body = AccountView),
        (status = 403, description = "The account is suspended", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity is linked to another account", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        ServerProblems,
    )
)]
#[post("/v1/accounts/link")]
pub async fn complete_link(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    body: JsonBody<CompleteLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let link_code = body.0.link_code;
    let account = social::complete_link(&state, &auth, link_code.expose(), &client).await?;
    Ok(HttpResponse::Created().json(AccountView::from(account)))
}

/// Unlink a provider account. Refused for the last one of a user without a
/// password: they would be left with no sign-in of their own choosing.
#[utoipa::path(
    operation_id = "unlinkAccount",
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "No such account of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is your last way to sign in", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        ParamProblems, ServerProblems,
    )
)]
#[delete("/v1/accounts/{id}")]
pub async fn unlink(
    state: web::Data<AppState>,
    auth: Caller,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<HttpResponse, ApiError> {
    social::unlink(&state, &auth, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
