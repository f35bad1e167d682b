//! Social sign-in: `/v1/oauth/…`. No token ever travels in a URL: the
//! callback hands the frontend a one-time code, exchanged at
//! `POST /v1/oauth/token`.

use super::problems::{InputProblems, RateProblems, ServerProblems};
use super::views::{sign_in_response, MfaRequired, TokenResponse};
use crate::config::ProviderKind;
use crate::domain::OpaqueToken;
use crate::error::Problem;
use crate::flows::social::{self, Callback, Purpose};
use crate::http::ApiError;
use crate::http::{JsonBody, Origin};
use crate::http::{PathParams, QueryParams};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A social sign-in provider that is enabled.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "google", "name": "Google", "kind": "oidc"}))]
pub struct ProviderView {
    /// Used in the paths: `/v1/oauth/{id}/authorize`.
    pub id: String,
    /// The name to show on a sign-in button, such as `Google`.
    pub name: String,
    /// The protocol: `oidc` (OpenID Connect) or `github` (GitHub's OAuth
    /// 2.0).
    #[schema(example = "oidc")]
    pub kind: &'static str,
}

/// The enabled social sign-in providers.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"providers": [
    {"id": "google", "name": "Google", "kind": "oidc"},
    {"id": "github", "name": "GitHub", "kind": "github"}
]}))]
pub struct ProviderList {
    /// The providers, ordered by id; empty when none is configured.
    pub providers: Vec<ProviderView>,
}

/// The enabled social sign-in providers.
#[utoipa::path(
    operation_id = "listProviders",
    tag = "oauth",
    responses((status = 200, description = "The providers", body = ProviderList))
)]
#[get("/v1/oauth/providers")]
pub async fn providers(state: web::Data<AppState>) -> web::Json<ProviderList> {
    let providers = state
        .providers
        .all()
        .map(|p| ProviderView {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: match p.kind {
                ProviderKind::Oidc => "oidc",
                ProviderKind::Github => "github",
            },
        })
        .collect();
    web::Json(ProviderList { providers })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where the browser returns with `?code=…`: exactly one of
    /// `oauth.redirect_allowlist`.
    redirect_to: String,
    /// The frontend's own PKCE challenge (S256 of a `code_verifier` it
    /// keeps); `POST /v1/oauth/token` needs the verifier.
    #[param(
        required = true,
        min_length = 43,
        max_length = 128,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    code_challenge: Option<String>,
    /// `S256`, the only method (and the default); any other value is 400.
    #[param(inline, value_type = Option<ChallengeMethod>)]
    code_challenge_method: Option<String>,
}

/// The PKCE methods accepted (for the document; the flow checks the value).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ChallengeMethod {
    S256,
}

/// The cookie that binds a sign-in flow to the browser that started it.
fn binding_cookie_name(state: &AppState) -> &'static str {
    if state.settings.public_url.starts_with("https://") {
        "__Host-portcullis-oauth"
    } else {
        "portcullis-oauth"
    }
}

fn binding_cookie(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(binding_cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(state.settings.public_url.starts_with("https://"))
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// Start a social sign-in: redirects the browser to the provider.
///
/// Authorization code flow with PKCE (S256); a fresh `state` and `nonce`
/// (256 bits each) are kept server-side for 10 minutes and consumed once, and
/// the state is also bound to this browser by an HttpOnly cookie. The
/// frontend's own `code_challenge` (S256) is required: without it, 400.
/// Limited per client (`rate_limits.oauth_authorize`).
#[utoipa::path(
    operation_id = "startSocialSignIn",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider id"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider's login page", headers(("Location" = String))),
        (status = 400, description = "`redirect_to` not allowed, missing or bad `code_challenge`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider is unreachable", body = Problem, content_type = "application/problem+json"),
        RateProblems,
        ServerProblems,
    )
)]
#[get("/v1/oauth/{provider}/authorize")]
pub async fn authorize(
    state: web::Data<AppState>,
    client: Origin,
    provider: PathParams<String>,
    query: QueryParams<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::OAuthAuthorize, &client).await?;
    let query = query.into_inner();
    social::check_start(&state, &provider, &query.redirect_to)?;
    let challenge = social::check_client_challenge(
        query.code_challenge,
        query.code_challenge_method.as_deref(),
    )?;
    let flow = social::start(
        &state,
        &provider,
        &query.redirect_to,
        Some(challenge),
        Purpose::SignIn,
    )
    .await?;
    let max_age = CookieDuration::seconds(state.settings.oauth.state_ttl_secs as i64);
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, flow.provider_url))
        .cookie(binding_cookie(&state, flow.state, max_age))
        .finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The provider's authorization code; absent when `error` is set.
    code: Option<String>,
    /// The `state` this service sent to the provider, returned unchanged; a
    /// missing, unknown or expired one is 400.
    state: Option<String>,
    /// Set by the provider when the person declined or it failed.
    error: Option<String>,
}

