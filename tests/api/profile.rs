use crate::backend_tests;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

backend_tests!(
    me_returns_the_profile_without_secrets,
    patch_sets_and_clears_profile_fields,
    patch_refuses_protected_and_unknown_fields,
    patch_validates_values,
);

async fn me_returns_the_profile_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    let response = app.get("/v1/users/me", Some(&tokens.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], tokens.user_id.as_str());
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["has_password"], true);
    let text = me.to_string();
    assert!(!text.contains("argon2"), "{text}");
    assert!(me.get("password_hash").is_none());
}

async fn patch_sets_and_clears_profile_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    let response = app
        .patch_me(
            &tokens.access,
            &json!({
                "name": "  Ada L.  ",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "phone": "+44 20 7946 0000",
                "city": "London",
                "info": "Analyst of engines",
                "avatar_url": "https://cdn.example.com/ada.png"
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["name"], "Ada L.", "trimmed");
    assert_eq!(me["city"], "London");

    let me: Value = app
        .patch_me(&tokens.access, &json!({"city": null, "username": "ada_l"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["city"], Value::Null, "null clears");
    assert_eq!(me["first_name"], "Ada", "absent keeps");
    assert_eq!(me["username"], "ada_l");
    let me: Value = app.me(&tokens.access).await;
    assert_eq!(me["last_name"], "Lovelace");
    assert_eq!(me["avatar_url"], "https://cdn.example.com/ada.png");
}

async fn patch_refuses_protected_and_unknown_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email();
    let tokens = app.register(&email, PASSWORD).await;
    for body in [
        json!({"role": "SUPER-ADMIN"}),
        json!({"email": "new@example.com"}),
        json!({"email_verified": false}),
        json!({"id": "00000000-0000-0000-0000-000000000000"}),
        json!({"password_hash": "x"}),
        json!({"auth_provider": "google", "name": "x"}),
    ] {
        let (status, problem) = problem(app.patch_me(&tokens.access, &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field"));
    }
    let me: Value = app.me(&tokens.access).await;
    assert_eq!(me["role"], "VIEWER");
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["name"], Value::Null);
}

async fn patch_validates_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.register(&unique_email(), PASSWORD).await;
    for (body, field) in [
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"city": "   "}), "city"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"username": "@@"}), "username"),
        (json!({"phone": 123}), "phone"),
    ] {
        let (status, problem) = problem(app.patch_me(&tokens.access, &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let handle = format!("h{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    assert_eq!(
        app.patch_me(&tokens.access, &json!({"username": handle}))
            .await
            .status(),
        StatusCode::OK
    );
    let other = app.register(&unique_email(), PASSWORD).await;
    let (status, body) = problem(
        app.patch_me(&other.access, &json!({"username": handle}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:portcullis:problem:username-taken");
}
