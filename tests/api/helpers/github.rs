//! A stand-in for GitHub's OAuth and REST endpoints (GitHub is OAuth 2.0
//! without OpenID Connect, so the real-provider tests cannot cover it).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

const TOKEN: &str = "gho_stand_in_access_token";

#[derive(Clone)]
struct Profile {
    user: Value,
    emails: Value,
}

pub struct FakeGithub {
    pub base: String,
}

impl FakeGithub {
    /// Serves `user` at `/user` and `emails` at `/user/emails`.
    pub fn start(user: Value, emails: Value) -> Self {
        let profile = Profile { user, emails };
        let base = super::serve_stand_in(move |routes| {
            routes
                .app_data(web::Data::new(profile.clone()))
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/user", web::get().to(user_profile))
                .route("/user/emails", web::get().to(user_emails));
        });
        Self { base }
    }
}

/// GitHub asks nothing in the stand-in: straight back with a code.
async fn authorize(query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let location = format!(
        "{}?code=stand-in-code&state={}",
        query["redirect_uri"], query["state"]
    );
    HttpResponse::Found()
        .insert_header(("location", location))
        .finish()
}

async fn access_token(form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let valid = form.get("code").map(String::as_str) == Some("stand-in-code")
        && form.get("code_verifier").is_some_and(|v| v.len() >= 43);
    if !valid {
        return HttpResponse::Ok().json(json!({"error": "bad_verification_code"}));
    }
    HttpResponse::Ok().json(
        json!({"access_token": TOKEN, "token_type": "bearer", "scope": "read:user,user:email"}),
    )
}

fn authorized(request: &HttpRequest) -> bool {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

async fn user_profile(request: HttpRequest, profile: web::Data<Profile>) -> HttpResponse {
    if !authorized(&request) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(&profile.user)
}

async fn user_emails(request: HttpRequest, profile: web::Data<Profile>) -> HttpResponse {
    if !authorized(&request) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(&profile.emails)
}