/// The provider's redirect back (register it as the app's redirect URI:
/// `{public_url}/v1/oauth/{provider}/callback`).
///
/// Checks the state, exchanges the code, validates the ID token, signs the
/// user in (or up), then redirects to `redirect_to` with `?code=` (one-time,
/// 60 s) or the provider's `?error=`. A link flow does not link here: it
/// redirects with `?link_code=` (one-time, 60 s), which the same user claims
/// with `POST /v1/accounts/link`.
#[utoipa::path(
    operation_id = "finishSocialSignIn",
    tag = "oauth",
    params(("provider" = String, Path, description = "Provider id"), CallbackQuery),
    responses(
        (status = 302, description = "Back to `redirect_to`", headers(("Location" = String))),
        (status = 400, description = "Missing, unknown, expired or replayed state; the provider's answer failed validation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The identity is linked to another account, or an account with this address exists and must link it itself", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider is unreachable", body = Problem, content_type = "application/problem+json"),
        ServerProblems,
    )
)]
#[get("/v1/oauth/{provider}/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    request: HttpRequest,
    provider: PathParams<String>,
    query: QueryParams<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let bound = request
        .cookie(binding_cookie_name(&state))
        .map(|c| c.value().to_string());
    let params = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
    };
    let location = social::callback(&state, &provider, params, bound).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .cookie(binding_cookie(&state, String::new(), CookieDuration::ZERO))
        .finish())
}

/// The one-time code of a social sign-in, with the PKCE verifier.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "x3JpQ0Xb8kT2mWz7LqR5vN1cYd9FhA4sE6uG0iKoPjM",
    "code_verifier": "aeUmBUttxGrfHguancILYLeWVI3h7PtHgTz_CU8BExs"
}))]
pub struct TokenRequest {
    /// The one-time `code` from the redirect (valid 60 s by default).
    code: OpaqueToken,
    /// The PKCE verifier whose S256 hash is the `code_challenge` the flow
    /// was started with. Needed: a missing or wrong one is 400 and spends
    /// the code.
    #[schema(max_length = 128)]
    code_verifier: Option<String>,
}

/// Exchange the one-time code from a social sign-in for a token pair.
#[utoipa::path(
    operation_id = "exchangeSocialCode",
    tag = "oauth",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "Signed in", body = TokenResponse),
        (status = 202, description = "The user has a second factor: complete the sign-in at `POST /v1/sessions/mfa`", body = MfaRequired),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/oauth/token")]
pub async fn token(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::OAuthToken, &client).await?;
    let TokenRequest {
        code,
        code_verifier,
    } = body.0;
    if code_verifier.as_ref().is_some_and(|v| v.len() > 128) {
        return Err(ApiError::bad_request(
            "code_verifier",
            "must be at most 128 bytes",
        ));
    }
    let outcome =
        social::exchange(&state, code.expose(), code_verifier.as_deref(), &client).await?;
    Ok(sign_in_response(outcome, state.settings.session_idle_ttl()))
}
