//! `users`: sign-up and the signed-in user's own profile.

use super::problems::{AuthProblems, InputProblems, RateProblems, ServerProblems};
use super::profile_patch::profile_patch;
use super::views::{Accepted, UserView};
use crate::domain::{Email, Password, ProfileText, Username};
use crate::error::Problem;
use crate::flows::{profile, registration};
use crate::http::ApiError;
use crate::http::{Caller, JsonBody, Origin};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

/// A sign-up: the address and password, optionally a username and names.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com",
    "password": "correct horse battery staple",
    "username": "ada",
    "first_name": "Ada",
    "last_name": "Lovelace"
}))]
pub struct SignUpRequest {
    /// The address to verify; the code and link go there.
    #[schema(example = "ada@example.com")]
    email: Email,
    /// 8 to 128 characters; common passwords and ones built from the email
    /// address or username are refused.
    password: Password,
    /// 3 to 32 characters of `a-z 0-9 . _ -`, stored in lower case; absent
    /// or `null`: no username.
    #[schema(example = "ada")]
    username: Option<Username>,
    /// Given name; absent or `null`: not set.
    #[schema(value_type = Option<ProfileText>)]
    first_name: Option<ProfileText>,
    /// Family name; absent or `null`: not set.
    #[schema(value_type = Option<ProfileText>)]
    last_name: Option<ProfileText>,
}

/// Sign up with an email address and a password.
///
/// Creates a pending registration (never a user) and mails an 8-digit code
/// and a link to the address; confirm either at
/// `POST /v1/email-verification-codes/confirm`. The answer is the same 202
/// whether or not the address is taken; the owner of a taken address gets a
/// notice instead. Signing up again for a live pending registration changes
/// nothing: that registration's code is mailed again, so whoever signs up
/// second never decides the password. At most one mail per address and
/// action per `mail_cooldown_secs`, and `rate_limits.mail_per_address`
/// sign-ups and code requests per address and client (429 beyond, whether or
/// not the address has an account). A taken username is 409
/// `username-taken`: usernames are public handles, so saying one is taken
/// reveals nothing private (the address never is).
#[utoipa::path(
    operation_id = "signUp",
    tag = "users",
    request_body = SignUpRequest,
    responses(
        (status = 202, description = "Accepted; check the mailbox", body = Accepted),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/users")]
pub async fn sign_up(
    state: web::Data<AppState>,
    client: Origin,
    body: JsonBody<SignUpRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::SignUp, &client).await?;
    let SignUpRequest {
        email,
        password,
        username,
        first_name,
        last_name,
    } = body.0;
    registration::sign_up(
        &state,
        registration::SignUp {
            email,
            password,
            username,
            first_name,
            last_name,
        },
        &client,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(Accepted::mail_on_its_way()))
}

/// The signed-in user.
#[utoipa::path(
    operation_id = "getMe",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "The signed-in user", body = UserView), AuthProblems, ServerProblems)
)]
#[get("/v1/users/me")]
pub async fn get_me(auth: Caller) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(auth.user.into()))
}

profile_patch! {
    /// Profile fields only. A field that is absent keeps its value, `null`
    /// clears it. Anything else (`email`, `role`, `email_verified`, …) is refused.
    #[schema(example = json!({
        "name": "Ada Lovelace",
        "city": "London",
        "phone": null,
        "locale": "en"
    }))]
    pub struct UpdateProfileRequest {}
}

/// Update the signed-in user's profile.
#[utoipa::path(
    operation_id = "updateMe",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        InputProblems,
        AuthProblems,
        ServerProblems,
    )
)]
#[patch("/v1/users/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    auth: Caller,
    body: JsonBody<UpdateProfileRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    let mut body = body.0;
    let update = body.take_profile();
    Ok(web::Json(
        profile::update(&state, &auth, &update).await?.into(),
    ))
}
