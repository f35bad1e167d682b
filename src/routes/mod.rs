//! HTTP routes, one file per resource. [`configure`] registers them all;
//! utoipa-actix-web collects each handler's `#[utoipa::path]` on the way, so
//! the OpenAPI document cannot miss a route.

pub mod accounts;
pub mod admin;
pub mod docs;
pub mod email_codes;
pub(crate) mod examples;
pub mod factors;
pub mod health;
pub mod introspect;
pub mod me;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub(crate) mod problems;
pub(crate) mod profile_patch;
pub mod sessions;
mod shapes;
pub mod users;
pub mod views;
pub mod well_known;

pub use shapes::apply as apply_request_shapes;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // The router tries routes in this order and runs a regex capture for
    // each template route (`{id}`) it passes on the way, so the literal
    // routes called most go first. Order decides nothing else here: a
    // literal path belongs to its literal route (see
    // `http::problem::literal_paths_first`) and no template matches these.
    cfg.service(sessions::current)
        .service(sessions::refresh)
        .service(introspect::introspect)
        .service(health::live)
        .service(health::ready)
        .service(well_known::jwks)
        .service(users::sign_up)
        .service(users::get_me)
        .service(users::update_me)
        .service(me::delete_me)
        .service(me::change_password)
        .service(me::change_email)
        .service(me::export)
        .service(email_codes::request_code)
        .service(email_codes::confirm)
        .service(factors::list_factors)
        .service(factors::enrol_totp)
        .service(factors::verify_factor)
        .service(factors::remove_factor)
        .service(factors::recovery_code_status)
        .service(factors::regenerate_recovery_codes)
        .service(passkeys::list_passkeys)
        .service(passkeys::registration_options)
        .service(passkeys::registration_verify)
        .service(passkeys::rename_passkey)
        .service(passkeys::remove_passkey)
        .service(passkeys::authentication_options)
        .service(passkeys::authentication_verify)
        .service(passkeys::step_up_options)
        .service(sessions::sign_in)
        .service(mfa::complete_sign_in)
        .service(mfa::step_up)
        .service(sessions::list_sessions)
        .service(sessions::revoke_many)
        // `current` before `{id}`: the literal segment must win.
        .service(sessions::sign_out)
        .service(sessions::revoke)
        .service(oauth::providers)
        .service(oauth::authorize)
        .service(oauth::callback)
        .service(oauth::token)
        .service(accounts::list_accounts)
        .service(accounts::complete_link)
        .service(accounts::link)
        .service(accounts::unlink)
        .service(admin::users::list_users)
        .service(admin::users::invite_user)
        .service(admin::users::get_user)
        .service(admin::users::update_user)
        .service(admin::users::ban)
        .service(admin::users::unban)
        .service(admin::users::delete_user)
        .service(admin::users::user_sessions)
        .service(admin::users::revoke_user_session)
        .service(admin::users::revoke_user_sessions)
        .service(admin::factors::reset_factors)
        .service(admin::passkeys::list_user_passkeys)
        .service(admin::passkeys::remove_user_passkey)
        .service(admin::audit::list_events)
        .service(admin::service_clients::create)
        .service(admin::service_clients::list)
        .service(admin::service_clients::delete_client)
        .service(admin::keys::rotate)
        .service(admin::webhooks::create)
        .service(admin::webhooks::list)
        .service(admin::webhooks::get_one)
        .service(admin::webhooks::update)
        .service(admin::webhooks::delete_one)
        .service(admin::webhooks::rotate_secret)
        .service(admin::webhooks::test)
        .service(admin::webhooks::deliveries)
        .service(admin::webhooks::retry)
        .service(well_known::openid_configuration)
        .service(docs::openapi_json)
        .service(docs::page)
        .service(docs::scalar_js);
}
